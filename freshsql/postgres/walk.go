package postgres

import (
	"fmt"
	"slices"
	"strings"

	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walker accumulates the Analysis of one text while it walks the parse tree.
// Typed handlers cover the nodes whose meaning matters (statements, FROM
// items, CTEs, calls); every other node is walked generically through
// protobuf reflection, so no subquery, CTE body or function argument is missed
// whatever node holds it.
type walker struct {
	a   *Analyzer
	res freshsql.Analysis
	// session is set by the statement being analysed when it is a session
	// statement.
	session bool
}

// scope is the WITH lists visible at a point of the tree, innermost first.
type scope struct {
	names  map[string]bool
	parent *scope
}

// isCTE reports whether an unqualified table name resolves to a CTE.
func (s *scope) isCTE(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

func (w *walker) unknown(reason string) {
	if w.res.Unknown == "" {
		w.res.Unknown = reason
	}
}

func (w *walker) uncacheable(reason string) {
	if w.res.Uncacheable == "" {
		w.res.Uncacheable = reason
	}
}

// node walks any node in expression position: a SelectStmt found there is a
// subquery that may refer to the enclosing query's columns.
func (w *walker) node(n proto.Message, sc *scope) {
	if n == nil {
		return
	}
	switch x := n.(type) {
	case *pg.Node:
		if x == nil {
			return
		}
		w.children(x, sc)
	case *pg.SelectStmt:
		w.selectStmt(x, sc, true)
	case *pg.RangeVar:
		// A relation in a place no typed handler covers: a read, pinned by no
		// condition.
		w.readTable(x, sc)
	case *pg.FuncCall:
		w.funcCall(x)
		w.children(x, sc)
	case *pg.SQLValueFunction:
		w.uncacheable("calls a session or time function (" + x.GetOp().String() + ")")
	case *pg.A_Expr:
		w.operator(x.GetName())
		w.children(x, sc)
	case *pg.LockingClause:
		// Its relations (FOR UPDATE OF x) name FROM items already read.
		w.uncacheable("locking read (FOR UPDATE / FOR SHARE)")
	case *pg.RangeTableSample:
		w.uncacheable("TABLESAMPLE")
		w.children(x, sc)
	case *pg.WithClause:
		w.with(x, sc, true)
	case *pg.InsertStmt:
		w.insert(x, sc, true, false)
	case *pg.UpdateStmt:
		w.update(x, sc, true, false)
	case *pg.DeleteStmt:
		w.delete(x, sc, true, false)
	case *pg.MergeStmt:
		w.merge(x, sc, true, false)
	default:
		w.children(n, sc)
	}
}

// children walks every set field of m except those named in skip.
func (w *walker) children(m proto.Message, sc *scope, skip ...string) {
	eachChild(m, skip, func(c proto.Message) { w.node(c, sc) })
}

// eachChild calls visit on every message held by a set field of m (each element
// of a list), except in the fields named in skip. It takes the fields in the order
// of their numbers, not in Range's, which is undefined: an analysis comes out the
// same in every build.
func eachChild(m proto.Message, skip []string, visit func(proto.Message)) {
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	var set [8]protoreflect.FieldDescriptor // most nodes set a few fields
	fds := set[:0]
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		// The parse tree has no maps.
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() && !slices.Contains(skip, string(fd.Name())) {
			fds = append(fds, fd)
		}
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	for _, fd := range fds {
		v := r.Get(fd)
		if fd.IsList() {
			l := v.List()
			for j := range l.Len() {
				visit(l.Get(j).Message().Interface())
			}
			continue
		}
		visit(v.Message().Interface())
	}
}

// nodes walks a list of nodes in expression position.
func (w *walker) nodes(ns []*pg.Node, sc *scope) {
	for _, n := range ns {
		w.node(n, sc)
	}
}

// with brings a WITH list into scope and walks its CTEs' bodies. Without
// RECURSIVE a CTE's body sees only the CTEs before it; with RECURSIVE it sees
// all of them. A CTE's name is never a table.
func (w *walker) with(wc *pg.WithClause, sc *scope, outer bool) *scope {
	if wc == nil {
		return sc
	}
	ns := &scope{names: map[string]bool{}, parent: sc}
	if wc.GetRecursive() {
		for _, c := range wc.GetCtes() {
			if cte := c.GetCommonTableExpr(); cte != nil {
				ns.names[cte.GetCtename()] = true
			}
		}
	}
	for _, c := range wc.GetCtes() {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			w.node(c, ns)
			continue
		}
		w.body(cte.GetCtequery(), ns, outer)
		w.children(cte, ns, "ctequery")
		ns.names[cte.GetCtename()] = true
	}
	return ns
}

// body walks a statement nested in another (a CTE's body): a SELECT or a
// data-modifying statement.
func (w *walker) body(n *pg.Node, sc *scope, outer bool) {
	switch {
	case n.GetSelectStmt() != nil:
		w.selectStmt(n.GetSelectStmt(), sc, outer)
	case n.GetInsertStmt() != nil:
		w.insert(n.GetInsertStmt(), sc, outer, false)
	case n.GetUpdateStmt() != nil:
		w.update(n.GetUpdateStmt(), sc, outer, false)
	case n.GetDeleteStmt() != nil:
		w.delete(n.GetDeleteStmt(), sc, outer, false)
	case n.GetMergeStmt() != nil:
		w.merge(n.GetMergeStmt(), sc, outer, false)
	default:
		w.node(n, sc)
	}
}

// readTable records a read of rv, unless rv names a CTE in scope. It returns
// the read's index in res.Reads, or -1 for a CTE.
func (w *walker) readTable(rv *pg.RangeVar, sc *scope) int {
	if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" && sc.isCTE(rv.GetRelname()) {
		return -1
	}
	name := rv.GetRelname()
	if reason := systemRelation(rv); reason != "" {
		w.uncacheable(reason)
	}
	if m := w.a.opaqueViews.Load(); m != nil {
		if why, ok := (*m)[name]; ok {
			w.uncacheable("reads view " + name + ", which " + why)
		}
	}
	w.res.Reads = append(w.res.Reads, freshsql.Read{Table: name})
	return len(w.res.Reads) - 1
}

// systemRelation says why rv is a system catalog or a temporary table, or "".
func systemRelation(rv *pg.RangeVar) string {
	schema := rv.GetSchemaname()
	switch {
	case schema == "pg_catalog" || schema == "information_schema" || strings.HasPrefix(schema, "pg_toast"):
		return "reads the system catalog (" + schema + "." + rv.GetRelname() + ")"
	case schema == "pg_temp" || strings.HasPrefix(schema, "pg_temp_"):
		return "reads a temporary table (" + rv.GetRelname() + ")"
	case schema == "" && strings.HasPrefix(rv.GetRelname(), "pg_"):
		return "reads the system catalog (" + rv.GetRelname() + ")"
	}
	return ""
}

// funcCall classifies a call.
func (w *walker) funcCall(f *pg.FuncCall) {
	parts := stringList(f.GetFuncname())
	name := strings.Join(parts, ".")
	class := w.a.classify(parts)
	if class == funcPure && len(parts) > 0 && parts[len(parts)-1] == "age" && len(f.GetArgs()) == 1 {
		// age(x) measures from current_date.
		class = funcVolatile
	}
	switch class {
	case funcPure:
	case funcVolatile:
		w.uncacheable("calls " + name + "(), whose result varies")
	case funcSequence:
		w.uncacheable("calls " + name + "(), which changes a sequence")
		seq := sequenceArg(f.GetArgs())
		if seq == "" {
			w.unknown("calls " + name + "() on a sequence not named by a literal")
			return
		}
		w.res.Writes = append(w.res.Writes, freshsql.Write{Op: freshsql.OpUpdate, Table: seq})
	default:
		w.uncacheable("calls " + name + "(), which is not known to be pure")
		w.unknown("calls " + name + "(), which may write")
	}
}

// sequenceArg returns the sequence named by a nextval/setval call's first
// argument when it is a string literal ('s', 'public.s', 's'::regclass), or "".
func sequenceArg(args []*pg.Node) string {
	if len(args) == 0 {
		return ""
	}
	a := args[0]
	if tc := a.GetTypeCast(); tc != nil {
		a = tc.GetArg()
	}
	c := a.GetAConst()
	if c == nil || c.GetSval() == nil {
		return ""
	}
	return foldQualifiedName(c.GetSval().GetSval())
}

// foldQualifiedName folds a name written inside a string literal, as
// regclass input does: the last dotted part, lower-cased unless quoted.
func foldQualifiedName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, `"`) {
		if i := strings.LastIndex(s[:len(s)-1], `"`); i >= 0 {
			return strings.ReplaceAll(s[i+1:len(s)-1], `""`, `"`)
		}
		return ""
	}
	if i := strings.LastIndex(s, "."); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(s)
}

// operator checks an operator's name: OPERATOR(schema.op) with a schema other
// than pg_catalog is a user's operator, whose function may write. Operators
// written without a schema are taken to be built in.
func (w *walker) operator(name []*pg.Node) {
	parts := stringList(name)
	if len(parts) > 1 && parts[0] != "pg_catalog" {
		op := strings.Join(parts, ".")
		w.uncacheable("uses operator " + op + ", which is not known to be pure")
		w.unknown("uses operator " + op + ", which may write")
	}
}

// stringList returns the strings of a list of String nodes (a qualified
// name); other nodes give "*" (A_Star).
func stringList(ns []*pg.Node) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		if s := n.GetString_(); s != nil {
			out = append(out, s.GetSval())
		} else {
			out = append(out, "*")
		}
	}
	return out
}

// nodeKind names the statement type of n for messages.
func nodeKind(n *pg.Node) string {
	kind := "unknown"
	if n == nil {
		return kind
	}
	n.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		kind = string(fd.Message().Name())
		return false
	})
	return kind
}

// reason formats a reason naming the statement kind.
func reason(format string, n *pg.Node) string {
	return fmt.Sprintf(format, nodeKind(n))
}
