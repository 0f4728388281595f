package sqlite

import (
	"strings"

	"github.com/sqlc-dev/meyer/ast"
)

// deterministic lists the built-in SQLite functions (core, aggregate, window,
// math and JSON) whose result depends only on their arguments. Date and time
// functions are in dateTime instead.
var deterministic = setOf(
	// core scalar functions
	"abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex",
	"if", "ifnull", "iif", "instr", "length", "like", "likelihood", "likely",
	"lower", "ltrim", "max", "min", "nullif", "octet_length", "printf", "quote",
	"replace", "round", "rtrim", "sign", "soundex", "substr", "substring",
	"trim", "typeof", "unhex", "unicode", "unlikely", "upper", "zeroblob",
	"subtype", "unistr", "unistr_quote",
	// aggregate functions
	"avg", "count", "group_concat", "string_agg", "sum", "total", "median",
	"percentile", "percentile_cont", "percentile_disc",
	// window functions
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value",
	// math functions
	"acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil",
	"ceiling", "cos", "cosh", "degrees", "exp", "floor", "ln", "log", "log10",
	"log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt",
	"tan", "tanh", "trunc",
	// JSON functions
	"json", "jsonb", "json_array", "jsonb_array", "json_array_length",
	"json_error_position", "json_extract", "jsonb_extract", "json_insert",
	"jsonb_insert", "json_object", "jsonb_object", "json_patch", "jsonb_patch",
	"json_pretty", "json_remove", "jsonb_remove", "json_replace",
	"jsonb_replace", "json_set", "jsonb_set", "json_type", "json_valid",
	"json_quote", "json_group_array", "jsonb_group_array", "json_group_object",
	"jsonb_group_object",
)

// dateTime lists the date and time functions: deterministic unless given
// 'now' (or no time value, which means 'now').
var dateTime = setOf("date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff")

// sideEffects lists functions that change the database or the connection.
var sideEffects = setOf("load_extension")

// tableFuncs lists the built-in deterministic table-valued functions.
var tableFuncs = setOf("json_each", "json_tree", "jsonb_each", "jsonb_tree")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// funcCall checks a call of the (folded) function name. Any function that is
// not known to be deterministic makes the text Uncacheable; a date/time
// function is deterministic only when every argument is a literal other than
// 'now' (a column or a parameter could hold 'now').
func (s *state) funcCall(name string, args []ast.Expr) {
	switch {
	case sideEffects[name]:
		s.unknown("calls %s, which may change the database", name)
	case s.a.pure[name], deterministic[name]:
	case dateTime[name]:
		if !literalTime(args) {
			s.uncacheable("calls %s with 'now' or a non-literal argument", name)
		}
	default:
		s.uncacheable("calls %s, which is not known to be deterministic", name)
	}
}

// literalTime reports whether the arguments of a date/time function are all
// literals and none is 'now'.
func literalTime(args []ast.Expr) bool {
	if len(args) == 0 {
		return false
	}
	for _, e := range args {
		v, isNull, ok := valueOf(e)
		if !ok || (!isNull && v.Param != 0) {
			return false
		}
		if str, ok := v.Literal.(string); ok && strings.EqualFold(strings.TrimSpace(str), "now") {
			return false
		}
	}
	return true
}

// likeOp checks the function behind a LIKE, GLOB, REGEXP or MATCH operator:
// REGEXP and MATCH call functions SQLite does not define.
func (s *state) likeOp(op string) {
	switch op {
	case "like", "glob":
	default:
		if !s.a.pure[op] {
			s.uncacheable("uses %s, which is not known to be deterministic", strings.ToUpper(op))
		}
	}
}

// tableFunc checks a table-valued function in a FROM list.
func (s *state) tableFunc(name string) {
	switch {
	case strings.HasPrefix(name, "pragma_"):
		s.uncacheable("reads the pragma table %s", name)
	case tableFuncs[name], s.a.pure[name]:
	default:
		s.uncacheable("reads the table-valued function %s, which is not known to be deterministic", name)
	}
}
