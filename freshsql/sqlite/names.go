package sqlite

import (
	"strings"

	"github.com/freshcache/fresh/freshsql"
	"github.com/sqlc-dev/meyer/ast"
)

// fold lower-cases the ASCII letters of a name, as SQLite compares names.
func fold(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return strings.Map(func(r rune) rune {
				if 'A' <= r && r <= 'Z' {
					return r + ('a' - 'A')
				}
				return r
			}, name)
		}
	}
	return name
}

// identName is the folded name of an identifier, or "" for nil.
func identName(id *ast.Ident) string {
	if id == nil {
		return ""
	}
	return fold(id.Name)
}

// systemTable reports whether a (folded) table name is one SQLite maintains by
// itself, whose rows change without any statement naming it as a target.
func systemTable(name string) bool {
	return strings.HasPrefix(name, "sqlite_") || name == "dbstat"
}

// isTempSchema reports whether a (folded) schema qualifier names the
// connection's temporary database.
func isTempSchema(schema string) bool {
	return schema == "temp" || schema == "temporary"
}

// readTable records a read of the table qn and returns its index in Reads.
// A temporary or system table makes the text Uncacheable: its rows are per
// connection, or change without a write naming them.
func (s *state) readTable(qn *ast.QualifiedName) int {
	name := identName(qn.Name)
	if name == "" {
		s.uncacheable("reads a table with an empty name")
		return -1
	}
	if qn.Schema != nil && isTempSchema(identName(qn.Schema)) {
		s.uncacheable("reads the temporary table %s", name)
	}
	if systemTable(name) {
		s.uncacheable("reads the system table %s", name)
	}
	if strings.HasPrefix(name, "pragma_") {
		s.uncacheable("reads the pragma table %s", name)
	}
	s.out.Reads = append(s.out.Reads, freshsql.Read{Table: name})
	return len(s.out.Reads) - 1
}

// scope is the chain of WITH lists visible from a point of a statement. A CTE
// name shadows tables of the same name, and an inner WITH shadows an outer
// one; SQLite resolves a name against the whole WITH list, so a CTE may name
// one declared after it.
type scope struct {
	parent *scope
	ctes   map[string]bool
}

// isCTE reports whether an unqualified (folded) name is a CTE in scope.
func (sc *scope) isCTE(name string) bool {
	for ; sc != nil; sc = sc.parent {
		if sc.ctes[name] {
			return true
		}
	}
	return false
}
