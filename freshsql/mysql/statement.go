package mysql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/freshcache/fresh/freshsql"
)

// statement analyses one statement and reports whether it is a Session
// statement: one that changes neither data nor schema.
func (s *state) statement(st sqlparser.Statement) bool {
	switch n := st.(type) {
	case sqlparser.SelectStatement:
		s.out.Returns = true
		s.selectStmt(n, nil, false)
	case *sqlparser.Insert:
		s.insert(n)
	case *sqlparser.Update:
		s.update(n)
	case *sqlparser.Delete:
		s.delete(n)
	case *sqlparser.DDL:
		s.ddl(n)
	case *sqlparser.AlterTable:
		s.schema(n.Table)
		for _, d := range n.Statements {
			if d != nil {
				for _, t := range d.ToTables {
					s.schema(t)
				}
			}
		}
	case *sqlparser.Set:
		// SET may call a function that writes, or read a table in a
		// subquery; it is still a session statement when neither is Unknown.
		s.visit(n.Exprs, nil)
		return true
	case *sqlparser.Explain:
		if !n.Analyze {
			return true
		}
		// EXPLAIN ANALYZE runs the statement.
		before := len(s.out.Writes)
		s.statement(n.Statement)
		return len(s.out.Writes) == before
	case *sqlparser.Begin, *sqlparser.Commit, *sqlparser.Rollback, *sqlparser.Savepoint,
		*sqlparser.RollbackSavepoint, *sqlparser.ReleaseSavepoint, *sqlparser.Show, *sqlparser.Use,
		*sqlparser.LockTables, *sqlparser.UnlockTables, *sqlparser.Analyze, *sqlparser.Flush,
		*sqlparser.Kill, *sqlparser.Deallocate:
		return true
	case *sqlparser.Call:
		s.unknown("CALL runs a stored procedure")
	case *sqlparser.Load:
		s.unknown("LOAD DATA")
	case *sqlparser.Prepare, *sqlparser.Execute:
		s.unknown("PREPARE and EXECUTE run a statement the text does not show")
	case *sqlparser.DBDDL:
		s.unknown("database DDL")
	default:
		s.unknown("statement %T not analysed", st)
	}
	return false
}

// ddl analyses CREATE, ALTER, DROP, RENAME and TRUNCATE.
func (s *state) ddl(n *sqlparser.DDL) {
	action := strings.ToLower(n.Action)
	switch {
	case n.ProcedureSpec != nil || n.EventSpec != nil:
		s.unknown("stored program DDL")
	case n.TriggerSpec != nil:
		if action == sqlparser.CreateStr && !n.Table.IsEmpty() {
			s.schema(n.Table)
		} else {
			s.unknown("trigger DDL that does not name its table")
		}
	case n.ViewSpec != nil:
		s.schema(n.ViewSpec.ViewName)
		for _, t := range n.FromViews {
			s.schema(t)
		}
	case action == sqlparser.TruncateStr:
		if n.Table.IsEmpty() {
			s.unknown("TRUNCATE without a table")
			return
		}
		s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpTruncate, Table: n.Table.Name.String()})
	default:
		before := len(s.out.Writes)
		for _, t := range n.AffectedTables() {
			s.schema(t)
		}
		for _, t := range n.FromViews {
			s.schema(t)
		}
		if len(s.out.Writes) == before {
			s.unknown("DDL %q without a table", n.Action)
		}
		if n.OptSelect != nil {
			s.visit(n.OptSelect.Select, nil)
		}
	}
}

// schema records an OpSchema write of t, once.
func (s *state) schema(t sqlparser.TableName) {
	if t.IsEmpty() {
		return
	}
	name := t.Name.String()
	for _, w := range s.out.Writes {
		if w.Op == freshsql.OpSchema && w.Table == name {
			return
		}
	}
	s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpSchema, Table: name})
}
