//go:build unix

package freshtest

// ProcessCoherence: the multi-process check of guarantee G1 for any Bus.
//
// The test binary runs itself again as the child processes (the standard Go
// pattern): a child is os.Args[0] -test.run=<the calling test, exactly>, with
// envCoherence holding its coherenceConfig as JSON. In the child, the calling test
// reaches ProcessCoherence.Run again, which plays the child's role and exits, so a
// backend needs no TestMain and no TestHelperProcess of its own.
//
// The source of truth needs no server: two files in a directory the processes share.
//
//	versions   Items int64s (little endian): item -> its committed version. The writer
//	           commits (reads, adds one, writes) under an exclusive flock; readers and
//	           loaders read under a shared one.
//	invlog     append-only records of three int64s (item, version, unix ns): the
//	           time at which the Invalidate of that version returned, appended by
//	           the writer right after it returned.
//
// The parent releases the children by writing "start <unix ns>" on their stdin, and
// keeps stdin open: a child exits when it reads EOF, so no child outlives its parent.
// A child reports JSON lines on stdout ({"type": ..., "data": ...}).
//
// The checker is the G1 bound of the package documentation, judged per read: a
// read that began at t0 (wall clock, shared by the processes of one machine) and
// returned a version v older than v0, the one committed at t0, is outside the
// bound iff the Invalidate of version v+1 had returned more than MaxStaleness
// before t0.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// envCoherence names the environment variable that makes a process a child of a
// ProcessCoherence run; it holds the child's coherenceConfig as JSON.
const envCoherence = "FRESHTEST_COHERENCE_CHILD"

// ProcessCoherence checks guarantee G1 across OS processes on a real Bus: one
// writer and Readers readers, each a copy of the test binary with a Hub on the bus
// and the caches "items" (int -> version) and "pairs" (nested values: a pair's
// loader reads two items through the items cache with the loader's context).
//
// The writer commits a new version of an item (zipf-ish) to a source of truth kept
// in files of a shared directory, calls Invalidate(Entity("items", item)), and
// records when Invalidate returned. The readers read through GetOrLoad and check
// every read: a read that began at t0 must not return a version older than the one
// committed at t0 once the Invalidate of the next version had returned more than
// MaxStaleness before t0. The last reader also reads pairs, each component checked
// the same way.
//
// Use it from a test of the backend; the test must be safe to run again in a
// child process up to its call of Run (it is: the child runs the same test, which
// reaches Run and plays its role there):
//
//	func TestProcessCoherence(t *testing.T) {
//		url := serverOrSkip(t)
//		freshtest.ProcessCoherence{
//			NewBus: func(ctx context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
//				b, err := mybus.Open(ctx, url, mybus.Options{Channel: env.ID})
//				if err != nil {
//					return nil, nil, err
//				}
//				return b, b.Close, nil
//			},
//		}.Run(t)
//	}
type ProcessCoherence struct {
	// NewBus opens the bus of one process; it runs in every child, never in the
	// parent. Every process of a run must reach the same bus: derive its table,
	// subject or file from env.ID or env.Dir. The returned func closes the bus
	// (nil for none). Required.
	NewBus func(ctx context.Context, env CoherenceEnv) (fresh.Bus, func() error, error)
	// Teardown, if set, runs in the parent at the test's cleanup, to remove what the
	// buses left behind (a table, a stream). Default nil.
	Teardown func(ctx context.Context, env CoherenceEnv) error
	// Readers is the number of reader processes. Default 3.
	Readers int
	// Duration is how long the writer writes and the readers read. Default 4s.
	Duration time.Duration
	// MaxStaleness is every hub's HubOptions.MaxStaleness, the bound checked.
	// Default 500ms.
	MaxStaleness time.Duration
	// Heartbeat is every hub's HubOptions.Heartbeat. Default MaxStaleness/10.
	Heartbeat time.Duration
	// Items is the number of items. Default 50.
	Items int
	// Fault, if set, runs in the parent, in the test's goroutine, once the children
	// are released (at run.Start). It injects a fault when it chooses (restarts a
	// server, stops a child with SIGSTOP) and must return before the run ends.
	// Default nil.
	Fault func(ctx context.Context, run *CoherenceRun)
	// Param is handed to every child as env.Param: the address of a server that
	// the test started in the parent, say. The test must not start that server
	// again in a child: IsCoherenceChild tells it where it runs. Default "".
	Param string
}

// IsCoherenceChild reports whether this process is a child of a ProcessCoherence
// run. The child runs the test from its start up to its call of Run, so a test
// that starts a private server before Run does so only where this is false, and
// hands the server's address to the children in ProcessCoherence.Param.
func IsCoherenceChild() bool { return os.Getenv(envCoherence) != "" }

// CoherenceEnv tells NewBus and Teardown about the run.
type CoherenceEnv struct {
	// ID is unique to the run: 16 lowercase hex digits after "coh_", usable as a
	// table, subject, channel or key name.
	ID string
	// Dir is a directory every process of the run shares; it is removed with the
	// test's temporary directories.
	Dir string
	// Name is the process's name: "writer", "reader1", ...; "parent" in Teardown.
	Name string
	// Param is ProcessCoherence.Param.
	Param string
}

// CoherenceRun is a running coherence run, as Fault sees it.
type CoherenceRun struct {
	Env   CoherenceEnv
	Start time.Time // when the children began writing and reading
	End   time.Time // when they stop
	// Children are the child processes: [0] is the writer, then the readers.
	Children []*CoherenceChild
}

// SleepUntil sleeps until d after the run's start.
func (r *CoherenceRun) SleepUntil(d time.Duration) { time.Sleep(time.Until(r.Start.Add(d))) }

// CoherenceChild is a child process of a run.
type CoherenceChild struct {
	Name string // "writer", "reader1", ...
	cmd  *exec.Cmd
	in   io.WriteCloser

	stderr  lockedBuffer
	text    lockedBuffer // stdout lines that are not events
	events  chan coherenceEvent
	killed  atomic.Bool
	done    chan struct{} // closed once the process has exited
	exitErr error         // set before done is closed
}

// Pid returns the child's process id.
func (c *CoherenceChild) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the child (syscall.SIGSTOP pauses it, SIGCONT resumes it).
func (c *CoherenceChild) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill kills the child with SIGKILL and waits until it has exited. The run then
// expects no report from it.
func (c *CoherenceChild) Kill() {
	c.killed.Store(true)
	c.kill()
}

func (c *CoherenceChild) kill() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	}
	_ = c.in.Close()
	<-c.done
}

// CoherenceReport is what a run saw.
type CoherenceReport struct {
	Env     CoherenceEnv
	Writer  CoherenceCounts
	Readers []CoherenceCounts // in the order of the readers; none for a killed one
	Total   CoherenceCounts   // the readers' counts summed, Worst their maximum
}

// CoherenceCounts are one process's counts (or their sum).
type CoherenceCounts struct {
	Name string `json:"name"`

	Reads  int64 `json:"reads"`  // successful reads
	Nested int64 `json:"nested"` // reads of pairs (each checks two components)
	Fresh  int64 `json:"fresh"`  // components not older than the version committed at t0
	// StaleUninvalidated counts components older than the version committed at t0
	// whose next version's Invalidate had not returned when checked: the window
	// between a commit and its invalidation, which G1 does not cover.
	StaleUninvalidated int64 `json:"stale_uninvalidated"`
	StaleWithin        int64 `json:"stale_within"` // older, within the bound
	Outside            int64 `json:"outside"`      // older, outside the bound: G1 violated
	// Worst is the largest t0 minus the return of the superseding Invalidate over
	// the StaleWithin and Outside components; meaningless when both are 0.
	Worst      time.Duration        `json:"worst"`
	Errors     int64                `json:"errors"` // failed reads
	FirstError string               `json:"first_error,omitempty"`
	Violations []CoherenceViolation `json:"violations,omitempty"` // the first reads outside the bound

	Writes           int64  `json:"writes"`            // the writer's commits
	InvalidateErrors int64  `json:"invalidate_errors"` // the writer's failed Invalidate calls
	FirstInvalidate  string `json:"first_invalidate_error,omitempty"`

	Items fresh.Stats    `json:"items"`
	Pairs fresh.Stats    `json:"pairs"`
	Hub   fresh.HubStats `json:"hub"`
}

// CoherenceViolation is a read outside the bound.
type CoherenceViolation struct {
	Proc  string    `json:"proc"`
	Kind  string    `json:"kind"` // "item", "pair.a", "pair.b"
	Item  int       `json:"item"`
	Got   int64     `json:"got"` // the version the read returned
	V0    int64     `json:"v0"`  // the version committed when it began
	T0    time.Time `json:"t0"`  // when it began
	Inv   time.Time `json:"inv"` // when the Invalidate of Got+1 returned
	Stale time.Duration
}

func (v CoherenceViolation) String() string {
	return fmt.Sprintf("%s read %s %d = version %d at %s, when version %d was committed and the Invalidate of version %d had returned %v before",
		v.Proc, v.Kind, v.Item, v.Got, v.T0.Format("15:04:05.000000"), v.V0, v.Got+1, v.Stale)
}

// maxViolations bounds the violations a reader reports in detail.
const maxViolations = 100

// coherenceConfig is what a child is told.
type coherenceConfig struct {
	Role         string        `json:"role"` // "writer" or "reader"
	Env          CoherenceEnv  `json:"env"`
	Seed         uint64        `json:"seed"`
	Items        int           `json:"items"`
	Nested       bool          `json:"nested"`
	Duration     time.Duration `json:"duration"`
	MaxStaleness time.Duration `json:"max_staleness"`
	Heartbeat    time.Duration `json:"heartbeat"`
	Deadline     time.Time     `json:"deadline"` // the child exits by then whatever happens
}

type coherenceEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (pc ProcessCoherence) withDefaults() ProcessCoherence {
	if pc.Readers <= 0 {
		pc.Readers = 3
	}
	if pc.Duration <= 0 {
		pc.Duration = 4 * time.Second
	}
	if pc.MaxStaleness <= 0 {
		pc.MaxStaleness = 500 * time.Millisecond
	}
	if pc.Heartbeat <= 0 {
		pc.Heartbeat = pc.MaxStaleness / 10
	}
	if pc.Items <= 0 {
		pc.Items = 50
	}
	return pc
}

// Run runs the check and returns what it saw. In the parent it starts the
// children, fails tb on any read outside the bound, on failed reads, and on a
// writer or reader that did nothing, and logs the worst staleness. In a child
// it plays the child's role and exits the process.
func (pc ProcessCoherence) Run(tb testing.TB) CoherenceReport {
	tb.Helper()
	if raw := os.Getenv(envCoherence); raw != "" {
		os.Exit(runCoherenceChild(pc, raw))
	}
	if pc.NewBus == nil {
		tb.Fatal("freshtest: ProcessCoherence.NewBus is nil")
	}
	pc = pc.withDefaults()
	env := CoherenceEnv{ID: "coh_" + randomHex(8), Dir: tb.TempDir(), Name: "parent", Param: pc.Param}
	if err := createCoherenceSource(env.Dir, pc.Items); err != nil {
		tb.Fatal(err)
	}
	if pc.Teardown != nil {
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := pc.Teardown(ctx, env); err != nil {
				tb.Logf("teardown of %s: %v", env.ID, err)
			}
		})
	}
	seed := mathrand.Uint64()
	tb.Logf("coherence run %s: 1 writer, %d readers, %v, bound (MaxStaleness) %v, heartbeat %v, %d items, seed %d",
		env.ID, pc.Readers, pc.Duration, pc.MaxStaleness, pc.Heartbeat, pc.Items, seed)

	run := &CoherenceRun{Env: env}
	for i := range pc.Readers + 1 {
		cfg := coherenceConfig{
			Role: "writer", Env: env, Seed: seed + uint64(i), Items: pc.Items,
			Duration: pc.Duration, MaxStaleness: pc.MaxStaleness, Heartbeat: pc.Heartbeat,
			Deadline: time.Now().Add(pc.Duration + 2*time.Minute),
		}
		cfg.Env.Name = "writer"
		if i > 0 {
			cfg.Role, cfg.Env.Name, cfg.Nested = "reader", "reader"+strconv.Itoa(i), i == pc.Readers
		}
		run.Children = append(run.Children, startCoherenceChild(tb, cfg))
	}
	for _, c := range run.Children {
		c.next(tb, "ready", time.Minute)
	}
	run.Start = time.Now().Add(200 * time.Millisecond)
	run.End = run.Start.Add(pc.Duration)
	for _, c := range run.Children {
		if _, err := fmt.Fprintf(c.in, "start %d\n", run.Start.UnixNano()); err != nil {
			tb.Fatalf("releasing %s: %v\n%s", c.Name, err, c.logs())
		}
	}
	if pc.Fault != nil {
		pc.Fault(tb.Context(), run)
	}
	rep := CoherenceReport{Env: env}
	for i, c := range run.Children {
		if c.killed.Load() {
			continue
		}
		var counts CoherenceCounts
		e := c.next(tb, "report", time.Until(run.End)+time.Minute)
		if err := json.Unmarshal(e.Data, &counts); err != nil {
			tb.Fatalf("decoding the report of %s: %v", c.Name, err)
		}
		if i == 0 {
			rep.Writer = counts
		} else {
			rep.Readers = append(rep.Readers, counts)
		}
	}
	for _, c := range run.Children {
		if c.killed.Load() {
			continue
		}
		select {
		case <-c.done:
			if c.exitErr != nil {
				tb.Errorf("%s: %v\n%s", c.Name, c.exitErr, c.logs())
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("%s did not exit 30s after its report\n%s", c.Name, c.logs())
		}
	}
	rep.check(tb, pc, run)
	return rep
}

// check sums the readers' counts, logs them, and fails tb on what G1 forbids.
func (rep *CoherenceReport) check(tb testing.TB, pc ProcessCoherence, run *CoherenceRun) {
	tb.Helper()
	t := &rep.Total
	t.Name = "total"
	judged := false
	var violations []CoherenceViolation
	for _, r := range rep.Readers {
		if r.Reads == 0 {
			tb.Errorf("%s made no successful read", r.Name)
		}
		if r.Errors > 0 {
			tb.Errorf("%s: %d reads failed; the first: %s", r.Name, r.Errors, r.FirstError)
		}
		t.Reads += r.Reads
		t.Nested += r.Nested
		t.Fresh += r.Fresh
		t.StaleUninvalidated += r.StaleUninvalidated
		t.StaleWithin += r.StaleWithin
		t.Outside += r.Outside
		t.Errors += r.Errors
		if r.StaleWithin+r.Outside > 0 && (!judged || r.Worst > t.Worst) {
			t.Worst, judged = r.Worst, true
		}
		addStats(&t.Items, r.Items)
		addStats(&t.Pairs, r.Pairs)
		violations = append(violations, r.Violations...)
	}
	w := rep.Writer
	if w.Writes == 0 && !run.Children[0].killed.Load() {
		tb.Errorf("the writer made no write")
	}
	if w.InvalidateErrors > 0 {
		tb.Logf("the writer's Invalidate failed %d times; the first: %s", w.InvalidateErrors, w.FirstInvalidate)
	}
	worst := "none (no stale read after its invalidation returned)"
	if judged {
		worst = t.Worst.Round(time.Microsecond).String()
	}
	tb.Logf("worst staleness observed: %s (bound %v)", worst, pc.MaxStaleness)
	tb.Logf("summary: %d readers for %v: %d reads (%d nested), %d outside the bound, %d stale within it, %d stale before their invalidation returned, %d fresh components; L1 hits %d, loads %d; %d writes",
		len(rep.Readers), pc.Duration, t.Reads, t.Nested, t.Outside, t.StaleWithin, t.StaleUninvalidated, t.Fresh,
		t.Items.Hits+t.Pairs.Hits, t.Items.Loads+t.Pairs.Loads, w.Writes)
	if t.Nested == 0 && pc.Readers > 0 && !run.Children[len(run.Children)-1].killed.Load() {
		tb.Errorf("the last reader read no nested value")
	}
	if t.Outside > 0 {
		var b strings.Builder
		for _, v := range violations[:min(len(violations), 20)] {
			b.WriteString("\n\t" + v.String())
		}
		tb.Errorf("%d reads outside the bound %v (run %s); the first:%s", t.Outside, pc.MaxStaleness, rep.Env.ID, b.String())
	}
}

func addStats(s *fresh.Stats, o fresh.Stats) {
	s.Hits += o.Hits
	s.Misses += o.Misses
	s.Loads += o.Loads
	s.StoreHits += o.StoreHits
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testPattern returns the -test.run pattern that selects exactly the test name.
func testPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// startCoherenceChild starts a child; at cleanup it is killed if it still runs
// (SIGKILL ends a stopped process too) and reaped.
func startCoherenceChild(tb testing.TB, cfg coherenceConfig) *CoherenceChild {
	tb.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c := &CoherenceChild{Name: cfg.Env.Name, events: make(chan coherenceEvent, 16), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run="+testPattern(tb.Name()), "-test.count=1")
	c.cmd.Env = append(os.Environ(), envCoherence+"="+string(raw))
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", c.Name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var e coherenceEvent
			if l := sc.Bytes(); bytes.HasPrefix(l, []byte(`{"type":`)) && json.Unmarshal(l, &e) == nil {
				c.events <- e
				continue
			}
			_, _ = c.text.Write(append(sc.Bytes(), '\n'))
		}
		_, _ = io.Copy(io.Discard, out)
		err := c.cmd.Wait()
		c.exitErr = err
		close(c.done)
	}()
	tb.Cleanup(c.kill)
	return c
}

// next returns the child's next event, which must be of type typ, failing tb if
// none comes within timeout or the child reports an error.
func (c *CoherenceChild) next(tb testing.TB, typ string, timeout time.Duration) coherenceEvent {
	tb.Helper()
	select {
	case e := <-c.events:
		if e.Type != typ {
			tb.Fatalf("%s reported %q (%s); want %q\n%s", c.Name, e.Type, e.Data, typ, c.logs())
		}
		return e
	case <-c.done:
		select { // the event may have come just before the exit
		case e := <-c.events:
			if e.Type == typ {
				return e
			}
			tb.Fatalf("%s reported %q (%s); want %q\n%s", c.Name, e.Type, e.Data, typ, c.logs())
		default:
		}
		tb.Fatalf("%s exited (%v) without reporting %q\n%s", c.Name, c.exitErr, typ, c.logs())
	case <-time.After(timeout):
		tb.Fatalf("%s reported no %q within %v\n%s", c.Name, typ, timeout, c.logs())
	}
	panic("unreachable")
}

// logs returns the end of the child's stderr and stdout text, for a failure.
func (c *CoherenceChild) logs() string {
	tail := func(s string) string {
		if len(s) > 4000 {
			return "..." + s[len(s)-4000:]
		}
		return s
	}
	return fmt.Sprintf("--- %s stderr:\n%s--- %s stdout:\n%s", c.Name, tail(c.stderr.String()), c.Name, tail(c.text.String()))
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---------------------------------------------------------------------------
// The source of truth: files in the run's directory (see the top of this file).

const (
	versionsFile = "versions"
	invlogFile   = "invlog"
	invRecord    = 24 // bytes: item, version, unix ns
)

func createCoherenceSource(dir string, items int) error {
	if err := os.WriteFile(filepath.Join(dir, versionsFile), make([]byte, 8*items), 0o600); err != nil {
		return fmt.Errorf("freshtest: create the source of truth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, invlogFile), nil, 0o600); err != nil {
		return fmt.Errorf("freshtest: create the invalidation log: %w", err)
	}
	return nil
}

// coherenceSource is one process's view of the source of truth.
type coherenceSource struct {
	// mu serializes this process's use of the flock on ver: a flock belongs to
	// the open file, so one goroutine's unlock would release another's lock.
	mu  sync.Mutex
	ver *os.File
	log *os.File

	logMu sync.Mutex
	inv   map[[2]int64]int64 // (item, version) -> unix ns its Invalidate returned
	off   int64              // of the next record of log to read
	buf   []byte
}

func openCoherenceSource(dir string, writer bool) (*coherenceSource, error) {
	s := &coherenceSource{inv: make(map[[2]int64]int64)}
	var err error
	if s.ver, err = os.OpenFile(filepath.Join(dir, versionsFile), os.O_RDWR, 0); err != nil {
		return nil, err
	}
	flags := os.O_RDONLY
	if writer {
		flags = os.O_WRONLY | os.O_APPEND
	}
	if s.log, err = os.OpenFile(filepath.Join(dir, invlogFile), flags, 0); err != nil {
		_ = s.ver.Close()
		return nil, err
	}
	return s, nil
}

func (s *coherenceSource) close() error { return errors.Join(s.ver.Close(), s.log.Close()) }

// locked runs f with the versions file locked (exclusively or shared).
func (s *coherenceSource) locked(exclusive bool, f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(s.ver.Fd()), how); err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	err := f()
	if uerr := syscall.Flock(int(s.ver.Fd()), syscall.LOCK_UN); uerr != nil && err == nil {
		err = fmt.Errorf("unlock: %w", uerr)
	}
	return err
}

func (s *coherenceSource) readVersion(item int) (int64, error) {
	var b [8]byte
	if _, err := s.ver.ReadAt(b[:], int64(item)*8); err != nil {
		return 0, fmt.Errorf("read version of item %d: %w", item, err)
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

// version returns the committed version of item.
func (s *coherenceSource) version(item int) (v int64, err error) {
	err = s.locked(false, func() error {
		v, err = s.readVersion(item)
		return err
	})
	return v, err
}

// versions returns the committed versions of a and b, read at once.
func (s *coherenceSource) versions(a, b int) (va, vb int64, err error) {
	err = s.locked(false, func() error {
		if va, err = s.readVersion(a); err != nil {
			return err
		}
		vb, err = s.readVersion(b)
		return err
	})
	return va, vb, err
}

// commit adds one to the version of item and returns the new version.
func (s *coherenceSource) commit(item int) (v int64, err error) {
	err = s.locked(true, func() error {
		if v, err = s.readVersion(item); err != nil {
			return err
		}
		v++
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		_, err = s.ver.WriteAt(b[:], int64(item)*8)
		return err
	})
	return v, err
}

// record appends that the Invalidate of version v of item returned at ns.
func (s *coherenceSource) record(item int, v, ns int64) error {
	var b [invRecord]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(item))
	binary.LittleEndian.PutUint64(b[8:], uint64(v))
	binary.LittleEndian.PutUint64(b[16:], uint64(ns))
	_, err := s.log.Write(b[:]) // one write with O_APPEND: records never interleave
	return err
}

// invalidated returns when the Invalidate of version v of item returned, and
// whether it had been recorded.
func (s *coherenceSource) invalidated(item int, v int64) (int64, bool, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	k := [2]int64{int64(item), v}
	if ns, ok := s.inv[k]; ok {
		return ns, true, nil
	}
	// Read the records appended since the last look; a partial record at the end
	// is read again next time.
	for {
		if len(s.buf) < 64<<10 {
			s.buf = make([]byte, 64<<10)
		}
		n, err := s.log.ReadAt(s.buf, s.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("read the invalidation log: %w", err)
		}
		n -= n % invRecord
		for p := s.buf[:n]; len(p) > 0; p = p[invRecord:] {
			it, ver := int64(binary.LittleEndian.Uint64(p)), int64(binary.LittleEndian.Uint64(p[8:]))
			s.inv[[2]int64{it, ver}] = int64(binary.LittleEndian.Uint64(p[16:]))
		}
		s.off += int64(n)
		if n < len(s.buf)-invRecord {
			break
		}
	}
	ns, ok := s.inv[k]
	return ns, ok, nil
}

// ---------------------------------------------------------------------------
// The child side.

// coherenceNode is a child's hub, caches and source.
type coherenceNode struct {
	cfg   coherenceConfig
	src   *coherenceSource
	hub   *fresh.Hub
	items *fresh.Cache[int, int64]
	pairs *fresh.Cache[int, [2]int64]
	emit  func(typ string, data any)
}

func runCoherenceChild(pc ProcessCoherence, raw string) int {
	var cfg coherenceConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "freshtest: bad %s: %v\n", envCoherence, err)
		return 2
	}
	name := cfg.Env.Name
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(typ string, data any) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(struct {
			Type string `json:"type"`
			Data any    `json:"data"`
		}{typ, data})
	}
	fail := func(err error) int {
		emit("error", err.Error())
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	// Whatever happens, we are gone by the deadline; and when the parent closes
	// our stdin (or dies), at once.
	time.AfterFunc(time.Until(cfg.Deadline), func() {
		fmt.Fprintln(os.Stderr, name+": deadline passed")
		os.Exit(4)
	})
	start := make(chan time.Time, 1)
	go func() {
		r := bufio.NewReader(os.Stdin)
		line, err := r.ReadString('\n')
		var ns int64
		if err == nil {
			_, err = fmt.Sscanf(line, "start %d", &ns)
		}
		if err == nil {
			start <- time.Unix(0, ns)
			_, _ = io.Copy(io.Discard, r)
		}
		fmt.Fprintln(os.Stderr, name+": stdin closed: the parent is gone")
		os.Exit(3)
	}()

	ctx := context.Background()
	n := &coherenceNode{cfg: cfg, emit: emit}
	var err error
	if n.src, err = openCoherenceSource(cfg.Env.Dir, cfg.Role == "writer"); err != nil {
		return fail(err)
	}
	bus, closeBus, err := pc.NewBus(ctx, cfg.Env)
	if err != nil {
		return fail(fmt.Errorf("NewBus: %w", err))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("proc", name)
	n.hub, err = fresh.NewHub(fresh.HubOptions{
		Bus: bus, MaxStaleness: cfg.MaxStaleness, Heartbeat: cfg.Heartbeat, Strict: true, Logger: log,
	})
	if err != nil {
		return fail(err)
	}
	if n.items, err = fresh.New(fresh.Options[int, int64]{Hub: n.hub, Name: "items"}); err != nil {
		return fail(err)
	}
	if n.pairs, err = fresh.New(fresh.Options[int, [2]int64]{Hub: n.hub, Name: "pairs"}); err != nil {
		return fail(err)
	}
	emit("ready", nil)
	at := <-start
	time.Sleep(time.Until(at))
	end := at.Add(cfg.Duration)
	var counts CoherenceCounts
	if cfg.Role == "writer" {
		counts, err = n.writer(ctx, end)
	} else {
		counts = n.reader(ctx, end)
	}
	if err != nil {
		return fail(err)
	}
	counts.Name = name
	counts.Items, counts.Pairs, counts.Hub = n.items.Stats(), n.pairs.Stats(), n.hub.Stats()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = n.hub.Close(cctx)
	if closeBus != nil {
		err = errors.Join(err, closeBus())
	}
	err = errors.Join(err, n.src.close())
	if err != nil {
		return fail(fmt.Errorf("close: %w", err))
	}
	emit("report", counts)
	return 0
}

// picker returns a zipf-ish chooser of items.
func (n *coherenceNode) picker(stream uint64) func() int {
	if n.cfg.Items <= 1 {
		return func() int { return 0 }
	}
	r := mathrand.New(mathrand.NewPCG(n.cfg.Seed, stream))
	z := mathrand.NewZipf(r, 1.1, 2, uint64(n.cfg.Items-1))
	return func() int { return int(z.Uint64()) }
}

func pairOf(id, items int) (a, b int) { return id, (id*7 + 3) % items }

// writer commits and invalidates until end: commit, Invalidate, record the time
// Invalidate returned. Only the recording orders after the return.
func (n *coherenceNode) writer(ctx context.Context, end time.Time) (CoherenceCounts, error) {
	var c CoherenceCounts
	pick := n.picker(0)
	r := mathrand.New(mathrand.NewPCG(n.cfg.Seed, 99))
	for time.Now().Before(end) {
		item := pick()
		v, err := n.src.commit(item)
		if err != nil {
			return c, fmt.Errorf("commit: %w", err)
		}
		ierr := n.items.Invalidate(ctx, fresh.Entity("items", item))
		returned := time.Now().UnixNano()
		c.Writes++
		if ierr != nil {
			// Not recorded: reads of the older version are stale before their
			// invalidation, not outside the bound.
			c.InvalidateErrors++
			if c.FirstInvalidate == "" {
				c.FirstInvalidate = ierr.Error()
			}
		} else if err := n.src.record(item, v, returned); err != nil {
			return c, fmt.Errorf("record the invalidation: %w", err)
		}
		time.Sleep(time.Duration(r.Int64N(int64(2 * time.Millisecond))))
	}
	return c, nil
}

// checker judges the reads of one reader process.
type checker struct {
	n                                                  *coherenceNode
	reads, nested, fresh, uninv, within, outside, errs atomic.Int64
	mu                                                 sync.Mutex
	judged                                             bool
	worst                                              time.Duration
	firstErr                                           string
	violations                                         []CoherenceViolation
}

func (c *checker) fail(err error) {
	c.errs.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstErr == "" {
		c.firstErr = err.Error()
	}
}

// check judges one component of a read that began at t0, when v0 was committed,
// and returned got.
func (c *checker) check(kind string, item int, got, v0 int64, t0 time.Time) {
	if got >= v0 {
		c.fresh.Add(1)
		return
	}
	inv, ok, err := c.n.src.invalidated(item, got+1)
	switch {
	case err != nil:
		c.fail(err)
		return
	case !ok:
		c.uninv.Add(1)
		return
	}
	stale := t0.Sub(time.Unix(0, inv))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.judged || stale > c.worst {
		c.worst, c.judged = stale, true
	}
	if stale <= c.n.cfg.MaxStaleness {
		c.within.Add(1)
		return
	}
	c.outside.Add(1)
	if len(c.violations) < maxViolations {
		c.violations = append(c.violations, CoherenceViolation{
			Proc: c.n.cfg.Env.Name, Kind: kind, Item: item, Got: got, V0: v0, T0: t0, Inv: time.Unix(0, inv), Stale: stale,
		})
	}
}

// reader reads until end with two goroutines, the second of a nested reader
// reading pairs, and checks every read.
func (n *coherenceNode) reader(ctx context.Context, end time.Time) CoherenceCounts {
	c := &checker{n: n}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			pick := n.picker(uint64(g) + 1)
			for time.Now().Before(end) {
				if n.cfg.Nested && g == 1 {
					n.readPair(ctx, c, pick())
				} else {
					n.readItem(ctx, c, pick())
				}
			}
		})
	}
	wg.Wait()
	return CoherenceCounts{
		Reads: c.reads.Load(), Nested: c.nested.Load(), Fresh: c.fresh.Load(), StaleUninvalidated: c.uninv.Load(),
		StaleWithin: c.within.Load(), Outside: c.outside.Load(), Worst: c.worst,
		Errors: c.errs.Load(), FirstError: c.firstErr, Violations: c.violations,
	}
}

func (n *coherenceNode) readItem(ctx context.Context, c *checker, item int) {
	t0 := time.Now()
	v0, err := n.src.version(item)
	if err != nil {
		c.fail(err)
		return
	}
	got, err := n.items.GetOrLoad(ctx, item, n.loadItem)
	if err != nil {
		c.fail(fmt.Errorf("GetOrLoad(items, %d): %w", item, err))
		return
	}
	c.reads.Add(1)
	c.check("item", item, got, v0, t0)
}

func (n *coherenceNode) readPair(ctx context.Context, c *checker, id int) {
	a, b := pairOf(id, n.cfg.Items)
	t0 := time.Now()
	va, vb, err := n.src.versions(a, b)
	if err != nil {
		c.fail(err)
		return
	}
	got, err := n.pairs.GetOrLoad(ctx, id, n.loadPair)
	if err != nil {
		c.fail(fmt.Errorf("GetOrLoad(pairs, %d): %w", id, err))
		return
	}
	c.reads.Add(1)
	c.nested.Add(1)
	c.check("pair.a", a, got[0], va, t0)
	c.check("pair.b", b, got[1], vb, t0)
}

func (n *coherenceNode) loadItem(ctx context.Context, item int) (int64, error) {
	fresh.Depend(ctx, fresh.Entity("items", item))
	return n.src.version(item)
}

// loadPair builds a nested value from two items read through the items cache
// with the loader's context, so that the pair depends on both.
func (n *coherenceNode) loadPair(ctx context.Context, id int) ([2]int64, error) {
	a, b := pairOf(id, n.cfg.Items)
	va, err := n.items.GetOrLoad(ctx, a, n.loadItem)
	if err != nil {
		return [2]int64{}, err
	}
	vb, err := n.items.GetOrLoad(ctx, b, n.loadItem)
	if err != nil {
		return [2]int64{}, err
	}
	return [2]int64{va, vb}, nil
}
