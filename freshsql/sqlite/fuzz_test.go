package sqlite

import (
	"errors"
	"testing"
)

func FuzzAnalyze(f *testing.F) {
	for _, tc := range analyzeCases {
		f.Add(tc.sql)
	}
	for _, q := range authorizerCorpus {
		f.Add(q)
	}
	a := New(Options{})
	f.Fuzz(func(t *testing.T, sql string) {
		got, err := a.Analyze(sql)
		if err != nil {
			if got != nil {
				t.Fatalf("%q: both an analysis and an error", sql)
			}
			if errors.Is(err, ErrInternal) {
				t.Fatalf("%q: %v", sql, err)
			}
			return
		}
		if got == nil {
			t.Fatalf("%q: nil analysis without an error", sql)
		}
		checkInvariants(t, sql, got)
		checkDeterministic(t, a, sql, got)
	})
}

func BenchmarkAnalyze(b *testing.B) {
	a := New(Options{})
	for _, bc := range []struct{ name, sql string }{
		{"point", `SELECT * FROM users WHERE id = ?`},
		{"join", `SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id LEFT JOIN items i ON i.order_id = o.id WHERE u.id = ? AND o.status IN ('paid', 'sent') ORDER BY o.created DESC LIMIT 20`},
		{"cte", `WITH RECURSIVE tree(id) AS (SELECT id FROM nodes WHERE id = :root UNION ALL SELECT n.id FROM nodes n JOIN tree ON n.parent = tree.id) SELECT * FROM nodes WHERE id IN tree`},
		{"upsert", `INSERT INTO counters (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1 RETURNING n`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Analyze(bc.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
