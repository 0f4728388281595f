package sqlite

import (
	"fmt"
	"strings"

	"github.com/freshcache/fresh/freshsql"
)

// render prints an Analysis compactly, so tests can state one exactly:
//
//	r:users{id=$1,kind in('a','b')} w:ins:t(a,b)[1,$2:x] w:upd:t{id=3}/set(a=?) returns
//
// A parameter is $N (and $N:name when named), a nil value ?, a float 1.5f, a
// blob x'0a'. The flags returns, uncacheable, unknown and session follow.
func render(a *freshsql.Analysis) string {
	var parts []string
	for _, r := range a.Reads {
		parts = append(parts, "r:"+r.Table+renderConds(r.Conds))
	}
	for _, w := range a.Writes {
		var b strings.Builder
		switch w.Op {
		case freshsql.OpInsert:
			b.WriteString("w:ins:" + w.Table)
			if w.Columns != nil {
				b.WriteString("(" + strings.Join(w.Columns, ",") + ")")
			}
			for _, row := range w.Rows {
				vals := make([]string, len(row))
				for i, v := range row {
					vals[i] = renderPtr(v)
				}
				b.WriteString("[" + strings.Join(vals, ",") + "]")
			}
			if w.Upsert {
				b.WriteString("+upsert")
			}
		case freshsql.OpUpdate:
			b.WriteString("w:upd:" + w.Table + renderConds(w.Where))
			var set []string
			for _, s := range w.Set {
				set = append(set, s.Column+"="+renderPtr(s.Value))
			}
			b.WriteString("/set(" + strings.Join(set, ",") + ")")
		case freshsql.OpDelete:
			b.WriteString("w:del:" + w.Table + renderConds(w.Where))
		case freshsql.OpTruncate:
			b.WriteString("w:trunc:" + w.Table)
		case freshsql.OpSchema:
			b.WriteString("w:schema:" + w.Table)
			if w.Temporary {
				b.WriteString("+temp")
			}
		default:
			fmt.Fprintf(&b, "w:op%d:%s", w.Op, w.Table)
		}
		parts = append(parts, b.String())
	}
	if a.Returns {
		parts = append(parts, "returns")
	}
	if a.Uncacheable != "" {
		parts = append(parts, "uncacheable")
	}
	if a.Unknown != "" {
		parts = append(parts, "unknown")
	}
	if a.Session {
		parts = append(parts, "session")
	}
	return strings.Join(parts, " ")
}

func renderConds(conds []freshsql.Cond) string {
	if len(conds) == 0 {
		return ""
	}
	var out []string
	for _, c := range conds {
		vals := make([]string, len(c.Values))
		for i, v := range c.Values {
			vals[i] = renderValue(v)
		}
		if len(vals) == 1 {
			out = append(out, c.Column+"="+vals[0])
		} else {
			out = append(out, c.Column+" in("+strings.Join(vals, ",")+")")
		}
	}
	return "{" + strings.Join(out, ",") + "}"
}

func renderPtr(v *freshsql.Value) string {
	if v == nil {
		return "?"
	}
	return renderValue(*v)
}

func renderValue(v freshsql.Value) string {
	if v.Param > 0 {
		if v.Name != "" {
			return fmt.Sprintf("$%d:%s", v.Param, v.Name)
		}
		return fmt.Sprintf("$%d", v.Param)
	}
	switch l := v.Literal.(type) {
	case int64:
		return fmt.Sprintf("%d", l)
	case float64:
		return fmt.Sprintf("%gf", l)
	case string:
		return "'" + l + "'"
	case []byte:
		return fmt.Sprintf("x'%x'", l)
	case bool:
		return fmt.Sprintf("%t", l)
	}
	return fmt.Sprintf("<%T %v>", v.Literal, v.Literal)
}
