package mysql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// function classifies a function call. A call to a function the analyser does
// not know to be pure makes the text Uncacheable and Unknown: it may be a
// stored function, which may write.
func (s *state) function(f *sqlparser.FuncExpr) {
	name := strings.ToLower(f.Name.String())
	if !f.Qualifier.IsEmpty() {
		if s.a.pure[name] {
			return
		}
		s.unknown("stored function %s.%s may write", f.Qualifier.String(), f.Name.String())
		return
	}
	switch {
	case pureFunctions[name] || s.a.pure[name]:
	case name == "nextval":
		// NEXTVAL(s) changes the sequence table s.
		s.uncacheable("NEXTVAL() is not deterministic")
		if t, ok := sequenceArg(f); ok {
			s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpUpdate, Table: t})
		} else {
			s.unknown("NEXTVAL() of an unknown sequence")
		}
	case volatileFunctions[name]:
		s.uncacheable("%s() is not deterministic", name)
	case writingFunctions[name]:
		s.unknown("%s() has side effects", name)
	default:
		s.unknown("function %s() is not known to be pure", name)
	}
}

// sequenceArg returns the sequence a NEXTVAL call names.
func sequenceArg(f *sqlparser.FuncExpr) (string, bool) {
	if len(f.Exprs) != 1 {
		return "", false
	}
	ae, ok := f.Exprs[0].(*sqlparser.AliasedExpr)
	if !ok {
		return "", false
	}
	c, ok := ae.Expr.(*sqlparser.ColName)
	if !ok || c.Name.IsEmpty() {
		return "", false
	}
	return c.Name.String(), true
}

// pureFunctions are built-in functions whose result depends only on their
// arguments (and on rows, for aggregates and window functions). DATE_FORMAT,
// DAYNAME and MONTHNAME also depend on the session's lc_time_names, which
// freshsql assumes to be the same for every connection of a pool.
var pureFunctions = set(
	// Control flow and comparison.
	"coalesce", "if", "ifnull", "nullif", "isnull", "nvl", "nvl2", "greatest", "least", "interval",
	"strcmp", "decode_oracle",
	// Strings.
	"ascii", "bin", "bit_length", "char_length", "character_length", "concat", "concat_ws", "elt",
	"export_set", "field", "find_in_set", "format", "from_base64", "hex", "insert", "instr", "lcase",
	"left", "length", "lengthb", "locate", "lower", "lpad", "ltrim", "make_set", "mid", "oct",
	"octet_length", "ord", "position", "quote", "regexp_instr", "regexp_like", "regexp_replace",
	"regexp_substr", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "soundex", "space",
	"substr", "substring", "substring_index", "to_base64", "trim", "ucase", "unhex", "upper",
	"weight_string", "char", "sformat", "natural_sort_key", "collation", "charset", "coercibility",
	// Numbers.
	"abs", "acos", "asin", "atan", "atan2", "ceil", "ceiling", "conv", "cos", "cot", "crc32",
	"degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
	"round", "sign", "sin", "sqrt", "tan", "truncate", "bit_count",
	// Dates and times, none of which reads the clock or the time zone.
	"adddate", "addtime", "date", "date_add", "date_sub", "datediff", "date_format", "day",
	"dayname", "dayofmonth", "dayofweek", "dayofyear", "extract", "from_days", "get_format", "hour",
	"last_day", "makedate", "maketime", "microsecond", "minute", "month", "monthname",
	"period_add", "period_diff", "quarter", "sec_to_time", "second", "str_to_date", "subdate",
	"subtime", "time", "time_format", "time_to_sec", "timediff", "timestamp", "timestampadd",
	"timestampdiff", "to_days", "to_seconds", "week", "weekday", "weekofyear", "year", "yearweek",
	// Aggregates and window functions.
	"avg", "bit_and", "bit_or", "bit_xor", "count", "group_concat", "json_arrayagg",
	"json_objectagg", "max", "min", "std", "stddev", "stddev_pop", "stddev_samp", "sum",
	"var_pop", "var_samp", "variance", "any_value", "row_number", "rank", "dense_rank",
	"percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
	"median", "percentile_cont", "percentile_disc",
	// JSON.
	"json_array", "json_array_append", "json_array_insert", "json_contains", "json_contains_path",
	"json_depth", "json_extract", "json_insert", "json_keys", "json_length", "json_merge",
	"json_merge_patch", "json_merge_preserve", "json_object", "json_overlaps", "json_pretty",
	"json_quote", "json_remove", "json_replace", "json_search", "json_set", "json_type",
	"json_unquote", "json_valid", "json_value", "json_schema_valid", "json_storage_size",
	"json_compact", "json_detailed", "json_loose", "json_exists", "json_query", "json_normalize",
	"json_equals", "json_array_intersect", "json_object_filter_keys", "json_object_to_array",
	// MariaDB dynamic columns.
	"column_create", "column_get", "column_add", "column_delete", "column_exists", "column_list",
	"column_json", "column_check",
	// Conversions, hashes and addresses.
	"cast", "convert", "binary", "inet_aton", "inet_ntoa", "inet6_aton", "inet6_ntoa", "is_ipv4",
	"is_ipv6", "is_ipv4_compat", "is_ipv4_mapped", "uuid_to_bin", "bin_to_uuid", "is_uuid", "md5",
	"sha", "sha1", "sha2", "compress", "uncompress", "uncompressed_length", "default", "values",
)

// volatileFunctions are built-in functions without side effects whose result
// is not a function of their arguments: the clock, randomness, the session.
var volatileFunctions = set(
	"now", "current_timestamp", "localtime", "localtimestamp", "curdate", "current_date",
	"curtime", "current_time", "sysdate", "unix_timestamp", "from_unixtime", "convert_tz",
	"utc_date", "utc_time", "utc_timestamp", "rand", "random_bytes", "uuid", "uuid_short",
	"sys_guid", "connection_id", "last_insert_id", "row_count", "found_rows", "user",
	"current_user", "session_user", "system_user", "current_role", "database", "schema",
	"version", "lastval", "sleep", "benchmark", "load_file", "is_free_lock", "is_used_lock",
	"icu_version", "roles_graphml",
)

// writingFunctions are built-in functions with side effects.
var writingFunctions = set(
	"setval", "get_lock", "release_lock", "release_all_locks", "master_pos_wait",
	"source_pos_wait", "master_gtid_wait", "wait_for_executed_gtid_set",
	"wait_until_sql_thread_after_gtids",
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
