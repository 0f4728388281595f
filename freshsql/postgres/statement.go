package postgres

import (
	"strings"

	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// statement walks one top-level statement.
func (w *walker) statement(n *pg.Node) {
	switch x := n.GetNode().(type) {
	case *pg.Node_SelectStmt:
		w.selectStmt(x.SelectStmt, nil, false)
		if x.SelectStmt.GetIntoClause() == nil {
			w.res.Returns = true
		}
	case *pg.Node_InsertStmt:
		w.insert(x.InsertStmt, nil, false, true)
	case *pg.Node_UpdateStmt:
		w.update(x.UpdateStmt, nil, false, true)
	case *pg.Node_DeleteStmt:
		w.delete(x.DeleteStmt, nil, false, true)
	case *pg.Node_MergeStmt:
		w.merge(x.MergeStmt, nil, false, true)
	case *pg.Node_TruncateStmt:
		w.truncate(x.TruncateStmt)
	case *pg.Node_ExplainStmt:
		w.explain(x.ExplainStmt)

	// Session statements: they change neither data nor schema.
	case *pg.Node_TransactionStmt, *pg.Node_VariableSetStmt, *pg.Node_ListenStmt,
		*pg.Node_UnlistenStmt, *pg.Node_NotifyStmt, *pg.Node_DiscardStmt,
		*pg.Node_DeallocateStmt, *pg.Node_VacuumStmt, *pg.Node_LockStmt,
		*pg.Node_CheckPointStmt, *pg.Node_ClosePortalStmt, *pg.Node_ConstraintsSetStmt,
		*pg.Node_CommentStmt, *pg.Node_ReindexStmt, *pg.Node_ClusterStmt:
		w.session = true
	case *pg.Node_VariableShowStmt, *pg.Node_FetchStmt:
		w.session = true
		w.res.Returns = true
	case *pg.Node_PrepareStmt:
		// PREPARE only defines; EXECUTE runs a text this analyser cannot see.
		w.session = true
	case *pg.Node_DeclareCursorStmt:
		w.sessionUnlessEffects(x.DeclareCursorStmt.GetQuery())
	case *pg.Node_CopyStmt:
		w.copyStmt(x.CopyStmt)
	case *pg.Node_CreateSchemaStmt:
		w.createSchema(x.CreateSchemaStmt)

	case *pg.Node_CreateStmt, *pg.Node_CreateForeignTableStmt, *pg.Node_IndexStmt,
		*pg.Node_CreateTrigStmt, *pg.Node_RuleStmt, *pg.Node_CreateSeqStmt,
		*pg.Node_AlterSeqStmt, *pg.Node_CreatePolicyStmt, *pg.Node_AlterPolicyStmt,
		*pg.Node_RefreshMatViewStmt, *pg.Node_ReplicaIdentityStmt:
		// Every relation the statement names changes definition (a new
		// table's parents and referenced tables included, so that the
		// catalog is reloaded).
		w.schemaWrites(n)
	case *pg.Node_AlterTableStmt:
		w.schemaWrites(n)
		w.effectsOf(x.AlterTableStmt.GetCmds())
	case *pg.Node_ViewStmt:
		w.schemaWrite(x.ViewStmt.GetView())
	case *pg.Node_CreateTableAsStmt:
		w.createTableAs(x.CreateTableAsStmt)
	case *pg.Node_DropStmt:
		w.drop(x.DropStmt)
	case *pg.Node_RenameStmt:
		w.rename(x.RenameStmt)
	case *pg.Node_AlterObjectSchemaStmt:
		if rv := x.AlterObjectSchemaStmt.GetRelation(); rv != nil {
			w.schemaWrite(rv)
		} else {
			w.unknown(reason("%s of an object that is not a relation", n))
		}

	case *pg.Node_CallStmt, *pg.Node_DoStmt, *pg.Node_ExecuteStmt, *pg.Node_LoadStmt:
		w.unknown(reason("%s runs code this analyser cannot see", n))
	default:
		w.unknown(reason("%s is not analysed", n))
	}
}

// sessionUnlessEffects makes a statement that runs q without returning its
// rows through this text (DECLARE CURSOR, COPY ... TO, EXPLAIN ANALYZE) a
// session statement, unless q writes or may write.
func (w *walker) sessionUnlessEffects(q *pg.Node) {
	sub := &walker{a: w.a}
	sub.statement(q)
	if len(sub.res.Writes) > 0 || sub.res.Unknown != "" {
		w.res.Writes = append(w.res.Writes, sub.res.Writes...)
		w.unknown(sub.res.Unknown)
		w.uncacheable("runs a statement that writes")
		return
	}
	w.session = true
}

// explain walks EXPLAIN: without ANALYZE nothing runs; with it, the
// statement runs and its writes happen.
func (w *walker) explain(s *pg.ExplainStmt) {
	w.res.Returns = true
	for _, o := range s.GetOptions() {
		if d := o.GetDefElem(); d != nil && d.GetDefname() == "analyze" && defTrue(d.GetArg()) {
			w.sessionUnlessEffects(s.GetQuery())
			return
		}
	}
	w.session = true
}

// defTrue reads an option's boolean argument; no argument means true, and
// an argument it cannot read counts as true.
func defTrue(arg *pg.Node) bool {
	if arg == nil {
		return true
	}
	if b := arg.GetBoolean(); b != nil {
		return b.GetBoolval()
	}
	if i := arg.GetInteger(); i != nil {
		return i.GetIval() != 0
	}
	if s := arg.GetString_(); s != nil {
		switch strings.ToLower(s.GetSval()) {
		case "false", "off", "0", "no":
			return false
		}
	}
	return true
}

// copyStmt walks COPY: FROM loads rows nobody can see here; TO only reads.
func (w *walker) copyStmt(s *pg.CopyStmt) {
	if s.GetIsFrom() {
		w.unknown("COPY ... FROM loads rows this analyser cannot see")
		if rv := s.GetRelation(); rv != nil {
			w.res.Writes = append(w.res.Writes, freshsql.Write{Op: freshsql.OpInsert, Table: w.target(rv)})
		}
		return
	}
	if q := s.GetQuery(); q != nil {
		w.sessionUnlessEffects(q)
		return
	}
	w.session = true
}

// createSchema walks CREATE SCHEMA: an empty schema changes no query's
// result (a table created in it later is a write of its name); its elements
// are statements of their own.
func (w *walker) createSchema(s *pg.CreateSchemaStmt) {
	if len(s.GetSchemaElts()) == 0 {
		w.session = true
		return
	}
	for _, e := range s.GetSchemaElts() {
		w.statement(e)
	}
}

// schemaWrite records a change of rv's definition.
func (w *walker) schemaWrite(rv *pg.RangeVar) {
	if rv == nil {
		return
	}
	w.schemaWriteName(rv.GetRelname())
}

func (w *walker) schemaWriteName(name string) {
	if name == "" {
		return
	}
	for _, wr := range w.res.Writes {
		if wr.Op == freshsql.OpSchema && wr.Table == name {
			return
		}
	}
	w.res.Writes = append(w.res.Writes, freshsql.Write{Op: freshsql.OpSchema, Table: name})
}

// schemaWrites records a change of every relation n names.
func (w *walker) schemaWrites(n *pg.Node) {
	c := &rangeVarCollector{}
	c.node(n)
	for _, rv := range c.found {
		w.schemaWrite(rv)
	}
}

// effectsOf checks the expressions an ALTER TABLE evaluates (a USING clause,
// a volatile DEFAULT filled into existing rows) for calls that may write.
func (w *walker) effectsOf(cmds []*pg.Node) {
	sub := &walker{a: w.a}
	sub.nodes(cmds, nil)
	w.unknown(sub.res.Unknown)
	for _, wr := range sub.res.Writes {
		if wr.Op != freshsql.OpSchema {
			w.res.Writes = append(w.res.Writes, wr)
		}
	}
}

// createTableAs walks CREATE TABLE AS and CREATE MATERIALIZED VIEW: the
// query runs (unless WITH NO DATA) and a relation is created.
func (w *walker) createTableAs(s *pg.CreateTableAsStmt) {
	sub := &walker{a: w.a}
	sub.statement(s.GetQuery())
	w.res.Reads = append(w.res.Reads, sub.res.Reads...)
	w.res.Writes = append(w.res.Writes, sub.res.Writes...)
	w.unknown(sub.res.Unknown)
	w.schemaWrite(s.GetInto().GetRel())
}

// drop walks DROP. Relations are named; a CASCADE, or an object whose
// table cannot be named (an index, a function, a type, a schema), makes the
// text Unknown.
func (w *walker) drop(s *pg.DropStmt) {
	for _, o := range s.GetObjects() {
		parts := stringList(o.GetList().GetItems())
		switch s.GetRemoveType() {
		case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
			pg.ObjectType_OBJECT_FOREIGN_TABLE, pg.ObjectType_OBJECT_SEQUENCE:
			if len(parts) > 0 {
				w.schemaWriteName(parts[len(parts)-1])
				continue
			}
		case pg.ObjectType_OBJECT_TRIGGER, pg.ObjectType_OBJECT_RULE, pg.ObjectType_OBJECT_POLICY:
			if len(parts) > 1 {
				w.schemaWriteName(parts[len(parts)-2])
				continue
			}
		}
		w.unknown("DROP " + strings.TrimPrefix(s.GetRemoveType().String(), "OBJECT_") + " of an object whose tables are not named")
	}
	if s.GetBehavior() == pg.DropBehavior_DROP_CASCADE {
		w.unknown("DROP ... CASCADE drops dependent objects too")
	}
}

// rename walks ALTER ... RENAME: a renamed relation changes both names.
func (w *walker) rename(s *pg.RenameStmt) {
	rv := s.GetRelation()
	if rv == nil {
		w.unknown("RENAME of " + strings.TrimPrefix(s.GetRenameType().String(), "OBJECT_") + ", which is not a relation")
		return
	}
	w.schemaWrite(rv)
	switch s.GetRenameType() {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
		pg.ObjectType_OBJECT_FOREIGN_TABLE, pg.ObjectType_OBJECT_SEQUENCE:
		w.schemaWriteName(s.GetNewname())
	}
}
