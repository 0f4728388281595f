package postgres

import "strings"

// funcClass is what the analyser knows about a function called by name.
type funcClass uint8

const (
	// funcUnknown is a function on no list: it may be user-defined and may
	// write, so the text is Unknown and Uncacheable.
	funcUnknown funcClass = iota
	// funcPure is deterministic for given arguments (PostgreSQL's immutable or
	// stable functions whose result depends only on the arguments and the
	// session settings, which the package assumes equal on every connection)
	// and has no side effect.
	funcPure
	// funcVolatile has no effect on table data but its result varies between
	// calls or sessions: the text is Uncacheable.
	funcVolatile
	// funcSequence advances or sets a sequence (nextval, setval): the text is
	// Uncacheable and writes the sequence named by its first argument.
	funcSequence
)

// pureFuncs lists built-in PostgreSQL functions that are deterministic for
// given arguments and change nothing. Names are as PostgreSQL folds them; the
// SQL-syntax forms the grammar turns into calls (EXTRACT, SUBSTRING ... FROM,
// TRIM, POSITION, OVERLAY, AT TIME ZONE, OVERLAPS, IS NORMALIZED) are included.
var pureFuncs = setOf(
	// Strings.
	"lower", "upper", "initcap", "length", "char_length", "character_length",
	"octet_length", "bit_length", "substr", "substring", "btrim", "ltrim",
	"rtrim", "trim", "lpad", "rpad", "replace", "concat", "concat_ws", "format",
	"left", "right", "reverse", "repeat", "position", "strpos", "split_part",
	"starts_with", "string_to_array", "array_to_string", "regexp_replace",
	"regexp_match", "regexp_matches", "regexp_split_to_array",
	"regexp_split_to_table", "regexp_like", "regexp_count", "regexp_instr",
	"regexp_substr", "translate", "ascii", "chr", "md5", "sha224", "sha256",
	"sha384", "sha512", "encode", "decode", "quote_ident", "quote_literal",
	"quote_nullable", "to_hex", "overlay", "normalize", "is_normalized",
	"unistr", "convert_from", "convert_to", "to_ascii", "string_to_table",
	// Numbers.
	"abs", "round", "floor", "ceil", "ceiling", "trunc", "mod", "power", "pow",
	"sqrt", "cbrt", "exp", "ln", "log", "log10", "sign", "div", "pi", "degrees",
	"radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
	"cosh", "tanh", "width_bucket", "gcd", "lcm", "factorial", "scale",
	"min_scale", "trim_scale",
	// Conditionals.
	"coalesce", "nullif", "greatest", "least", "num_nulls", "num_nonnulls",
	// Aggregates.
	"count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every",
	"string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg",
	"jsonb_object_agg", "json_agg_strict", "jsonb_agg_strict",
	"json_object_agg_strict", "jsonb_object_agg_strict",
	"json_object_agg_unique", "jsonb_object_agg_unique",
	"json_object_agg_unique_strict", "jsonb_object_agg_unique_strict",
	"stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
	"corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count",
	"regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
	"regr_syy", "percentile_cont", "percentile_disc", "mode", "bit_and",
	"bit_or", "bit_xor", "xmlagg", "any_value", "range_agg",
	"range_intersect_agg",
	// Window functions.
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value",
	// JSON.
	"json_build_object", "jsonb_build_object", "json_build_array",
	"jsonb_build_array", "to_json", "to_jsonb", "json_object", "jsonb_object",
	"json_array_length", "jsonb_array_length", "json_extract_path",
	"jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text",
	"json_typeof", "jsonb_typeof", "jsonb_set", "jsonb_set_lax", "jsonb_insert",
	"jsonb_pretty", "jsonb_strip_nulls", "json_strip_nulls", "jsonb_path_query",
	"jsonb_path_query_array", "jsonb_path_query_first", "jsonb_path_exists",
	"jsonb_path_match", "json_each", "jsonb_each", "json_each_text",
	"jsonb_each_text", "json_array_elements", "jsonb_array_elements",
	"json_array_elements_text", "jsonb_array_elements_text", "json_object_keys",
	"jsonb_object_keys", "json_populate_record", "jsonb_populate_record",
	"json_populate_recordset", "jsonb_populate_recordset", "json_to_record",
	"jsonb_to_record", "json_to_recordset", "jsonb_to_recordset", "row_to_json",
	"array_to_json", "jsonb_exists", "jsonb_exists_any", "jsonb_exists_all",
	"jsonb_contains", "jsonb_contained", "json_scalar", "json_serialize",
	// Arrays and set-returning helpers.
	"array_length", "array_lower", "array_upper", "array_dims", "array_ndims",
	"cardinality", "array_position", "array_positions", "array_append",
	"array_prepend", "array_cat", "array_remove", "array_replace", "array_fill",
	"trim_array", "unnest", "generate_series", "generate_subscripts",
	// Dates and times.
	"date_trunc", "date_part", "extract", "date_bin", "make_date", "make_time",
	"make_timestamp", "make_timestamptz", "make_interval", "justify_days",
	"justify_hours", "justify_interval", "to_char", "to_date", "to_timestamp",
	"to_number", "isfinite", "timezone", "overlaps", "date_add", "age",
	"date_subtract",
	// Text search.
	"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery",
	"websearch_to_tsquery", "ts_rank", "ts_rank_cd", "ts_headline", "setweight",
	"strip", "tsvector_to_array", "array_to_tsvector", "numnode", "querytree",
	// Ranges.
	"lower_inc", "upper_inc", "lower_inf", "upper_inf", "isempty", "range_merge",
	"int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange",
	// Network addresses.
	"host", "masklen", "network", "family", "broadcast", "netmask", "hostmask",
	"set_masklen", "inet_same_family", "inet_merge", "abbrev",
	// XML.
	"xpath", "xpath_exists", "xmlexists",
	// Function-style casts and type helpers.
	"text", "int2", "int4", "int8", "float4", "float8", "numeric", "bool",
	"date", "time", "timestamp", "timestamptz", "interval", "varchar", "bpchar",
	"name", "uuid", "inet", "cidr", "json", "jsonb", "pg_typeof", "format_type",
	"current_database",
)

// volatileFuncs lists built-in functions that change no table data but whose
// result is not a function of their arguments: time, randomness, the session,
// sequences' session state, advisory locks, notifications, the server's state.
var volatileFuncs = setOf(
	"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
	"timeofday", "random", "random_normal", "setseed", "gen_random_uuid",
	"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v3",
	"uuid_generate_v4", "uuid_generate_v5", "uuidv4", "uuidv7", "currval",
	"lastval", "txid_current", "txid_current_if_assigned", "txid_current_snapshot",
	"pg_current_xact_id", "pg_current_xact_id_if_assigned",
	"pg_current_snapshot", "pg_backend_pid", "inet_client_addr",
	"inet_client_port", "inet_server_addr", "inet_server_port", "version",
	"current_setting", "set_config", "current_user", "session_user", "user",
	"current_role", "current_schema", "current_schemas", "current_catalog",
	"pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_advisory_lock",
	"pg_advisory_lock_shared", "pg_advisory_unlock", "pg_advisory_unlock_shared",
	"pg_advisory_unlock_all", "pg_advisory_xact_lock",
	"pg_advisory_xact_lock_shared", "pg_try_advisory_lock",
	"pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock",
	"pg_try_advisory_xact_lock_shared", "pg_notify", "pg_postmaster_start_time",
	"pg_conf_load_time", "pg_is_in_recovery", "pg_current_wal_lsn",
	"pg_last_wal_replay_lsn", "to_regclass", "to_regtype", "to_regproc",
	"has_table_privilege", "has_column_privilege", "has_schema_privilege",
	"has_database_privilege", "has_function_privilege", "pg_has_role",
	"pg_table_is_visible", "pg_relation_size", "pg_table_size",
	"pg_total_relation_size", "pg_indexes_size", "pg_database_size",
	"pg_size_pretty", "pg_column_size", "pg_get_viewdef", "pg_get_expr",
	"pg_get_indexdef", "pg_get_constraintdef", "pg_get_functiondef",
	"pg_get_triggerdef", "pg_get_serial_sequence", "obj_description",
	"col_description", "shobj_description", "array_shuffle", "array_sample",
	"system_user", "pg_collation_for", "pg_jit_available",
	"jsonb_path_query_tz", "jsonb_path_query_array_tz",
	"jsonb_path_query_first_tz", "jsonb_path_exists_tz", "jsonb_path_match_tz",
)

// sequenceFuncs change a sequence.
var sequenceFuncs = setOf("nextval", "setval")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// classify says what a call of the function named by the folded, possibly
// qualified name parts is. A name qualified by a schema other than pg_catalog
// is a user's function unless Options.PureFunctions lists it (an entry
// without a dot matches the name in every schema, one with a dot only that
// qualified name).
func (a *Analyzer) classify(parts []string) funcClass {
	if len(parts) == 0 {
		return funcUnknown
	}
	full := strings.Join(parts, ".")
	last := parts[len(parts)-1]
	if a.pure[full] || a.pure[last] {
		return funcPure
	}
	if len(parts) > 2 || (len(parts) == 2 && parts[0] != "pg_catalog") {
		return funcUnknown
	}
	switch {
	case pureFuncs[last]:
		return funcPure
	case volatileFuncs[last]:
		return funcVolatile
	case sequenceFuncs[last]:
		return funcSequence
	}
	return funcUnknown
}
