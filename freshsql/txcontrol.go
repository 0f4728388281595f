package freshsql

import "strings"

// txControl is what a session statement does to the connection's transaction.
type txControl uint8

const (
	txNone txControl = iota
	txBegin
	txCommit
	txRollback
)

// txControlOf reads the leading keywords of a statement the analyser called a
// session statement: BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK or ABORT
// (ROLLBACK TO a savepoint leaves the transaction open). It only looks at
// keywords, after comments and spaces; anything else is txNone.
func txControlOf(sql string) txControl {
	first, rest := keyword(sql)
	switch first {
	case "BEGIN":
		return txBegin
	case "START":
		if second, _ := keyword(rest); second == "TRANSACTION" {
			return txBegin
		}
	case "COMMIT", "END":
		return txCommit
	case "ROLLBACK", "ABORT":
		second, rest := keyword(rest)
		if second == "WORK" || second == "TRANSACTION" {
			second, _ = keyword(rest)
		}
		if second == "TO" {
			return txNone
		}
		return txRollback
	}
	return txNone
}

// keyword returns the first word of s in upper case, after spaces and SQL
// comments, and what follows it.
func keyword(s string) (string, string) {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f;")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return "", ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return "", ""
			}
			s = s[i+4:]
		default:
			i := 0
			for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] == '_') {
				i++
			}
			return strings.ToUpper(s[:i]), s[i:]
		}
	}
}
