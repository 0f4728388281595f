// Package buses is the invalidation-bus workload of the benchmarks: every bus fresh
// offers between processes, side by side in one run and one table. For each bus it
// measures
//
//  1. the fan-out: from a writer's Invalidate returning until every one of 3 peer
//     hubs, each in a child OS process, refuses the old value, at 0, 1k and 10k
//     background invalidations per second (0 and 1k in Short mode); and
//  2. the idle cost: the CPU time a subscribed follower process uses over 5 s
//     while nothing is published, with a fresh hub on the bus and with the bus
//     alone, next to the same process with no bus.
//
// The buses are Redis Streams and Redis Pub/Sub (freshredis, at FRESH_REDIS_URL,
// default redis://127.0.0.1:6379/0), a SQLite file (freshsqlite, in a temporary
// directory), PostgreSQL (freshpg, at FRESH_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable, in a table unique to
// the run and dropped after it), NATS core and NATS JetStream (freshnats, at
// FRESH_NATS_URL, default nats://127.0.0.1:4222, in a namespace unique to the
// run; the JetStream stream is deleted after it). A bus whose server does not
// answer is reported as "skipped: unreachable" in its row; the run goes on.
//
// The hubs have no Store: the Invalidate measured is the hub's and the bus's alone,
// the same for every bus.
//
// The child processes run the current executable again (os.Executable) with the
// environment variable FRESHBENCH_BUSES_CHILD set, and talk to the parent in JSON
// lines over their stdin and stdout (internal/childproc), like the Redis
// workload's. A command that calls Run must hand over to Child at the top of main:
//
//	func main() {
//		if buses.IsChild() {
//			buses.Child()
//			return
//		}
//		...
//	}
//
// Tests that call Run need the same lines in TestMain (see buses_test.go).
package buses

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// The environment variables naming the servers, and the URLs used when they are
// not set.
const (
	EnvRedisURL        = "FRESH_REDIS_URL"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	EnvPostgresURL     = "FRESH_POSTGRES_URL"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	EnvNATSURL         = "FRESH_NATS_URL"
	DefaultNATSURL     = "nats://127.0.0.1:4222"
)

// Options configure Run. The zero value is the full run.
type Options struct {
	// Short measures fewer rounds at 0 and 1k background invalidations/s only
	// (about 15 s in all on 2 cores), for a quick look.
	Short bool
	// RedisURL, PostgresURL and NATSURL are the servers. Default the environment
	// variables FRESH_REDIS_URL, FRESH_POSTGRES_URL and FRESH_NATS_URL, or
	// DefaultRedisURL, DefaultPostgresURL and DefaultNATSURL.
	RedisURL, PostgresURL, NATSURL string
	// Buses lists the buses to measure (the Bus* constants), in the report's order
	// whatever the order here. Default all.
	Buses []string

	// Rounds is how many invalidations are timed per bus and background rate.
	// Default 200 (Short: 60).
	Rounds int
	// Rates are the background invalidations per second. Default 0, 1000 and
	// 10,000 (Short: 0 and 1000).
	Rates []int
	// Peers is how many peer processes must refuse the old value. Default 3.
	Peers int
	// IdleTime is how long the idle followers' CPU is measured. Default 5s.
	IdleTime time.Duration
}

func (o *Options) defaults() {
	for _, v := range []struct {
		field      *string
		env, value string
	}{
		{&o.RedisURL, EnvRedisURL, DefaultRedisURL},
		{&o.PostgresURL, EnvPostgresURL, DefaultPostgresURL},
		{&o.NATSURL, EnvNATSURL, DefaultNATSURL},
	} {
		if *v.field == "" {
			*v.field = os.Getenv(v.env)
		}
		if *v.field == "" {
			*v.field = v.value
		}
	}
	if len(o.Buses) == 0 {
		for _, b := range allBuses {
			o.Buses = append(o.Buses, b.id)
		}
	}
	if o.Rounds <= 0 {
		o.Rounds = pick(o.Short, 60, 200)
	}
	if len(o.Rates) == 0 {
		o.Rates = pick(o.Short, []int{0, 1_000}, []int{0, 1_000, 10_000})
	}
	if o.Peers <= 0 {
		o.Peers = 3
	}
	if o.IdleTime <= 0 {
		o.IdleTime = 5 * time.Second
	}
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// Title is the heading of the section.
const Title = "Invalidation buses: fan-out and idle cost"

// A busRun is one bus of the run: how to open it, and what was measured.
type busRun struct {
	kind    busKind
	cfg     busConfig
	skipped string // why the bus was not measured ("skipped: unreachable (...)"); "" if it was
	failed  error  // an error that ended its measurement
	fanout  []fanoutResult
	idleHub idleResult // a follower with a fresh hub
	idleBus idleResult // a follower with the bus alone
}

// Run measures the buses of o and returns the section of BENCHMARKS.md. A bus
// whose server does not answer is reported as skipped in its row, and is no error.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	sec := report.Section{ID: "buses", Title: Title}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	run := hex.EncodeToString(b)
	dir, err := newRunDir(run)
	if err != nil {
		return sec, err
	}
	defer func() { _ = os.RemoveAll(dir) }() // the SQLite file; nothing to do about a failure

	var runs []*busRun
	for _, k := range allBuses {
		if slices.Contains(o.Buses, k.id) {
			runs = append(runs, &busRun{kind: k, cfg: newBusConfig(k.id, o, run, dir)})
		}
	}
	for _, id := range o.Buses {
		if _, ok := findBus(id); !ok {
			return sec, fmt.Errorf("buses: unknown bus %q (known: %s)", id, strings.Join(busIDs(), ", "))
		}
	}

	var errs []error
	for _, r := range runs {
		if err := r.cfg.probe(ctx); err != nil {
			if errors.Is(err, errUnreachable) {
				r.skipped = "skipped: " + err.Error()
			} else {
				r.failed = err
				errs = append(errs, fmt.Errorf("buses: %s: %w", r.kind.id, err))
			}
		}
	}
	// What the buses left on the servers goes, whatever happens.
	defer func() {
		for _, r := range runs {
			if r.skipped == "" {
				_ = r.cfg.cleanup(context.WithoutCancel(ctx)) // best effort: the names are unique to the run
			}
		}
	}()

	baseline, err := measureIdle(ctx, o, runs)
	if err != nil {
		errs = append(errs, fmt.Errorf("buses: idle: %w", err))
	}
	for _, r := range runs {
		if r.skipped != "" || r.failed != nil || ctx.Err() != nil {
			continue
		}
		r.fanout, r.failed = fanoutBus(ctx, o, r.cfg)
		if r.failed != nil {
			errs = append(errs, fmt.Errorf("buses: %s: fan-out: %w", r.kind.id, r.failed))
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	sec.Intro = intro(o)
	addSection(&sec, o, runs, baseline)
	sec.Elapsed = time.Since(start).Seconds()
	return sec, errors.Join(errs...)
}

func busIDs() []string {
	ids := make([]string, len(allBuses))
	for i, b := range allBuses {
		ids[i] = b.id
	}
	return ids
}

func intro(o Options) string {
	return fmt.Sprintf("Every bus that carries fresh's invalidations between processes, measured the same way in the same run: "+
		"Redis Streams and Pub/Sub (freshredis), a SQLite file (freshsqlite), PostgreSQL (freshpg), NATS core and NATS "+
		"JetStream (freshnats). For each, how soon after a writer's `Invalidate` returns every one of %d peer processes "+
		"refuses the old value, at %s background invalidations per second, and the CPU a subscribed follower process uses "+
		"over %s while nothing is published. Servers on loopback: Redis %s, PostgreSQL %s, NATS %s. Targets: **SQLite p99 ≤ "+
		"2 ms; Redis p99 ≤ 0.3 ms on loopback**. Child processes are this executable started again. GOMAXPROCS=%d.",
		o.Peers, joinRates(o.Rates), fmtDur(o.IdleTime), redactURL(o.RedisURL), redactURL(o.PostgresURL), redactURL(o.NATSURL),
		runtime.GOMAXPROCS(0))
}

func joinRates(rates []int) string {
	s := make([]string, len(rates))
	for i, r := range rates {
		s[i] = fmtRate(float64(r))
	}
	return strings.Join(s, ", ")
}
