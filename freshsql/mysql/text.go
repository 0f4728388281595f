package mysql

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// lexInfo is what the lexical pre-checks found in a text.
type lexInfo struct {
	// precise is false when the text holds an executable comment (/*! ... */
	// or /*M! ... */). The parser always reads such a comment's content, but
	// the server skips it when its version number is above the server's (and
	// MySQL skips /*M! ... */ entirely), so the text may do more than the
	// parser saw: no condition and no written value is reported for it.
	precise bool
}

// checkText runs the checks that the parser cannot: places where it would
// read the text differently from the server in a way that could hide a table
// or a condition from the analyser.
func checkText(sql string) (lexInfo, error) {
	info := lexInfo{precise: true}
	lower := strings.ToLower(sql)
	for _, prefix := range []string{"/*!", "/*m!"} {
		for rest := lower; ; {
			i := strings.Index(rest, prefix)
			if i < 0 {
				break
			}
			info.precise = false
			rest = rest[i+len(prefix):]
			digits := 0
			for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
				digits++
			}
			// The parser takes a comment with 1 to 4 version digits for a plain
			// comment; the server may execute it.
			if digits > 0 && digits < 5 {
				return info, errors.New("freshsql/mysql: executable comment with a short version number")
			}
		}
	}
	tkn := sqlparser.NewStringTokenizer(sql)
	for range len(sql) + 1 {
		typ, val := tkn.Scan()
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		// The server reads "--" as a comment only when a space or a control
		// character follows it; the parser reads any "--" as one. "1--1" is 2
		// to the server and 1 to the parser, which could hide a whole clause.
		if typ == sqlparser.COMMENT && len(val) > 2 && val[0] == '-' && val[1] == '-' && val[2] > ' ' {
			return info, errors.New(`freshsql/mysql: "--" not followed by a space is not a comment to the server`)
		}
	}
	return info, nil
}

// paramsReliable reports whether the "?" placeholders of one statement are
// numbered as the server numbers them: the parser numbers the "?"s inside an
// executable comment from 1 again, so the check is that the statement's
// parameters are exactly :v1 ... :vN, each once, for the N "?" tokens of its
// text.
func paramsReliable(st sqlparser.Statement, text string) bool {
	n := 0
	tkn := sqlparser.NewStringTokenizer(text)
	for range len(text) + 1 {
		typ, _ := tkn.Scan()
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		if typ == sqlparser.VALUE_ARG {
			n++
		}
	}
	seen := make([]bool, n+1)
	ok := true
	count := 0
	walkNodes(reflect.ValueOf(st), 0, func(node sqlparser.SQLNode) bool {
		v, isVal := node.(*sqlparser.SQLVal)
		if !isVal || v.Type != sqlparser.ValArg {
			return true
		}
		count++
		i, good := paramIndex(v.Val)
		if !good || i > n || seen[i] {
			ok = false
			return true
		}
		seen[i] = true
		return true
	})
	return ok && count == n
}

// paramIndex parses a parser bind-variable name ":vN".
func paramIndex(b []byte) (int, bool) {
	s := string(b)
	if !strings.HasPrefix(s, ":v") {
		return 0, false
	}
	i, err := strconv.Atoi(s[2:])
	if err != nil || i < 1 {
		return 0, false
	}
	return i, true
}
