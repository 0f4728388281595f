package sqlite

import "github.com/sqlc-dev/meyer/ast"

// pragmaSafe lists the pragmas that, even when given a value, change neither
// the data, nor the schema, nor the result of a query.
var pragmaSafe = setOf(
	"analysis_limit", "application_id", "auto_vacuum", "automatic_index",
	"busy_timeout", "cache_size", "cache_spill", "cell_size_check",
	"checkpoint_fullfsync", "defer_foreign_keys", "encoding",
	"foreign_key_check", "foreign_key_list", "foreign_keys", "fullfsync",
	"hard_heap_limit", "ignore_check_constraints", "incremental_vacuum",
	"index_info", "index_list", "index_xinfo", "integrity_check",
	"journal_mode", "journal_size_limit", "locking_mode", "max_page_count",
	"mmap_size", "optimize", "page_size", "query_only", "quick_check",
	"read_uncommitted", "recursive_triggers", "secure_delete",
	"soft_heap_limit", "synchronous", "table_info", "table_list",
	"table_xinfo", "temp_store", "threads", "trusted_schema", "user_version",
	"wal_autocheckpoint", "wal_checkpoint",
)

// sessionStmt analyses a statement that is not a query, a write or DDL, and
// reports whether it is a session statement (changes neither data nor schema).
func (s *state) sessionStmt(st ast.Stmt) bool {
	switch n := st.(type) {
	case *ast.BeginStmt, *ast.CommitStmt, *ast.RollbackStmt, *ast.SavepointStmt,
		*ast.ReleaseStmt, *ast.AnalyzeStmt, *ast.ReindexStmt, *ast.ExplainStmt:
		return true
	case *ast.VacuumStmt:
		if n.Into != nil {
			return true
		}
		s.unknown("VACUUM may change the rowids of tables without an INTEGER PRIMARY KEY")
	case *ast.PragmaStmt:
		return s.pragma(n)
	case *ast.AttachStmt:
		s.unknown("ATTACH is not analysed")
	case *ast.DetachStmt:
		s.unknown("DETACH is not analysed")
	default:
		s.unknown("unrecognised statement %T", st)
	}
	return false
}

// pragma analyses a PRAGMA: one that only reads, or sets a known harmless
// value, is a session statement; one that sets any other value
// (writable_schema, schema_version, case_sensitive_like, an unknown pragma)
// is Unknown.
func (s *state) pragma(n *ast.PragmaStmt) bool {
	name := qualifiedName(n.Name)
	if !n.HasValue || pragmaSafe[name] {
		return true
	}
	s.unknown("PRAGMA %s with a value may change data, schema or query results", name)
	return false
}
