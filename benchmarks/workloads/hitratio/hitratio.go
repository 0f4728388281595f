// Package hitratio is workload 2 of the benchmarks: the hit ratio of each cache on
// the standard traces of ../shared/traces (OLTP, P3, Glimpse, Mixed, Scarab) and on
// a generated Zipf trace, at the capacities the anchor projects report, and the hit
// ratio of fresh when a share of the accesses invalidate a tag (invalidation churn).
//
// Method (the traces' README): one goroutine replays a trace against one cache; each
// access is a Get, and a miss is followed by a Set of the same key. Hit ratio = hits
// / accesses. Replays of different caches and capacities run side by side on
// Options.Workers goroutines, each replay on its own cache.
package hitratio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// Options configure Run.
type Options struct {
	// Short replays Glimpse, Mixed and Zipf at two capacities each, with churn at
	// one, and skips OLTP, P3 and Scarab.
	Short bool
	// TraceDir is the directory holding the traces (arc/, lirs/, corda/, scarab/).
	// Default: $FRESH_TRACES, or the nearest shared/traces above the working
	// directory.
	TraceDir string
	// Traces names the traces to replay: OLTP, P3, Glimpse, Mixed, Scarab, Zipf.
	// Default all (with Short, Glimpse, Mixed and Zipf).
	Traces []string
	// AllCapacities measures P3 at all eight capacities of the README instead of
	// four (it is the longest trace). Default false.
	AllCapacities bool
	// Caches names the configurations to compare (see caches.All). Default fresh,
	// otter, theine, ristretto, sturdyc, ttlcache and xsync.Map. The references are
	// always added (see caches.WithReferences).
	Caches []string
	// NoWait replays ristretto and gocache without waiting after each Set: what an
	// application that reads a key again at once gets. Default false: Wait is called
	// after each Set, so that their ratios show their policy.
	NoWait bool
	// Repeats is how many times fresh and otter (and fresh-ttl and otter-expiry,
	// when asked for) replay a trace at capacities up to 2000 entries, where
	// W-TinyLFU's results vary by points from run to run (otter seeds its hash and
	// its admission at random); the tables show the mean. Default 3.
	Repeats int
	// ChurnRates are the shares of accesses that invalidate a tag in the churn
	// variant (fresh only). Default 0.01 and 0.05.
	ChurnRates []float64
	// ChurnGroup is how many consecutive keys share one tag. Default 16.
	ChurnGroup int
	// Workers is how many replays run at once. Default GOMAXPROCS.
	Workers int

	zipfAccesses int // length of the Zipf trace; zipfAccesses unless a test shrinks it
}

var defaultCaches = []string{
	caches.Fresh, caches.Otter, caches.Theine, caches.Ristretto, caches.Sturdyc,
	caches.Ttlcache, caches.Xsync,
}

// randomized lists the caches whose replays are repeated (see Options.Repeats):
// fresh and otter, whose comparison is the point, with and without expiry.
var randomized = []string{caches.Fresh, caches.FreshTTL, caches.Otter, caches.OtterExpiry}

func (o *Options) defaults() error {
	if o.TraceDir == "" {
		d, err := findTraces()
		if err != nil {
			return err
		}
		o.TraceDir = d
	}
	if len(o.Caches) == 0 {
		o.Caches = slices.Clone(defaultCaches)
	}
	o.Caches = caches.WithReferences(o.Caches)
	if o.Repeats == 0 {
		o.Repeats = 3
	}
	if len(o.ChurnRates) == 0 {
		o.ChurnRates = []float64{0.01, 0.05}
	}
	if o.ChurnGroup == 0 {
		o.ChurnGroup = 16
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.zipfAccesses == 0 {
		o.zipfAccesses = zipfAccesses
	}
	return nil
}

// findTraces returns $FRESH_TRACES or the nearest shared/traces directory above the
// working directory.
func findTraces() (string, error) {
	if d := os.Getenv("FRESH_TRACES"); d != "" {
		return d, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		t := filepath.Join(d, "shared", "traces")
		if _, err := os.Stat(filepath.Join(t, "README.md")); err == nil {
			return t, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("hitratio: no shared/traces above the working directory; set FRESH_TRACES or Options.TraceDir")
		}
		d = parent
	}
}

// selected returns the traces of o, with the capacities to measure.
func (o *Options) selected() ([]trace, error) {
	all := traces()
	names := o.Traces
	if len(names) == 0 {
		for _, t := range all {
			if !o.Short || len(t.short) > 0 {
				names = append(names, t.name)
			}
		}
	}
	var out []trace
	for _, name := range names {
		i := slices.IndexFunc(all, func(t trace) bool { return t.name == name })
		if i < 0 {
			return nil, fmt.Errorf("hitratio: unknown trace %q", name)
		}
		t := all[i]
		switch {
		case o.Short && len(t.short) > 0:
			t.capacities = t.short
		case o.Short:
			t.capacities = []int{t.capacities[0], t.capacities[len(t.capacities)/2]}
		case len(t.full) > 0 && !o.AllCapacities:
			t.capacities = t.full
		}
		out = append(out, t)
	}
	return out, nil
}

// churnCapacity is the capacity at which the churn variant runs: the middle one.
func churnCapacity(t trace) int { return t.capacities[len(t.capacities)/2] }

// A job is one replay, or the replays of one churn case.
type job struct {
	trace, capacity int
	cache           int // index into specs; -1 for churn
	run             int
}

// A cell identifies a replay's result (run 0 for churn). It has the fields of a
// job, so cell(j) names the result of j.
type cell struct {
	trace, capacity, cache, run int
}

type outcome struct {
	hits  int
	churn []churnResult
	err   error
}

// Run replays every trace against every cache of o and returns the section for
// BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	if err := o.defaults(); err != nil {
		return report.Section{}, err
	}
	specs, err := caches.Lookup(o.Caches...)
	if err != nil {
		return report.Section{}, err
	}
	ts, err := o.selected()
	if err != nil {
		return report.Section{}, err
	}
	streams := make([][]uint64, len(ts))
	for i, t := range ts {
		if t.name == "Zipf" {
			streams[i] = zipfTrace(o.zipfAccesses)
			continue
		}
		if streams[i], err = t.load(o.TraceDir); err != nil {
			return report.Section{}, err
		}
	}

	var jobs []job
	for ti, t := range ts {
		for _, c := range t.capacities {
			for si, sp := range specs {
				for run := range runs(o, c, sp) {
					jobs = append(jobs, job{trace: ti, capacity: c, cache: si, run: run})
				}
			}
		}
		if t.churn {
			jobs = append(jobs, job{trace: ti, capacity: churnCapacity(t), cache: -1})
		}
	}
	// The longest first, so that the workers finish together: churn replays cost
	// several plain ones, and a replay costs about its trace's length.
	cost := func(j job) int {
		n := len(streams[j.trace])
		if j.cache < 0 {
			n *= 4 * (len(o.ChurnRates) + 1)
		}
		return n
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(cost(b), cost(a)) })

	results := make(map[cell]outcome, len(jobs))
	var mu sync.Mutex
	ch := make(chan job)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for j := range ch {
				out := runJob(j, specs, streams[j.trace], o)
				mu.Lock()
				results[cell(j)] = out
				mu.Unlock()
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return report.Section{}, err
	}
	var errs []error
	for _, out := range results {
		errs = append(errs, out.err)
	}
	if err := errors.Join(errs...); err != nil {
		return report.Section{}, err
	}
	return section(o, ts, streams, specs, results, time.Since(start)), nil
}

// smallCapacity is the largest capacity at which the randomized caches replay a
// trace Options.Repeats times.
const smallCapacity = 2000

// runs returns how many times sp replays a trace at capacity c.
func runs(o Options, c int, sp caches.Spec) int {
	if c <= smallCapacity && slices.Contains(randomized, sp.Name) {
		return o.Repeats
	}
	return 1
}

func runJob(j job, specs []caches.Spec, keys []uint64, o Options) outcome {
	if j.cache < 0 {
		r, err := churn(keys, j.capacity, o.ChurnRates, uint64(o.ChurnGroup))
		return outcome{churn: r, err: err}
	}
	s := specs[j.cache]
	c, err := s.New(j.capacity)
	if err != nil {
		return outcome{err: fmt.Errorf("hitratio: %s: %w", s.Name, err)}
	}
	wait := !o.NoWait && (s.Name == caches.Ristretto || s.Name == caches.Gocache)
	hits := replay(c, keys, wait)
	return outcome{hits: hits, err: c.Close()}
}
