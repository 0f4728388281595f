package postgres

import (
	"strconv"
	"strings"

	"github.com/freshcache/fresh/freshsql"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// value returns the Value of a literal or a parameter, looking through a cast
// that cannot change it. It reports false for NULL, for anything else, and
// for literals whose equality the wrapper could not judge by value: floats
// and numerics (1.10 = 1.1), bit strings, and casts that may change a value
// (to varchar(n), char(n), dates and times, numeric...).
func value(n *pg.Node) (freshsql.Value, bool) {
	if p := n.GetParamRef(); p != nil {
		if p.GetNumber() < 1 {
			return freshsql.Value{}, false
		}
		return freshsql.Value{Param: int(p.GetNumber())}, true
	}
	if c := n.GetAConst(); c != nil {
		return constValue(c)
	}
	if tc := n.GetTypeCast(); tc != nil {
		v, ok := value(tc.GetArg())
		if !ok {
			return freshsql.Value{}, false
		}
		return castValue(v, tc.GetTypeName())
	}
	return freshsql.Value{}, false
}

func constValue(c *pg.A_Const) (freshsql.Value, bool) {
	if c.GetIsnull() {
		return freshsql.Value{}, false
	}
	switch v := c.GetVal().(type) {
	case *pg.A_Const_Ival:
		return freshsql.Value{Literal: int64(v.Ival.GetIval())}, true
	case *pg.A_Const_Sval:
		return freshsql.Value{Literal: v.Sval.GetSval()}, true
	case *pg.A_Const_Boolval:
		return freshsql.Value{Literal: v.Boolval.GetBoolval()}, true
	}
	return freshsql.Value{}, false
}

// castValue applies a cast to v when the cast cannot change what v compares
// equal to, and reports false otherwise.
func castValue(v freshsql.Value, t *pg.TypeName) (freshsql.Value, bool) {
	if t == nil || len(t.GetArrayBounds()) > 0 || len(t.GetTypmods()) > 0 || t.GetSetof() || t.GetPctType() {
		return freshsql.Value{}, false
	}
	parts := stringList(t.GetNames())
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		parts = parts[1:]
	}
	if len(parts) != 1 {
		return freshsql.Value{}, false
	}
	switch parts[0] {
	case "int2", "int4", "int8", "smallint", "integer", "bigint", "int":
		if v.Param > 0 {
			return v, true
		}
		switch l := v.Literal.(type) {
		case int64:
			return v, true
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
			if err != nil {
				return freshsql.Value{}, false
			}
			return freshsql.Value{Literal: i}, true
		}
	case "text", "varchar":
		if v.Param > 0 {
			return v, true
		}
		if _, ok := v.Literal.(string); ok {
			return v, true
		}
	case "bool":
		if v.Param > 0 {
			return v, true
		}
		if _, ok := v.Literal.(bool); ok {
			return v, true
		}
	case "uuid":
		if v.Param > 0 {
			return v, true
		}
	}
	return freshsql.Value{}, false
}

// isNull reports a NULL literal.
func isNull(n *pg.Node) bool {
	if tc := n.GetTypeCast(); tc != nil {
		return isNull(tc.GetArg())
	}
	return n.GetAConst() != nil && n.GetAConst().GetIsnull()
}

// rowValue returns the Value of an inserted or assigned expression, or nil
// when it is anything but a literal or a parameter (NULL and DEFAULT
// included: Value cannot say NULL).
func rowValue(n *pg.Node) *freshsql.Value {
	v, ok := value(n)
	if !ok {
		return nil
	}
	return &v
}
