// Package hitratio is workload 2 of the benchmarks: the hit ratio of each cache on
// the standard traces of ../shared/traces (OLTP, P3, Glimpse, Mixed, Scarab) and on
// a generated Zipf trace, at the capacities the anchor projects report, and the hit
// ratio of fresh when a share of the accesses invalidate a tag (invalidation churn).
//
// Method (the traces' README): one goroutine replays a trace against one cache; each
// access is a Get, and a miss is followed by a Set of the same key. Hit ratio = hits
// / accesses. Each trace is replayed in two ways:
//
//   - policy: every cache is built synchronous (caches.Spec.Build with sync), so
//     that each access has reached its eviction policy, and the evictions it
//     causes are made, before the next one. The figures then depend on the policy
//     alone, not on how far a background goroutine lags behind the replay, so
//     replays of different caches run side by side on Options.Workers goroutines.
//     The caches that seed their hashing or admission at random (caches.Spec.Seeded)
//     are replayed several times: a few times each, then fresh and the peers in
//     contention for the lead more (Options.Runs at small capacities,
//     Options.LargeRuns above; see plan.topUp).
//   - deployed: the caches whose bookkeeping is asynchronous (those with a
//     caches.Spec.NewSync), built as by default and never waited for, replayed one
//     at a time so that their background goroutines have the machine to themselves.
//
// Bélády's optimum (OPT, opt.go) bounds every policy figure from above (the
// deployed ones can exceed it) and plain LRU (lru.go) is the floor; both are
// computed once per capacity.
package hitratio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
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
	// the default few (it is the longest trace). Default false.
	AllCapacities bool
	// Caches names the configurations to compare (see caches.All). Default fresh,
	// otter, theine, ristretto, sturdyc, ttlcache and xsync.Map. The references are
	// always added (see caches.WithReferences).
	Caches []string
	// FirstRuns is how many times each seeded cache (caches.Spec.Seeded) replays a
	// trace at each capacity up to SmallCapacity for the policy table, before the
	// peers in contention for the lead are known; above SmallCapacity, where runs
	// differ little, it replays it once. Default 2.
	FirstRuns int
	// Runs is how many times, at capacities up to SmallCapacity, where runs differ
	// the most, fresh and each seeded peer in contention for the lead (see
	// contention) replay a trace for the policy table, first runs included.
	// Default 10; with Short, 3.
	Runs int
	// LargeRuns is the same above SmallCapacity. Default 2.
	LargeRuns int
	// DeployedRuns is how many times each cache replays a trace as deployed.
	// Default 1.
	DeployedRuns int
	// ChurnRates are the shares of accesses that invalidate a tag in the churn
	// variant (fresh only). Default 0.01 and 0.05.
	ChurnRates []float64
	// ChurnGroup is how many consecutive keys share one tag. Default 16.
	ChurnGroup int
	// Workers is how many policy replays run at once. Default GOMAXPROCS. The
	// deployed replays always run one at a time.
	Workers int

	zipfAccesses int // length of the Zipf trace; zipfAccesses unless a test shrinks it
}

// SmallCapacity is the largest capacity at which fresh and its contenders replay a
// trace Options.Runs times for the policy table.
const SmallCapacity = 2000

// contention is how close, in points, a seeded peer's mean after its first runs
// must be to the best peer's for it to be replayed Options.Runs (or LargeRuns)
// times: the peers further behind cannot be the best peer, whose noise is what the
// tie rule weighs.
const contention = 1.5

// firstRuns returns how many times a seeded cache replays a trace at capacity c
// before the contenders are known.
func (o *Options) firstRuns(c int) int {
	if c <= SmallCapacity {
		return o.FirstRuns
	}
	return 1
}

// topRuns returns how many times fresh and its contenders replay a trace at
// capacity c.
func (o *Options) topRuns(c int) int {
	if c <= SmallCapacity {
		return o.Runs
	}
	return o.LargeRuns
}

var defaultCaches = []string{
	caches.Fresh, caches.Otter, caches.Theine, caches.Ristretto, caches.Sturdyc,
	caches.Ttlcache, caches.Xsync,
}

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
	if o.Runs == 0 {
		o.Runs = 10
		if o.Short {
			o.Runs = 3
		}
	}
	if o.FirstRuns == 0 {
		o.FirstRuns = 2
	}
	o.Runs = max(o.Runs, o.FirstRuns)
	if o.LargeRuns == 0 {
		o.LargeRuns = 2
	}
	if o.DeployedRuns == 0 {
		o.DeployedRuns = 1
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
		if o.Short || o.AllCapacities {
			t.deployed = nil // every capacity measured
		}
		out = append(out, t)
	}
	return out, nil
}

// churnCapacity is the capacity at which the churn variant runs: the middle one.
func churnCapacity(t trace) int { return t.capacities[len(t.capacities)/2] }

// A kind of job.
type kind uint8

const (
	policyReplay   kind = iota // a synchronous instance of a cache (policy table)
	deployedReplay             // an instance as built by default (deployed table)
	optRun                     // Bélády's optimum
	lruRun                     // plain LRU
	churnRun                   // fresh with invalidation churn, every rate
)

// A job is one replay, or the replays of one churn case. It also names the result.
type job struct {
	kind            kind
	trace, capacity int
	cache           int // index into specs, for policyReplay and deployedReplay
	run             int
}

type outcome struct {
	hits  int
	held  int // most entries held, sampled (see replay); -1 when unknown
	churn []churnResult
	// readsSeen is how many reads reached the cache's policy, or -1 when the
	// cache does not count them (caches.ReadCounter).
	readsSeen int64
	err       error
}

// A cell is one cache, or OPT or LRU (cache 0), on one trace at one capacity in one
// table.
type cell struct {
	kind            kind // policyReplay, deployedReplay, optRun or lruRun
	trace, capacity int
	cache           int
}

func (c cell) job(run int) job {
	return job{kind: c.kind, trace: c.trace, capacity: c.capacity, cache: c.cache, run: run}
}

// A plan is what Run measures: the traces, their accesses, the caches, and how many
// runs each cell has.
type plan struct {
	o       Options
	traces  []trace
	streams [][]uint64
	specs   []caches.Spec
	runs    map[cell]int
}

// deployed reports whether the cache si has a deployed configuration of its own
// (one whose bookkeeping is asynchronous).
func (p *plan) deployed(si int) bool { return p.specs[si].NewSync != nil }

// add appends to jobs the runs that bring c to n runs.
func (p *plan) add(jobs []job, c cell, n int) []job {
	for run := p.runs[c]; run < n; run++ {
		jobs = append(jobs, c.job(run))
	}
	p.runs[c] = max(p.runs[c], n)
	return jobs
}

// jobs lists the first policy jobs (run side by side) and the deployed ones (one at
// a time).
func (p *plan) jobs() (policy, deployed []job) {
	p.runs = map[cell]int{}
	for ti, t := range p.traces {
		for _, c := range t.capacities {
			policy = p.add(policy, cell{kind: optRun, trace: ti, capacity: c}, 1)
			policy = p.add(policy, cell{kind: lruRun, trace: ti, capacity: c}, 1)
			for si, sp := range p.specs {
				n := 1
				if sp.Seeded {
					n = p.o.firstRuns(c)
				}
				policy = p.add(policy, cell{kind: policyReplay, trace: ti, capacity: c, cache: si}, n)
			}
		}
		for _, c := range t.deployedCapacities() {
			for si := range p.specs {
				if p.deployed(si) {
					deployed = p.add(deployed, cell{kind: deployedReplay, trace: ti, capacity: c, cache: si}, p.o.DeployedRuns)
				}
			}
		}
		if t.churn {
			policy = append(policy, job{kind: churnRun, trace: ti, capacity: churnCapacity(t)})
		}
	}
	p.longestFirst(policy)
	return policy, deployed
}

// topUp lists the policy jobs that bring to Options.topRuns runs the
// configurations of fresh and the seeded peers within contention points of the
// best peer after their first runs.
func (p *plan) topUp(res map[job]outcome) []job {
	var more []job
	peers := p.peers()
	for ti, t := range p.traces {
		for _, c := range t.capacities {
			best := math.Inf(-1)
			for _, si := range peers {
				best = max(best, p.estimate(res, cell{kind: policyReplay, trace: ti, capacity: c, cache: si}).mean)
			}
			for si, sp := range p.specs {
				if !sp.Seeded {
					continue
				}
				pc := cell{kind: policyReplay, trace: ti, capacity: c, cache: si}
				if sp.Fresh || slices.Contains(peers, si) && p.estimate(res, pc).mean >= best-contention {
					more = p.add(more, pc, p.o.topRuns(c))
				}
			}
		}
	}
	p.longestFirst(more)
	return more
}

// longestFirst sorts jobs by decreasing cost, so that the workers finish together:
// a churn job replays its trace once per rate and once without, with dependencies;
// OPT and LRU cost a fraction of a replay.
func (p *plan) longestFirst(jobs []job) {
	cost := func(j job) int {
		n := len(p.streams[j.trace])
		switch j.kind {
		case churnRun:
			n *= 2 * (len(p.o.ChurnRates) + 1)
		case optRun, lruRun:
			n /= 4
		}
		return n
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(cost(b), cost(a)) })
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
	p := &plan{o: o, traces: ts, specs: specs, streams: make([][]uint64, len(ts))}
	for i, t := range ts {
		if t.name == "Zipf" {
			p.streams[i] = zipfTrace(o.zipfAccesses)
			continue
		}
		if p.streams[i], err = t.load(o.TraceDir); err != nil {
			return report.Section{}, err
		}
	}
	// The next uses OPT needs, computed once per trace by the first OPT job.
	nexts := make([]func() ([]int32, error), len(ts))
	for i := range ts {
		nexts[i] = sync.OnceValues(func() ([]int32, error) { return nextUses(p.streams[i]) })
	}
	do := func(j job) outcome {
		keys := p.streams[j.trace]
		switch j.kind {
		case optRun:
			next, err := nexts[j.trace]()
			if err != nil {
				return outcome{err: err}
			}
			return outcome{hits: optHits(next, j.capacity, bypass), held: -1}
		case lruRun:
			return outcome{hits: lruHits(keys, j.capacity), held: -1}
		case churnRun:
			r, err := churn(keys, j.capacity, o.ChurnRates, uint64(o.ChurnGroup))
			return outcome{churn: r, err: err}
		}
		s := specs[j.cache]
		c, err := s.Build(j.capacity, j.kind == policyReplay)
		if err != nil {
			return outcome{err: fmt.Errorf("hitratio: %s: %w", s.Name, err)}
		}
		out := outcome{readsSeen: -1}
		out.hits, out.held = replay(c, keys)
		if rc, ok := c.(caches.ReadCounter); ok {
			out.readsSeen = int64(rc.ReadsSeen())
		}
		out.err = c.Close()
		return out
	}

	policy, deployed := p.jobs()
	results := make(map[job]outcome, len(policy)+len(deployed))
	sideBySide(ctx, o.Workers, policy, do, results)
	if ctx.Err() == nil {
		sideBySide(ctx, o.Workers, p.topUp(results), do, results)
	}
	// The deployed replays, one at a time: a cache's background goroutines would
	// compete with another replay for the processors, and how far they lag behind
	// is what these replays show.
	for _, j := range deployed {
		if ctx.Err() != nil {
			break
		}
		results[j] = do(j)
	}
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
	return section(p, results, time.Since(start)), nil
}

// sideBySide runs jobs on workers goroutines and records their outcomes in results,
// until ctx is done.
func sideBySide(ctx context.Context, workers int, jobs []job, do func(job) outcome, results map[job]outcome) {
	var mu sync.Mutex
	ch := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range ch {
				out := do(j)
				mu.Lock()
				results[j] = out
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
}
