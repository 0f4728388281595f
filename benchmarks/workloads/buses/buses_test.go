package buses

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// TestMain hands over to Child when Run started this test binary as a child.
func TestMain(m *testing.M) {
	if IsChild() {
		Child()
		return
	}
	os.Exit(m.Run())
}

// envOf names the environment variable of each bus's server, for skip messages.
var envOf = map[string]string{
	BusRedisStream: EnvRedisURL, BusRedisPubSub: EnvRedisURL,
	BusPostgres: EnvPostgresURL, BusNATS: EnvNATSURL, BusJetStream: EnvNATSURL,
}

// rowsOf returns the rows of the table whose bus column is name.
func rowsOf(tab report.Table, name string) [][]string {
	var rows [][]string
	for _, r := range tab.Rows {
		if r[colBus] == name {
			rows = append(rows, r)
		}
	}
	return rows
}

// TestRunSmoke runs the workload with tiny sizes against every bus and checks the
// table's shape and the promise it reports on: every peer refuses an invalidated
// value, on every bus. A bus whose server does not answer is skipped, unless CI is
// set, where that is a failure (STYLE.md item 9).
func TestRunSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const rounds = 5
	sec, err := Run(ctx, Options{Short: true, Rounds: rounds, Rates: []int{0, 1000}, Peers: 2, IdleTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sec.ID != "buses" || sec.Title != Title {
		t.Fatalf("got section %q %q; want buses %q", sec.ID, sec.Title, Title)
	}
	if got, want := len(sec.Tables), 1; got != want {
		t.Fatalf("got %d tables; want %d", got, want)
	}
	tab := sec.Tables[0]
	if len(tab.Columns) != numCols {
		t.Fatalf("got %d columns; want %d", len(tab.Columns), numCols)
	}
	for _, r := range tab.Rows {
		if len(r) != len(tab.Columns) {
			t.Fatalf("row %q has %d cells; want %d", r, len(r), len(tab.Columns))
		}
		t.Logf("%s", strings.Join(r, " | "))
	}
	if !strings.Contains(sec.Intro, "SQLite p99 ≤ 2 ms; Redis p99 ≤ 0.3 ms") {
		t.Errorf("intro %q does not state the targets", sec.Intro)
	}
	for _, k := range allBuses {
		t.Run(k.id, func(t *testing.T) {
			rows := rowsOf(tab, k.name)
			if len(rows) == 1 && strings.HasPrefix(rows[0][colRate], "skipped: unreachable") {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s: %s (%s)", k.name, rows[0][colRate], envOf[k.id])
				}
				t.Skipf("%s: %s (set %s)", k.name, rows[0][colRate], envOf[k.id])
			}
			if len(rows) != 2 {
				t.Fatalf("got rows %q; want one per rate (2)", rows)
			}
			for _, r := range rows {
				if r[colRounds] != "5" || r[colIncomplete] != "0" {
					t.Errorf("at %s: got %s complete rounds, incomplete %q; want %d and 0", r[colRate], r[colRounds], r[colIncomplete], rounds)
				}
			}
			if idle := rows[0][colIdle]; !strings.Contains(idle, "%") || strings.Contains(idle, "failed") {
				t.Errorf("idle CPU: got %q; want two measurements", idle)
			}
		})
	}
	base := rowsOf(tab, "no bus (baseline: the same child process, idle)")
	if len(base) != 1 || !strings.Contains(base[0][colIdle], "%") {
		t.Errorf("baseline: got rows %q; want one with a measurement", base)
	}
}

// TestRunSkipsUnreachable checks that a bus whose server does not answer is
// reported as skipped in its row, not as an error that would fail the report.
func TestRunSkipsUnreachable(t *testing.T) {
	sec, err := Run(context.Background(), Options{
		Short:       true,
		RedisURL:    "redis://127.0.0.1:1/0",
		PostgresURL: "postgres://postgres@127.0.0.1:1/test?sslmode=disable",
		NATSURL:     "nats://127.0.0.1:1",
		Buses:       []string{BusRedisPubSub, BusPostgres, BusJetStream},
		IdleTime:    50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("got error %v; want none", err)
	}
	for _, id := range []string{BusRedisPubSub, BusPostgres, BusJetStream} {
		k, _ := findBus(id)
		rows := rowsOf(sec.Tables[0], k.name)
		if len(rows) != 1 || !strings.HasPrefix(rows[0][colRate], "skipped: unreachable") {
			t.Errorf("%s: got rows %q; want one that says skipped: unreachable", id, rows)
		}
	}
}

func TestRunUnknownBus(t *testing.T) {
	if _, err := Run(context.Background(), Options{Buses: []string{"carrier-pigeon"}}); err == nil || !strings.Contains(err.Error(), "unknown bus") {
		t.Errorf("got error %v; want unknown bus", err)
	}
}

func TestServerAddr(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		ok        bool
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", true},
		{"redis://localhost/0", "localhost:6379", true},
		{"postgres://u:p@db/test?sslmode=disable", "db:5432", true},
		{"nats://127.0.0.1", "127.0.0.1:4222", true},
		{"nats://a:4222,b:4222", "", false},
		{"sqlite:/tmp/bus.db", "", false},
	} {
		got, ok := serverAddr(tc.url)
		if got != tc.want || ok != tc.ok {
			t.Errorf("serverAddr(%q) = %q, %v; want %q, %v", tc.url, got, ok, tc.want, tc.ok)
		}
	}
}
