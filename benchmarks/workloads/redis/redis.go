// Package redis is the Redis workload of the benchmarks: fresh with its Redis tier
// (github.com/freshcache/fresh/freshredis: the shared Store and the two Buses)
// against Redis clients with client-side caching and against Redis-backed caches,
// side by side in one run on one Redis (FRESH_REDIS_URL, default
// redis://127.0.0.1:6379/0). It makes four measurements:
//
//  1. L1 hit with Redis attached: a fresh cache on a hub with the Redis Store and
//     a StreamBus, the value already cached, against rueidis DoCache and go-redis
//     with its client-side cache (both RESP3 client tracking); ops/s at 8
//     goroutines (hit.go).
//  2. L1 miss, L2 hit: the value is in Redis and the local tier is empty, against
//     go-redis/cache with its local cache off and eko/gocache's Redis store; p50 and
//     p99 of one goroutine's reads (l2.go).
//  3. Fan-out: from a writer's Invalidate returning until every one of 3 peer hubs,
//     each in a child OS process, refuses the old value, at 0, 1k and 10k
//     background invalidations per second, over a StreamBus and a PubSubBus
//     (fanout.go).
//  4. Stampede across 4 processes: 1000 concurrent misses of one key, 250
//     goroutines in each of 4 child processes, a 50 ms loader; origin calls and p99,
//     against go-redis/cache, whose single flight is in-process only (stampede.go).
//
// The child processes run the current executable again (os.Executable) with the
// environment variable FRESHBENCH_REDIS_CHILD set, and talk to the parent in JSON
// lines over their stdin and stdout (child.go). A command that calls Run must hand
// over to Child at the top of main, before anything else:
//
//	func main() {
//		if redis.IsChild() {
//			redis.Child()
//			return
//		}
//		...
//	}
//
// Tests that call Run need the same lines in TestMain (see redis_test.go).
//
// When Redis does not answer, Run returns a section that says "skipped: no Redis"
// and no error, so that the rest of the report is still written.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/freshcache/fresh/benchmarks/report"
)

// EnvURL is the environment variable naming the Redis server; DefaultURL is used
// when it is not set.
const (
	EnvURL     = "FRESH_REDIS_URL"
	DefaultURL = "redis://127.0.0.1:6379/0"
)

// The parts of the workload, for Options.Parts.
const (
	PartHit      = "hit"
	PartL2       = "l2"
	PartFanout   = "fanout"
	PartStampede = "stampede"
)

var allParts = []string{PartHit, PartL2, PartFanout, PartStampede}

// Options configure Run. The zero value is the full run.
type Options struct {
	// Short runs every part briefly (under 15 s in all on 2 cores), for a quick look.
	Short bool
	// URL is the Redis server, a redis:// URL of a single server. Default the
	// environment variable FRESH_REDIS_URL, or DefaultURL.
	URL string
	// Parts lists the measurements to make (PartHit, PartL2, PartFanout,
	// PartStampede). Default all.
	Parts []string

	// HitGoroutines is how many goroutines read in the L1 hit measurement. Default 8.
	HitGoroutines int
	// HitTime is how long each library is measured in the L1 hit measurement, per
	// repetition. Default 300ms (Short: 150ms).
	HitTime time.Duration
	// HitCount is how many times the libraries are measured, round-robin; the median
	// is reported. Default 5 (Short: 1).
	HitCount int

	// L2Reads is how many reads of each library the L2 hit latencies are taken
	// from. Default 10,000 (Short: 2,000).
	L2Reads int

	// FanoutRounds is how many invalidations are timed per bus and background rate.
	// Default 300 (Short: 60).
	FanoutRounds int
	// FanoutRates are the background invalidations per second. Default 0, 1000 and
	// 10,000.
	FanoutRates []int
	// Peers is how many peer processes must refuse the old value. Default 3.
	Peers int

	// StampedeProcs is how many processes miss the key together. Default 4.
	StampedeProcs int
	// StampedeGoroutines is how many goroutines of each process miss it. Default 250.
	StampedeGoroutines int
	// StampedeLoad is how long the loader takes. Default 50ms.
	StampedeLoad time.Duration
	// StampedeRounds is how many cold keys each library is tried on. Default 10
	// (Short: 3).
	StampedeRounds int
}

func (o *Options) defaults() {
	if o.URL == "" {
		o.URL = os.Getenv(EnvURL)
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if len(o.Parts) == 0 {
		o.Parts = allParts
	}
	setDefault(&o.HitGoroutines, 8)
	setDefault(&o.HitTime, pick(o.Short, 150*time.Millisecond, 300*time.Millisecond))
	setDefault(&o.HitCount, pick(o.Short, 1, 5))
	setDefault(&o.L2Reads, pick(o.Short, 2_000, 10_000))
	setDefault(&o.FanoutRounds, pick(o.Short, 60, 300))
	if len(o.FanoutRates) == 0 {
		o.FanoutRates = []int{0, 1_000, 10_000}
	}
	setDefault(&o.Peers, 3)
	setDefault(&o.StampedeProcs, 4)
	setDefault(&o.StampedeGoroutines, 250)
	setDefault(&o.StampedeLoad, 50*time.Millisecond)
	setDefault(&o.StampedeRounds, pick(o.Short, 3, 10))
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// Title is the heading of the section.
const Title = "Redis tier"

// Run makes the measurements of o and returns the section of BENCHMARKS.md. When
// Redis does not answer at o.URL, the section says so and the error is nil.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	for _, p := range o.Parts {
		if !slices.Contains(allParts, p) {
			return report.Section{}, fmt.Errorf("redis: unknown part %q (known: %s)", p, strings.Join(allParts, ", "))
		}
	}
	sec := report.Section{ID: "redis", Title: Title}
	env, err := connect(ctx, o.URL)
	if err != nil {
		sec.Intro = fmt.Sprintf("**skipped: no Redis** at %s (%s).", redactURL(o.URL), firstLine(err.Error()))
		sec.Notes = []string{fmt.Sprintf("Start Redis (scripts/services.sh) or set %s, then run `make bench` again.", EnvURL)}
		sec.Elapsed = time.Since(start).Seconds()
		return sec, nil
	}
	defer env.close()
	sec.Intro = intro(o, env)

	var errs []error
	run := func(part string, f func() error) {
		if !slices.Contains(o.Parts, part) || ctx.Err() != nil {
			return
		}
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("redis: %s: %w", part, err))
		}
	}
	run(PartHit, func() error { return runHit(ctx, env, o, &sec) })
	run(PartL2, func() error { return runL2(ctx, env, o, &sec) })
	run(PartFanout, func() error { return runFanout(ctx, env, o, &sec) })
	run(PartStampede, func() error { return runStampede(ctx, env, o, &sec) })
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	sec.Elapsed = time.Since(start).Seconds()
	return sec, errors.Join(errs...)
}

func intro(o Options, env *env) string {
	return fmt.Sprintf("fresh with its Redis tier (freshredis: the shared Store, a StreamBus or a PubSubBus, on go-redis) "+
		"against Redis clients with client-side caching (rueidis, go-redis) and Redis-backed caches (go-redis/cache, "+
		"eko/gocache), all on the same Redis %s at %s, in the same run. Four measurements: the in-process hit with Redis "+
		"attached; the read that misses in process and hits in Redis; how soon after a writer's Invalidate returns every "+
		"peer process refuses the old value; and a stampede of %d processes on one cold key. Ratios are fresh divided by "+
		"the competitor in the same table. Child processes are this executable started again. GOMAXPROCS=%d.",
		env.version, redactURL(o.URL), o.StampedeProcs, runtime.GOMAXPROCS(0))
}

// An env is the connection the parent process measures through, and the names of
// this run's keys.
type env struct {
	url     string
	opts    *goredis.Options
	client  *goredis.Client
	version string
	run     string // unique per Run: every key of the run contains it
}

// connect checks that Redis answers at rawURL and returns a client for it.
func connect(ctx context.Context, rawURL string) (*env, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s is not a single-server redis:// URL: %w", redactURL(rawURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// A plain dial first: go-redis would retry a refused connection and log each try.
	var d net.Dialer
	conn, err := d.DialContext(pctx, opts.Network, opts.Addr)
	if err != nil {
		return nil, err
	}
	_ = conn.Close() // only the dial mattered
	c := goredis.NewClient(opts)
	info, err := c.Info(pctx, "server").Result()
	if err != nil {
		_ = c.Close() // the error to report is err
		return nil, err
	}
	version := "(unknown version)"
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = v
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return &env{url: rawURL, opts: opts, client: c, version: version, run: "bench-" + hex.EncodeToString(b)}, nil
}

// newClient returns a new client on the env's server; options may adjust a copy of
// its options first.
func (e *env) newClient(adjust func(*goredis.Options)) *goredis.Client {
	o := *e.opts
	if adjust != nil {
		adjust(&o)
	}
	return goredis.NewClient(&o)
}

// ns returns the namespace of one part of this run.
func (e *env) ns(part string) string { return e.run + "-" + part }

// close deletes the run's keys and closes the client.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pattern := range []string{"fresh:v1:{" + e.run + "-*", keyPrefix(e.run) + "*"} {
		iter := e.client.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				e.client.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			e.client.Unlink(ctx, batch...)
		}
	}
	_ = e.client.Close() // nothing to do about it at the end of the run
}

// keyPrefix is the prefix of the keys the competitors and the checks use in run.
func keyPrefix(run string) string { return "freshbench:" + run + ":" }

// redactURL hides a password in a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// percentile returns the nearest-rank percentile p of sorted.
func percentile[T int64 | time.Duration](sorted []T, p float64) T {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs (the lower middle for an even count).
func median[T int | int64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// fmtDur formats d with three significant digits, with a sign when negative.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	case d >= time.Microsecond:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	}
}

// fmtRate formats operations per second.
func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}

// ratio formats a/b as "12.3×", or "–" when it cannot be computed.
func ratio(a, b float64) string {
	if b == 0 || a != a || b != b {
		return "–"
	}
	r := a / b
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}
