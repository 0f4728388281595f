// Package race is workload 6 of the benchmarks: the load-versus-invalidate race, run
// against every competitor with its own idiomatic calls for "load on miss" and
// "invalidate".
//
// The procedure, per competitor and trial, on a fresh cache and one key:
//
//  1. The source holds v0. Reader A misses; its loader reads v0 and then blocks.
//  2. The source becomes v1 and the key is invalidated. If the invalidation call has
//     not returned within Options.BlockWindow while the loader is still blocked, it
//     blocked.
//  3. Reader B arrives. It is given Options.JoinWindow to finish on its own; if it is
//     still waiting then, it joined the blocked load (or queued behind it).
//  4. The loader is released and every call is waited for.
//  5. The key is read once more with a plain read of the cache (no load): the value
//     cached afterwards, or absent.
//
// A library is correct when, in every trial, B got v1, the cache afterwards holds v1
// or nothing, and the invalidation did not block. A's own value is reported but not
// judged: A's read overlapped the write, so either value is a valid answer for it.
// fresh promises exactly this (guarantees G0 and G0'); a fresh row that is not
// correct is a bug in fresh, and the section says so first.
package race

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

// Options configure the workload. The zero value is the full run.
type Options struct {
	// Short runs fewer trials, for a quick look.
	Short bool
	// Trials is how many times the procedure runs per competitor. Default 10 (Short: 3).
	Trials int
	// BlockWindow is how long the invalidation call may take, while the loader is
	// blocked, before it counts as blocked. Default 100ms.
	BlockWindow time.Duration
	// JoinWindow is how long reader B is given to finish before the loader is
	// released. Default 100ms.
	JoinWindow time.Duration
	// Quiet is a pause given to a library's background goroutines to apply the
	// writes they received (after its own sync call, if it has one), before the loader
	// is released and before the final read. Default 10ms.
	Quiet time.Duration
	// HangTimeout bounds every other wait of a trial; a call still running then is
	// reported as hung. Default 5s.
	HangTimeout time.Duration
	// Only, when not empty, restricts the run to the competitors of these names
	// (see the rows of the table).
	Only []string
}

func (o Options) withDefaults() Options {
	if o.Trials <= 0 {
		o.Trials = 10
		if o.Short {
			o.Trials = 3
		}
	}
	if o.BlockWindow <= 0 {
		o.BlockWindow = 100 * time.Millisecond
	}
	if o.JoinWindow <= 0 {
		o.JoinWindow = 100 * time.Millisecond
	}
	if o.Quiet <= 0 {
		o.Quiet = 10 * time.Millisecond
	}
	if o.HangTimeout <= 0 {
		o.HangTimeout = 5 * time.Second
	}
	return o
}

// The values of the source before and after the write, and what a plain read of an
// empty cache reports.
const (
	v0     = "v0"
	v1     = "v1"
	absent = "absent"
	key    = "k"
)

// Run runs the workload and returns its section of BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o = o.withDefaults()
	sec := report.Section{
		ID:    "race",
		Title: "Load versus invalidate",
		Intro: fmt.Sprintf("A reader misses and its loader reads **v0**, then blocks. The source becomes **v1** "+
			"and the key is invalidated (the call counts as blocked if it has not returned within %v while the loader "+
			"is still blocked). A second reader B arrives and is given %v to finish on its own (if it is still waiting, "+
			"it joined the old load). The loader is released, and a plain read of the cache (no load) tells what stayed "+
			"cached. Correct means: B got v1, v1 or nothing is cached afterwards, and the invalidation did not block, "+
			"in every one of %d trials per library. A's own value is shown but not judged: its read overlapped the write.",
			o.BlockWindow, o.JoinWindow, o.Trials),
	}
	tab := report.Table{
		Title:   "Outcome per library",
		Columns: []string{"library", "A got", "B got", "B waited for the old load", "cached afterwards", "invalidation blocked", "loader calls", "verdict"},
	}
	var notes []string
	var freshBug, storedAfter []string
	for _, s := range subjects() {
		if len(o.Only) > 0 && !slices.Contains(o.Only, s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return sec, err
		}
		outs := make([]outcome, 0, o.Trials)
		for range o.Trials {
			out, err := trial(ctx, s, o)
			if err != nil {
				return sec, fmt.Errorf("race: %s: %w", s.name, err)
			}
			outs = append(outs, out)
		}
		row := summarize(s.name, outs)
		if s.fresh && !row.correct {
			freshBug = append(freshBug, fmt.Sprintf("%s: %s", s.name, row.cells[len(row.cells)-1]))
			row.cells[len(row.cells)-1] = "**BUG in fresh**: " + row.cells[len(row.cells)-1]
		}
		if row.storedAfter > 0 {
			storedAfter = append(storedAfter, s.name)
		}
		tab.Rows = append(tab.Rows, row.cells)
		notes = append(notes, fmt.Sprintf("**%s**: %s", s.name, s.calls))
		if s.explain != nil {
			if n := s.explain(outs); n != "" {
				notes = append(notes, n)
			}
		}
	}
	if len(freshBug) > 0 {
		notes = append([]string{"**fresh is not correct in this workload; this is a bug in fresh** (" +
			strings.Join(freshBug, "; ") + "). Guarantees G0 and G0' promise B gets v1, nothing stale stays cached, " +
			"and Invalidate never waits for a loader."}, notes...)
	}
	if len(storedAfter) > 0 {
		notes = append(notes, strings.Join(storedAfter, ", ")+": the invalidation returned at once but had nothing to "+
			"delete, since the old load had not stored its value yet; when released, the load stored v0, read before "+
			"the write (over the v1 stored by B where B loaded on its own), and nothing removes it until it expires "+
			"or is evicted.")
	}
	notes = append(notes,
		"Caches without a loader API (ristretto) are driven the way their users write it: Get, on a miss load, then Set.",
		fmt.Sprintf("Writes a library applies asynchronously (ristretto's and theine's buffers, gocache's loadable setter) "+
			"are given time to land, with the library's own call where it has one (ristretto and theine `Wait()`, gocache "+
			"`Close()` before the final read) and a %v pause: after B finishes on its own, so that its write lands before the "+
			"old load ends, as it would with a slow loader, and before the final read.", o.Quiet),
		fmt.Sprintf("*B waited for the old load* is yes when B had not returned %v after it started, while the old loader "+
			"was still blocked: it joined that load, or queued behind a lock the load holds.", o.JoinWindow))
	sec.Tables = []report.Table{tab}
	sec.Notes = notes
	sec.Elapsed = time.Since(start).Seconds()
	return sec, nil
}

// A subject is one library under test: new builds a fresh instance around the
// loader, which reads the source (and blocks the first time it is called).
type subject struct {
	name  string
	calls string // the exact calls used, for the notes
	fresh bool   // a row of fresh itself, which must be correct
	// explain returns a note on the outcomes, or "".
	explain func([]outcome) string
	new     func(load loadFunc) (*instance, error)
}

// A loadFunc reads the source for the key.
type loadFunc func(ctx context.Context) (string, error)

// An instance is one cache of a subject, with the key fixed.
type instance struct {
	read       func(ctx context.Context) (string, error) // the library's load-on-miss read
	invalidate func(ctx context.Context) error
	peek       func() (string, bool) // a plain read: never loads
	// sync waits for the writes the library applies asynchronously (buffers, setter
	// goroutines), leaving the cache usable; nil when it has none.
	sync func()
	// settle is the final wait before the last read; it may shut the cache's
	// background work down. nil means sync.
	settle func()
	close  func()
}

// A source is the data the loader reads. Its first read blocks until released.
type source struct {
	val     atomic.Pointer[string]
	calls   atomic.Int32
	started chan struct{} // closed once the first read has read the value
	release chan struct{}
}

func newSource() *source {
	s := &source{started: make(chan struct{}), release: make(chan struct{})}
	s.set(v0)
	return s
}

func (s *source) set(v string) { s.val.Store(&v) }

func (s *source) load(ctx context.Context) (string, error) {
	v := *s.val.Load()
	if s.calls.Add(1) == 1 {
		close(s.started)
		select {
		case <-s.release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return v, nil
}

// An outcome is what one trial observed.
type outcome struct {
	a, b    string
	bWaited bool
	cached  string
	blocked bool
	calls   int
}

type result struct {
	v   string
	err error
}

func (r result) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return r.v
}

var errHung = errors.New("hung")

// trial runs the procedure once on a new instance of s.
func trial(ctx context.Context, s subject, o Options) (out outcome, err error) {
	src := newSource()
	inst, err := s.new(src.load)
	if err != nil {
		return out, err
	}
	ctx, cancel := context.WithCancel(ctx)
	hung := false
	defer func() {
		cancel()
		if !hung { // a hung call may still use the instance
			inst.close()
		}
	}()
	wait := func(ch <-chan result, d time.Duration) (result, bool) {
		select {
		case r := <-ch:
			return r, true
		case <-time.After(d):
			return result{}, false
		}
	}
	readAsync := func() <-chan result {
		ch := make(chan result, 1)
		go func() {
			v, err := inst.read(ctx)
			ch <- result{v, err}
		}()
		return ch
	}

	// 1. A misses and its loader blocks after reading v0.
	aCh := readAsync()
	select {
	case <-src.started:
	case r := <-aCh:
		return out, fmt.Errorf("reader A returned %v without blocking in its loader", r)
	case <-time.After(o.HangTimeout):
		hung = true
		return out, errors.New("the loader of reader A never ran")
	}

	// 2. The write, and the invalidation while the loader is blocked.
	src.set(v1)
	invCh := make(chan result, 1)
	go func() { invCh <- result{err: inst.invalidate(ctx)} }()
	inv, returned := wait(invCh, o.BlockWindow)
	out.blocked = !returned
	if returned && inv.err != nil {
		return out, fmt.Errorf("invalidate: %w", inv.err)
	}

	// 3. B arrives. When it finishes on its own, what it wrote is allowed to land
	// before the loader is released, as it would while a slow load is still running.
	bCh := readAsync()
	b, done := wait(bCh, o.JoinWindow)
	out.bWaited = !done
	if done {
		if inst.sync != nil {
			inst.sync()
		}
		time.Sleep(o.Quiet)
	}

	// 4. Release the loader and wait for everything.
	close(src.release)
	a, ok := wait(aCh, o.HangTimeout)
	if !ok {
		hung = true
		a.err = errHung
	}
	if out.bWaited {
		if b, ok = wait(bCh, o.HangTimeout); !ok {
			hung = true
			b.err = errHung
		}
	}
	if out.blocked {
		if inv, ok = wait(invCh, o.HangTimeout); !ok {
			hung = true
		} else if inv.err != nil {
			return out, fmt.Errorf("invalidate: %w", inv.err)
		}
	}
	out.a, out.b = a.String(), b.String()

	// 5. What stayed cached.
	if hung {
		out.cached = "? (a call hung)"
	} else {
		switch {
		case inst.settle != nil:
			inst.settle()
		case inst.sync != nil:
			inst.sync()
		}
		time.Sleep(o.Quiet)
		if v, ok := inst.peek(); ok {
			out.cached = v
		} else {
			out.cached = absent
		}
	}
	out.calls = int(src.calls.Load())
	return out, nil
}

// A row is one line of the table.
type row struct {
	cells   []string
	correct bool
	// Trials in which a stale value stayed cached while the invalidation had not
	// blocked: it found nothing to delete, and the old load stored afterwards.
	storedAfter int
}

// summarize turns the outcomes of the trials of one library into a row: each cell
// lists the values seen, with their counts when the trials disagree.
func summarize(name string, outs []outcome) row {
	col := func(f func(outcome) string) string {
		counts := map[string]int{}
		for _, o := range outs {
			counts[f(o)]++
		}
		if len(counts) == 1 {
			for v := range counts {
				return v
			}
		}
		vals := slices.Sorted(maps.Keys(counts))
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprintf("%s (%d/%d)", v, counts[v], len(outs))
		}
		return strings.Join(parts, ", ")
	}
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var staleB, staleCached, blocked, storedAfter int
	for _, o := range outs {
		if o.cached != v1 && o.cached != absent && !o.blocked {
			storedAfter++
		}
		if o.b != v1 {
			staleB++
		}
		if o.cached != v1 && o.cached != absent {
			staleCached++
		}
		if o.blocked {
			blocked++
		}
	}
	var faults []string
	n := len(outs)
	if staleB > 0 {
		faults = append(faults, fmt.Sprintf("B did not get v1 (%d/%d)", staleB, n))
	}
	if staleCached > 0 {
		faults = append(faults, fmt.Sprintf("stale value cached (%d/%d)", staleCached, n))
	}
	if blocked > 0 {
		faults = append(faults, fmt.Sprintf("invalidation blocked (%d/%d)", blocked, n))
	}
	verdict := "correct"
	if len(faults) > 0 {
		verdict = strings.Join(faults, "; ")
	}
	return row{
		cells: []string{
			name,
			col(func(o outcome) string { return o.a }),
			col(func(o outcome) string { return o.b }),
			col(func(o outcome) string { return yesNo(o.bWaited) }),
			col(func(o outcome) string { return o.cached }),
			col(func(o outcome) string { return yesNo(o.blocked) }),
			col(func(o outcome) string { return fmt.Sprint(o.calls) }),
			verdict,
		},
		correct:     len(faults) == 0,
		storedAfter: storedAfter,
	}
}
