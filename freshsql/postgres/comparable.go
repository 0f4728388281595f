package postgres

import (
	"github.com/freshcache/fresh/freshsql"
	"math"
	"strings"
	"time"
)

// Comparable reports whether x may serve as a dependency value
// (freshsql.ValueComparer): whether PostgreSQL's = holding between x and a
// stored value of a column ReadCatalog does not list as loose implies that
// their canonical forms are equal.
func (a *Analyzer) Comparable(x any) bool { return comparableValue(x) }

// comparableValue is Comparable, given that ReadCatalog lists
// the columns of every type but integers, boolean, uuid, numeric without a
// scale, deterministic text and varchar, and enums as loose: a text (or
// bytes, which pgx sends as text to those types) is not a dependency value
// when one of those types reads it in another spelling than fresh does (see
// pgOtherSpelling). A float64 is not unless it holds an integer: pgx
// truncates one bound to an integer column (1.5 is 1 there).
func comparableValue(x any) bool {
	switch v := x.(type) {
	case int64, bool, time.Time:
		return true
	case float64:
		return v == math.Trunc(v)
	case string:
		return !pgOtherSpelling(v)
	case []byte:
		return !pgOtherSpelling(string(v))
	default:
		return false
	}
}

// pgOtherSpelling reports whether s is a text that integer, numeric,
// boolean, uuid or varchar(n) read as a value whose canonical form is not
// s's:
//
//   - leading or trailing white space, which the first four ignore and
//     varchar(n) cuts beyond n;
//   - a number other than fresh's plain decimal: a sign '+', an exponent, a
//     point without digits on one side, '_' between digits or a 0x, 0o or
//     0b prefix (PostgreSQL 16), NaN, Infinity or inf in any case;
//   - a boolean other than t, f, true, false in any case, 1 and 0: yes,
//     no, on, off, T, F, and the unique prefixes of all of those;
//   - a UUID other than 8-4-4-4-12 hex digits: braces, no hyphens, or a
//     hyphen after another group of four digits.
func pgOtherSpelling(s string) bool {
	t := strings.Trim(s, " \t\n\v\f\r")
	if t != s {
		return true
	}
	l := strings.ToLower(t)
	switch {
	case pgNumberSyntax(l):
		return !plainDecimal(s)
	case pgBoolSyntax(l):
		return s != "t" && s != "f" && l != "true" && l != "false"
	case pgUUIDSyntax(l):
		return !uuidText(s)
	}
	return false
}

// pgNumberSyntax reports whether the lower-cased t is a number as integer,
// numeric or double precision read one (a superset).
func pgNumberSyntax(t string) bool {
	t = strings.TrimLeft(t, "+-")
	switch t {
	case "nan", "inf", "infinity":
		return true
	}
	if len(t) > 2 && t[0] == '0' && strings.ContainsRune("xob", rune(t[1])) {
		return strings.Trim(t[2:], "0123456789abcdef_") == ""
	}
	mant, exp, hasExp := strings.Cut(t, "e")
	if hasExp {
		exp = strings.TrimLeft(exp, "+-")
		if exp == "" || strings.Trim(exp, "0123456789_") != "" {
			return false
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	return strings.Trim(intPart+frac, "0123456789_") == "" && strings.Trim(intPart+frac, "_") != ""
}

// plainDecimal reports whether s is what fresh reads as a number: an
// optional '-', digits, and optionally '.' and digits.
func plainDecimal(s string) bool {
	intPart, frac, hasPoint := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	digits := func(x string) bool { return x != "" && strings.Trim(x, "0123456789") == "" }
	return digits(intPart) && (!hasPoint || digits(frac))
}

// pgBoolSyntax reports whether the lower-cased t is a boolean as boolean
// reads one: a prefix of true, false, yes, no, on or off, or 1 or 0.
func pgBoolSyntax(t string) bool {
	if t == "" {
		return false
	}
	for _, w := range []string{"true", "false", "yes", "no", "on", "off", "1", "0"} {
		if strings.HasPrefix(w, t) {
			return true
		}
	}
	return false
}

// pgUUIDSyntax reports whether the lower-cased t is a UUID as uuid reads
// one: 32 hex digits, hyphens among them, optionally in braces (a superset).
func pgUUIDSyntax(t string) bool {
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		t = t[1 : len(t)-1]
	}
	hex := strings.ReplaceAll(t, "-", "")
	return len(hex) == 32 && strings.Trim(hex, "0123456789abcdef") == ""
}

// uuidText reports whether s is a UUID in the 8-4-4-4-12 form fresh reads.
func uuidText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
			return false
		}
	}
	return true
}

var _ freshsql.ValueComparer = (*Analyzer)(nil)
