package sqlite_test

import (
	"fmt"

	"github.com/freshcache/fresh/freshsql/sqlite"
)

func ExampleAnalyzer_Analyze() {
	a := sqlite.New(sqlite.Options{})
	res, err := a.Analyze(`SELECT o.id, o.total FROM orders o JOIN users u ON u.id = o.user_id
		WHERE o.status = 'paid' AND u.id = :user`)
	if err != nil {
		panic(err)
	}
	for _, r := range res.Reads {
		fmt.Println("read", r.Table, r.Conds)
	}
	fmt.Println("cacheable:", res.Returns && len(res.Writes) == 0 && res.Unknown == "" && res.Uncacheable == "")

	res, _ = a.Analyze(`UPDATE orders SET status = ? WHERE id = ?`)
	w := res.Writes[0]
	fmt.Println("update", w.Table, "where", w.Where[0].Column, "= parameter", w.Where[0].Values[0].Param)
	// Output:
	// read orders [{status [{0  paid}]}]
	// read users [{id [{1 user <nil>}]}]
	// cacheable: true
	// update orders where id = parameter 2
}
