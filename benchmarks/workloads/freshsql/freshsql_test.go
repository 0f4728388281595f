package freshsql

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// needPostgres skips the test when PostgreSQL does not answer, unless CI is set,
// where a missing server is a failure (STYLE.md item 9).
func needPostgres(t *testing.T) {
	t.Helper()
	o := Options{}
	o.defaults()
	e, err := connect(context.Background(), o.URL)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no PostgreSQL at %s (%s): %v", redactURL(o.URL), EnvURL, err)
		}
		t.Skipf("no PostgreSQL at %s (set %s): %v", redactURL(o.URL), EnvURL, err)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
}

// TestRunShort runs the whole workload in its Short mode against PostgreSQL and
// checks the section's shape and what it must show: hits much faster than the
// server, row-image mode running its RETURNING path, and no stale read.
func TestRunShort(t *testing.T) {
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sec, err := Run(ctx, Options{Short: true, Rows: 2000, MissReps: 2, Reps: 1, PostgresCases: 2, SQLiteCases: 6, Steps: 20})
	if err != nil {
		t.Fatal(err)
	}
	if sec.ID != "freshsql" || sec.Title != Title {
		t.Errorf("got section %q %q; want freshsql %q", sec.ID, sec.Title, Title)
	}
	if got, want := len(sec.Tables), 5; got != want {
		t.Fatalf("got %d tables; want %d", got, want)
	}
	for _, tab := range sec.Tables {
		if len(tab.Rows) == 0 {
			t.Errorf("%s: no rows", tab.Title)
		}
		for _, r := range tab.Rows {
			if len(r) != len(tab.Columns) {
				t.Errorf("%s: row %q has %d cells; want %d", tab.Title, r, len(r), len(tab.Columns))
			}
			t.Logf("%s", strings.Join(r, " | "))
		}
	}
	for _, want := range []string{"GOMAXPROCS=", "PostgreSQL 1", "Targets: point-query hit ≥ 50×", "miss overhead ≤ 5%"} {
		if !strings.Contains(sec.Intro, want) {
			t.Errorf("intro does not say %q: %s", want, sec.Intro)
		}
	}
	if got := len(sec.Tables[3].Rows); got != 4 {
		t.Errorf("checker summary has %d rows; want 4 (two databases, two modes)", got)
	}
	for _, n := range sec.Notes {
		t.Log(n)
		if strings.Contains(n, "bug in freshsql") {
			t.Error(n)
		}
	}
}

// TestUnreachable checks that a server that does not answer is reported in the
// section, not as an error, and that the checker still runs on SQLite.
func TestUnreachable(t *testing.T) {
	sec, err := Run(context.Background(), Options{Short: true, URL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", SQLiteCases: 2, Steps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sec.Intro, "no PostgreSQL") {
		t.Errorf("intro does not say the server is missing: %s", sec.Intro)
	}
	if got, want := len(sec.Tables), 2; got != want {
		t.Fatalf("got %d tables; want %d (the checker on SQLite)", got, want)
	}
}

// TestCheckTFatal checks that Fatalf stops the function run runs, and that the
// cleanups run afterwards, the last registered first.
func TestCheckTFatal(t *testing.T) {
	ct := &checkT{}
	var order []int
	reached := false
	errs := ct.run(func() {
		ct.Cleanup(func() { order = append(order, 1) })
		ct.Cleanup(func() { order = append(order, 2) })
		ct.Fatalf("stop %d", 7)
		reached = true
	})
	if reached {
		t.Error("Fatalf returned")
	}
	if len(errs) != 1 || errs[0] != "stop 7" {
		t.Errorf("got failures %q; want [stop 7]", errs)
	}
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran in order %v; want [2 1]", order)
	}
}
