package postgres

import (
	"fmt"
	"strings"

	"github.com/freshcache/fresh/freshsql"
)

// Constructors that keep the corpus readable.

func rd(table string, conds ...freshsql.Cond) freshsql.Read {
	return freshsql.Read{Table: table, Conds: conds}
}

func eq(col string, vals ...freshsql.Value) freshsql.Cond {
	return freshsql.Cond{Column: col, Values: vals}
}

func p(n int) freshsql.Value { return freshsql.Value{Param: n} }

func lit(v any) freshsql.Value { return freshsql.Value{Literal: v} }

func pv(n int) *freshsql.Value { return &freshsql.Value{Param: n} }

func lv(v any) *freshsql.Value { return &freshsql.Value{Literal: v} }

func ins(table string, cols []string, rows [][]*freshsql.Value) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpInsert, Table: table, Columns: cols, Rows: rows}
}

func upd(table string, set []freshsql.Assign, where ...freshsql.Cond) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpUpdate, Table: table, Set: set, Where: where}
}

func del(table string, where ...freshsql.Cond) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpDelete, Table: table, Where: where}
}

func schema(table string) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpSchema, Table: table}
}

func trunc(table string) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpTruncate, Table: table}
}

func set(col string, v *freshsql.Value) freshsql.Assign {
	return freshsql.Assign{Column: col, Value: v}
}

// flag bits of an expected Analysis.
const (
	returns = 1 << iota
	uncacheable
	unknown
	session
)

// summary renders an Analysis for comparison and messages: slices nil or
// empty alike, reasons as flags, ReturnAt left out.
func summary(a *freshsql.Analysis) string {
	if a == nil {
		return "<nil>"
	}
	var b strings.Builder
	for _, r := range a.Reads {
		fmt.Fprintf(&b, "read %s%s; ", r.Table, conds(r.Conds))
	}
	for _, w := range a.Writes {
		fmt.Fprintf(&b, "write op%d %s", w.Op, w.Table)
		if w.Columns != nil {
			fmt.Fprintf(&b, " cols%v", w.Columns)
		}
		if w.Rows != nil {
			b.WriteString(" rows[")
			for _, row := range w.Rows {
				b.WriteString("(")
				for i, v := range row {
					if i > 0 {
						b.WriteString(",")
					}
					b.WriteString(vptr(v))
				}
				b.WriteString(")")
			}
			b.WriteString("]")
		}
		if w.Upsert {
			b.WriteString(" upsert")
		}
		if len(w.Where) > 0 {
			b.WriteString(" where" + conds(w.Where))
		}
		if len(w.Set) > 0 {
			b.WriteString(" set[")
			for i, s := range w.Set {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(s.Column + "=" + vptr(s.Value))
			}
			b.WriteString("]")
		}
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "flags=%d", flags(a))
	return b.String()
}

func flags(a *freshsql.Analysis) int {
	f := 0
	if a.Returns {
		f |= returns
	}
	if a.Uncacheable != "" {
		f |= uncacheable
	}
	if a.Unknown != "" {
		f |= unknown
	}
	if a.Session {
		f |= session
	}
	return f
}

func conds(cs []freshsql.Cond) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(" " + c.Column + "=")
		for i, v := range c.Values {
			if i > 0 {
				b.WriteString("|")
			}
			b.WriteString(val(v))
		}
	}
	return b.String()
}

func val(v freshsql.Value) string {
	if v.Param > 0 {
		return fmt.Sprintf("$%d", v.Param)
	}
	return fmt.Sprintf("%T(%v)", v.Literal, v.Literal)
}

func vptr(v *freshsql.Value) string {
	if v == nil {
		return "nil"
	}
	return val(*v)
}

// want renders an expected Analysis the way summary renders a real one.
func want(reads []freshsql.Read, writes []freshsql.Write, f int) string {
	a := &freshsql.Analysis{Reads: reads, Writes: writes, Returns: f&returns != 0, Session: f&session != 0}
	if f&uncacheable != 0 {
		a.Uncacheable = "x"
	}
	if f&unknown != 0 {
		a.Unknown = "x"
	}
	return summary(a)
}
