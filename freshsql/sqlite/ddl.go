package sqlite

import (
	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
)

// schemaWrite records an OpSchema write of a table, view or virtual table;
// temp reports an object visible to its connection only.
func (s *state) schemaWrite(name string, temp bool) {
	if name == "" {
		s.unknown("schema change without a table name")
		return
	}
	s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpSchema, Table: name, Temporary: temp})
}

// tempName reports whether qn is qualified by the temporary schema.
func tempName(qn *ast.QualifiedName) bool {
	return qn != nil && qn.Schema != nil && isTempSchema(identName(qn.Schema))
}

// qualifiedName is the folded, unqualified name of qn, or "".
func qualifiedName(qn *ast.QualifiedName) string {
	if qn == nil {
		return ""
	}
	return identName(qn.Name)
}

// ddl analyses a statement that changes the schema: an OpSchema write of every
// table or view it creates, alters or drops. DROP INDEX and DROP TRIGGER do not
// name their table, so they are Unknown.
func (s *state) ddl(st ast.Stmt) {
	switch n := st.(type) {
	case *ast.CreateTableStmt:
		s.schemaWrite(qualifiedName(n.Name), n.Temp || tempName(n.Name))
		if n.Select != nil {
			s.selectStmt(n.Select, nil, true)
		}
	case *ast.CreateVirtualTableStmt:
		s.schemaWrite(qualifiedName(n.Name), tempName(n.Name))
	case *ast.CreateIndexStmt:
		s.schemaWrite(identName(n.Table), false)
	case *ast.CreateViewStmt:
		s.schemaWrite(qualifiedName(n.Name), n.Temp || tempName(n.Name))
	case *ast.CreateTriggerStmt:
		// A temporary trigger acts on its connection only, and the
		// catalog (read on another connection) may not see it.
		s.schemaWrite(qualifiedName(n.Table), n.Temp || tempName(n.Name))
	case *ast.AlterTableStmt:
		s.schemaWrite(qualifiedName(n.Table), false)
		if n.Action == ast.AlterRenameTable {
			s.schemaWrite(identName(n.NewName), false)
		}
	case *ast.DropTableStmt:
		name := qualifiedName(n.Name)
		s.schemaWrite(name, false)
		if name != "" {
			// With foreign keys on, DROP TABLE first deletes every row,
			// which runs the foreign-key actions of the rows' children.
			s.out.Writes = append(s.out.Writes, freshsql.Write{Op: freshsql.OpDelete, Table: name})
		}
	case *ast.DropViewStmt:
		s.schemaWrite(qualifiedName(n.Name), false)
	case *ast.DropIndexStmt:
		s.unknown("DROP INDEX does not name its table")
	case *ast.DropTriggerStmt:
		s.unknown("DROP TRIGGER does not name its table")
	default:
		s.unknown("unrecognised schema statement %T", st)
	}
}
