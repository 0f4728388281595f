package sqlite

import (
	"github.com/freshcache/fresh/freshsql"
	"strconv"
	"strings"
)

// Comparable reports whether x may serve as a dependency value
// (freshsql.ValueComparer): whether SQLite's = holding between x and a stored
// value implies that their canonical forms are equal, given that ReadCatalog
// lists columns of REAL affinity and of collations other than BINARY as loose.
func (a *Analyzer) Comparable(x any) bool { return comparableValue(x) }

// comparableValue is Comparable.
//
//   - A time.Time is not: drivers bind it as text of their own format
//     (modernc.org/sqlite writes time.Time.String by default, which fresh does
//     not read as a time, or Unix seconds with _time_integer_format).
//   - A string is not when a column of INTEGER or NUMERIC affinity would
//     convert it to a number other than the one its canonical form holds; see
//     sqliteNumberText.
func comparableValue(x any) bool {
	switch v := x.(type) {
	case int64, float64, bool, []byte:
		return true
	case string:
		return !sqliteNumberText(v)
	default:
		return false
	}
}

// sqliteNumberText reports whether s is a text that SQLite converts to a
// number in a column of numeric affinity (after trimming spaces: an optional
// sign, digits with an optional point, or a point and digits, then an
// optional exponent) and that fresh does not read as that same number. The
// texts that both read alike are fresh's plain decimals (an optional '-',
// digits, optionally '.' and digits) that
//
//   - without a point, fit an int64 (SQLite turns a larger integer into a
//     float, fresh keeps it exact up to 2^64-1);
//   - with a point and only zeros after it, stay within 2^53 (SQLite reads
//     "9007199254740993.0" as a float, then stores the integer
//     9007199254740992; fresh reads the integer exactly);
//   - have at most 17 significant digits (SQLite's text-to-float conversion
//     is not correctly rounded beyond 19: "0.37158142852881828616").
func sqliteNumberText(s string) bool {
	t := strings.Trim(s, " \t\n\v\f\r")
	if !sqliteNumberSyntax(t) {
		return false
	}
	if t != s {
		return true
	}
	digits := strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(digits, ".")
	if intPart == "" || hasPoint && frac == "" || strings.ContainsAny(digits, "+eE") {
		return true
	}
	if !hasPoint {
		_, err := strconv.ParseInt(s, 10, 64)
		return err != nil
	}
	if strings.Trim(frac, "0") == "" {
		n, err := strconv.ParseInt(intPart, 10, 64)
		return err != nil || n > 1<<53
	}
	sig := strings.Trim(strings.TrimLeft(intPart, "0")+frac, "0")
	if strings.TrimLeft(intPart, "0") == "" {
		sig = strings.Trim(frac, "0")
	}
	return len(sig) > 17
}

// sqliteNumberSyntax reports whether t is a decimal number as SQLite reads
// one: [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits].
func sqliteNumberSyntax(t string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(t) && '0' <= t[i] && t[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	n := digits()
	if i < len(t) && t[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(t)
}

var _ freshsql.ValueComparer = (*Analyzer)(nil)
