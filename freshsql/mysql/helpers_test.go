package mysql

import (
	"github.com/freshcache/fresh/freshsql"
)

// Shorthands for the expected analyses of the corpus.

func rd(table string, conds ...freshsql.Cond) freshsql.Read {
	return freshsql.Read{Table: table, Conds: conds}
}

func cd(col string, vals ...freshsql.Value) freshsql.Cond {
	return freshsql.Cond{Column: col, Values: vals}
}

func p(n int) freshsql.Value { return freshsql.Value{Param: n} }

func l(x any) freshsql.Value {
	if i, ok := x.(int); ok {
		return freshsql.Value{Literal: int64(i)}
	}
	return freshsql.Value{Literal: x}
}

func pp(n int) *freshsql.Value { v := p(n); return &v }

func lp(x any) *freshsql.Value { v := l(x); return &v }

func row(vals ...*freshsql.Value) []*freshsql.Value { return vals }

func ins(table string, cols []string, rows [][]*freshsql.Value, upsert bool) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpInsert, Table: table, Columns: cols, Rows: rows, Upsert: upsert}
}

func upd(table string, where []freshsql.Cond, set ...freshsql.Assign) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpUpdate, Table: table, Where: where, Set: set}
}

func asg(col string, v *freshsql.Value) freshsql.Assign {
	return freshsql.Assign{Column: col, Value: v}
}

func del(table string, where ...freshsql.Cond) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpDelete, Table: table, Where: where}
}

func schemaW(table string) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpSchema, Table: table}
}

func truncW(table string) freshsql.Write {
	return freshsql.Write{Op: freshsql.OpTruncate, Table: table}
}

func where(c ...freshsql.Cond) []freshsql.Cond { return c }

func reads(r ...freshsql.Read) []freshsql.Read { return r }

func writes(w ...freshsql.Write) []freshsql.Write { return w }
