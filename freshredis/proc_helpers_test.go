//go:build unix

package freshredis

// Helpers of the multi-process tests (coherence_test.go, faults_test.go,
// stampede_test.go). The test binary runs itself again as child processes, the
// standard Go pattern: a child is os.Args[0] -test.run=^TestHelperProcess$ with
// procEnvRole naming its role and procEnvConfig holding its procConfig as JSON.
// Every child opens a Hub on a Store and a Bus in one namespace (unique per run),
// with caches of the same names, and reports what it saw as JSON lines on stdout
// ({"type": ..., "data": ...}); the parent reads them, aggregates, and decides.
//
// The source of truth and the barriers live on the shared server (FRESH_REDIS_URL):
//
//	src:<ns>          hash: item -> version (the "commit" is HINCRBY)
//	inv:<ns>          hash: "item:version" -> unix ns at which the Invalidate of that
//	                  version returned (HSET right after it), and "item:version:missed"
//	                  when the writer's store was out of use then
//	bar:<ns>:<name>   unix ns at which the children waiting on <name> go on
//	cnt:<ns>          the stampede's loader calls
//
// The Store and the Bus live on the shared server too, or on a private redis-server
// (procServer) in the tests that kill, pause or flush it, so that a fault hits the
// cache's infrastructure and never the source of truth the checker relies on.
//
// The checker (procChecker) is the G1 bound of the package documentation, judged
// per read: a read that began at t0 (wall clock, shared by every process on the
// machine) may return a version older than the one committed when it began only
// while the Invalidate of the version that superseded it had not returned before
// t0 - MaxStaleness. A read is judged by its start: a read that began before a
// pause and returned after it is judged at its start, which is what G1 promises.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

const (
	procEnvRole   = "FRESHREDIS_PROC_ROLE"
	procEnvConfig = "FRESHREDIS_PROC_CONFIG"
)

var (
	procLong   = flag.Bool("freshredis.long", false, "run the multi-process coherence and fault tests for longer")
	procStrict = flag.Bool("freshredis.strict", false, "fail the multi-process tests on the known bugs and limitations they reproduce, rather than logging them")
)

// The known bugs and limitations the multi-process tests reproduce. Reads they
// explain are logged, and fail a test only under -freshredis.strict.
const (
	// procLimitRestoredSnapshot: after a restart from a snapshot, the Store serves
	// restored entries, which lack the tombstones written after the snapshot,
	// until a monitor's check moves the epoch and each hub sees the new epoch
	// (store.go, Epochs). doc.go's G1 does not mention it.
	procLimitRestoredSnapshot = "LIMITATION (restored snapshot): the read began between the kill and the moment its process saw the epoch the Store's monitor moved after the restart: an entry restored from the snapshot, which lacks the later tombstones (store.go, Epochs: \"entries restored from a snapshot can still be served\")"
)

// procDuration returns short, or long under -freshredis.long.
func procDuration(short, long time.Duration) time.Duration {
	if *procLong {
		return long
	}
	return short
}

// Roles of the children.
const (
	procRoleWriter      = "writer"      // commits and invalidates items
	procRoleReader      = "reader"      // reads items (and pairs) and checks each read
	procRoleCrashWriter = "crashwriter" // commits once more and then hangs until killed
	procRoleStampede    = "stampede"    // 250 goroutines read one key at a barrier
	procRoleSpinner     = "spinner"     // reads one cached item in a tight loop, across a pause
)

// procConfig is what a child is told.
type procConfig struct {
	Role      string `json:"role"`
	Name      string `json:"name"`  // for the logs: "writer", "reader1", ...
	Index     int    `json:"index"` // 0 for the writer, 1... for the readers
	Seed      uint64 `json:"seed"`
	SrcURL    string `json:"src_url"`   // the source of truth and the barriers
	CacheURL  string `json:"cache_url"` // the Store and the Bus
	Namespace string `json:"namespace"`
	Items     int    `json:"items"`
	Bus       string `json:"bus"` // "stream" (default) or "pubsub"

	MaxStaleness  time.Duration `json:"max_staleness"`
	Heartbeat     time.Duration `json:"heartbeat"`
	Block         time.Duration `json:"block"` // StreamBusOptions.Block, PubSubBusOptions.PingInterval
	MaxLen        int64         `json:"max_len"`
	CheckInterval time.Duration `json:"check_interval"`
	LeaseTTL      time.Duration `json:"lease_ttl"`

	Duration   time.Duration `json:"duration"`    // from the start barrier
	Nested     bool          `json:"nested"`      // the reader also reads pairs
	TTL        time.Duration `json:"ttl"`         // fresh.TTL of the reader's item reads; 0 for none
	WriteEvery time.Duration `json:"write_every"` // the writer's mean pause between writes
	Goroutines int           `json:"goroutines"`  // the stampede's callers
	Deadline   int64         `json:"deadline"`    // unix ns: the child exits by then whatever happens
}

// Keys on the shared server.
func procSrcKey(ns string) string           { return "src:" + ns }
func procInvKey(ns string) string           { return "inv:" + ns }
func procCountKey(ns string) string         { return "cnt:" + ns }
func procBarrierKey(ns, name string) string { return "bar:" + ns + ":" + name }
func procInvField(item int, v int64) string {
	return strconv.Itoa(item) + ":" + strconv.FormatInt(v, 10)
}
func procPairOf(id, items int) (a, b int) { return id, (id*7 + 3) % items }

func procRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// procMinStoreInt lowers a to v if v is lower, or if a is 0 (unset).
func procMinStoreInt(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if (cur != 0 && cur <= v) || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// procMaxStoreInt raises a to v if v is higher.
func procMaxStoreInt(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// procSample is a child's counters at one moment.
type procSample struct {
	At                int64  `json:"at"` // unix ns
	Reads             int64  `json:"reads"`
	Hits              uint64 `json:"hits"`
	StoreHits         uint64 `json:"store_hits"`
	Loads             uint64 `json:"loads"`
	Suspended         bool   `json:"suspended"`
	StoreDown         bool   `json:"store_down"`
	Gaps              uint64 `json:"gaps"`
	StoreEpochChanges uint64 `json:"store_epoch_changes"`
}

// ---------------------------------------------------------------------------
// The child side.

// TestHelperProcess is not a test: it is the body of the child processes of the
// multi-process tests, and returns at once when it is not one.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(procEnvRole)
	if role == "" {
		return
	}
	os.Exit(procChildMain(role, os.Getenv(procEnvConfig)))
}

// procOut writes JSON lines on stdout.
type procOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *procOut) emit(typ string, data any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(struct {
		Type string `json:"type"`
		At   int64  `json:"at"`
		Data any    `json:"data"`
	}{typ, time.Now().UnixNano(), data})
}

func procChildMain(role, raw string) int {
	var cfg procConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bad %s: %v\n", procEnvConfig, err)
		return 2
	}
	out := &procOut{enc: json.NewEncoder(os.Stdout)}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("proc", cfg.Name)
	// The parent holds our stdin open: when it goes, so do we. And whatever
	// happens, we are gone by the deadline.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, cfg.Name+": stdin closed: the parent is gone")
		os.Exit(3)
	}()
	time.AfterFunc(time.Until(time.Unix(0, cfg.Deadline)), func() {
		fmt.Fprintln(os.Stderr, cfg.Name+": deadline passed")
		os.Exit(4)
	})
	n, err := procOpen(cfg, out, log)
	if err == nil {
		ctx := context.Background()
		switch role {
		case procRoleWriter:
			err = n.writer(ctx)
		case procRoleReader:
			err = n.reader(ctx)
		case procRoleCrashWriter:
			err = n.crashWriter(ctx)
		case procRoleStampede:
			err = n.stampede(ctx)
		case procRoleSpinner:
			err = n.spinner(ctx)
		default:
			err = fmt.Errorf("unknown role %q", role)
		}
		if cerr := n.close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		out.emit("error", map[string]string{"err": err.Error()})
		fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.Name, err)
		return 1
	}
	return 0
}

// procNode is a child's hub and caches.
type procNode struct {
	cfg   procConfig
	out   *procOut
	src   redis.UniversalClient
	cache redis.UniversalClient
	store *Store
	bus   interface {
		fresh.Bus
		Close() error
	}
	hub   *fresh.Hub
	items *fresh.Cache[int, int64]
	pairs *fresh.Cache[int, [2]int64]
	reads atomic.Int64 // for the timeline
}

// procOpen opens a child's clients, Store, Bus, Hub and caches. (On an error it
// leaves what it opened to the child's exit.)
func procOpen(cfg procConfig, out *procOut, log *slog.Logger) (*procNode, error) {
	n := &procNode{cfg: cfg, out: out}
	var err error
	if n.src, err = clientFromURL(cfg.SrcURL); err != nil {
		return nil, err
	}
	if n.cache, err = clientFromURL(cfg.CacheURL); err != nil {
		return nil, err
	}
	if n.store, err = NewStore(n.cache, StoreOptions{Namespace: cfg.Namespace, CheckInterval: cfg.CheckInterval, Logger: log}); err != nil {
		return nil, err
	}
	if cfg.Bus == "pubsub" {
		n.bus, err = NewPubSubBus(n.cache, PubSubBusOptions{Namespace: cfg.Namespace, PingInterval: cfg.Block, Logger: log})
	} else {
		n.bus, err = NewStreamBus(n.cache, StreamBusOptions{Namespace: cfg.Namespace, MaxLen: cfg.MaxLen, Block: cfg.Block, Logger: log})
	}
	if err != nil {
		return nil, err
	}
	n.hub, err = fresh.NewHub(fresh.HubOptions{
		Store: n.store, Bus: n.bus, MaxStaleness: cfg.MaxStaleness, Heartbeat: cfg.Heartbeat,
		LeaseTTL: cfg.LeaseTTL, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if n.items, err = fresh.New(fresh.Options[int, int64]{Hub: n.hub, Name: "items"}); err != nil {
		return nil, err
	}
	if n.pairs, err = fresh.New(fresh.Options[int, [2]int64]{Hub: n.hub, Name: "pairs"}); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *procNode) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.hub.Close(ctx)
	err = errors.Join(err, n.bus.Close(), n.store.Close())
	n.cache.Close()
	n.src.Close()
	return err
}

// await waits for the barrier name: until the parent has written its time, and
// then until that time.
func (n *procNode) await(ctx context.Context, name string) (time.Time, error) {
	key := procBarrierKey(n.cfg.Namespace, name)
	for {
		v, err := n.src.Get(ctx, key).Int64()
		if err == nil {
			at := time.Unix(0, v)
			time.Sleep(time.Until(at))
			return at, nil
		}
		if !errors.Is(err, redis.Nil) {
			return time.Time{}, fmt.Errorf("barrier %s: %w", name, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// version reads the committed version of item.
func (n *procNode) version(ctx context.Context, item int) (int64, error) {
	v, err := n.src.HGet(ctx, procSrcKey(n.cfg.Namespace), strconv.Itoa(item)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

func (n *procNode) loadItem(ctx context.Context, item int) (int64, error) {
	fresh.Depend(ctx, fresh.Entity("items", item))
	return n.version(ctx, item)
}

// loadPair builds a nested value from two items read through the items cache, with
// the loader's context.
func (n *procNode) loadPair(ctx context.Context, id int) ([2]int64, error) {
	a, b := procPairOf(id, n.cfg.Items)
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

// picker returns a zipf-ish chooser of items.
func (n *procNode) picker(stream uint64) func() int {
	if n.cfg.Items <= 1 {
		return func() int { return 0 }
	}
	r := mathrand.New(mathrand.NewPCG(n.cfg.Seed, stream))
	z := mathrand.NewZipf(r, 1.1, 2, uint64(n.cfg.Items-1))
	return func() int { return int(z.Uint64()) }
}

// procMonitor samples the hub and the caches: every 10ms for the flags, every
// 250ms for the timeline.
type procMonitor struct {
	n                     *procNode
	stop, done            chan struct{}
	sawDown, sawSuspended atomic.Bool
	mu                    sync.Mutex
	timeline              []procSample
}

func (n *procNode) monitor() *procMonitor {
	m := &procMonitor{n: n, stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *procMonitor) sample() procSample {
	h := m.n.hub.Stats()
	is, ps := m.n.items.Stats(), m.n.pairs.Stats()
	return procSample{
		At: time.Now().UnixNano(), Reads: m.n.reads.Load(),
		Hits: is.Hits + ps.Hits, StoreHits: is.StoreHits + ps.StoreHits, Loads: is.Loads + ps.Loads,
		Suspended: h.Suspended, StoreDown: h.StoreDown, Gaps: h.Gaps, StoreEpochChanges: h.StoreEpochChanges,
	}
}

func (m *procMonitor) run() {
	defer close(m.done)
	fast := time.NewTicker(10 * time.Millisecond)
	defer fast.Stop()
	slow := time.NewTicker(250 * time.Millisecond)
	defer slow.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-fast.C:
			h := m.n.hub.Stats()
			if h.StoreDown {
				m.sawDown.Store(true)
			}
			if h.Suspended {
				m.sawSuspended.Store(true)
			}
		case <-slow.C:
			s := m.sample()
			m.mu.Lock()
			m.timeline = append(m.timeline, s)
			m.mu.Unlock()
		}
	}
}

// finish stops the monitor and fills the common part of a report.
func (m *procMonitor) finish(r *procReport) {
	close(m.stop)
	<-m.done
	last := m.sample()
	r.Name, r.Role = m.n.cfg.Name, m.n.cfg.Role
	m.timeline = append(m.timeline, last)
	r.Timeline = m.timeline
	r.ItemStats, r.PairStats = m.n.items.Stats(), m.n.pairs.Stats()
	r.Hub = m.n.hub.Stats()
	r.SawStoreDown = m.sawDown.Load() || r.Hub.StoreDown
	r.SawSuspended = m.sawSuspended.Load() || r.Hub.Suspended
}

// ---------------------------------------------------------------------------
// The parent side.

// procSkip skips the test, or fails it when CI is set (STYLE.md item 9).
func procSkip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
		tb.Fatalf("CI is set, so this cannot be skipped: "+format, args...)
	}
	tb.Skipf(format, args...)
}

// procShared returns the URL of the shared server (FRESH_REDIS_URL, default
// redis://127.0.0.1:6379/0) and a client of it, closed at cleanup. It skips the
// test when the server does not answer (fails in CI).
func procShared(tb testing.TB) (string, redis.UniversalClient) {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	c, err := clientFromURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		procSkip(tb, "no Redis at %s; set %s to run this test: %v", redactURL(u), EnvURL, err)
	}
	tb.Cleanup(func() { c.Close() })
	return u, c
}

// procCleanKeys deletes, at cleanup, the keys of namespace ns on c: the source of
// truth, the barriers, the counter, and the Store's and the Bus's keys.
func procCleanKeys(tb testing.TB, c redis.UniversalClient, ns string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys := []string{procSrcKey(ns), procInvKey(ns), procCountKey(ns)}
		var mu sync.Mutex
		scan := func(ctx context.Context, c redis.Cmdable) error {
			for _, pattern := range []string{"bar:" + ns + ":*", newStoreKeys(ns).prefix + "*"} {
				it := c.Scan(ctx, 0, pattern, 1000).Iterator()
				for it.Next(ctx) {
					mu.Lock()
					keys = append(keys, it.Val())
					mu.Unlock()
				}
				if err := it.Err(); err != nil {
					return err
				}
			}
			return nil
		}
		var err error
		if cc, ok := c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
		} else {
			err = scan(ctx, c)
		}
		if err != nil {
			tb.Logf("scanning the keys of %s: %v", ns, err)
		}
		for _, k := range keys { // one by one: they hash to different cluster slots
			if err := c.Unlink(ctx, k).Err(); err != nil {
				tb.Logf("deleting %s: %v", k, err)
				return
			}
		}
	})
}

// procBarrier releases the children waiting on name at time at.
func procBarrier(tb testing.TB, c redis.UniversalClient, ns, name string, at time.Time) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Set(ctx, procBarrierKey(ns, name), at.UnixNano(), 10*time.Minute).Err(); err != nil {
		tb.Fatalf("barrier %s: %v", name, err)
	}
}

// procEvent is one JSON line of a child.
type procEvent struct {
	Type string          `json:"type"`
	At   int64           `json:"at"`
	Data json.RawMessage `json:"data"`
}

// procBuffer is a bytes.Buffer safe for concurrent use.
type procBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *procBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *procBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// procTestLog writes to the test's log, for loggers of hubs in the test's process.
type procTestLog struct{ tb testing.TB }

func (w procTestLog) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// procChild is a child process seen from the parent.
type procChild struct {
	tb     testing.TB
	cfg    procConfig
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr procBuffer
	text   procBuffer // stdout lines that are not events

	mu     sync.Mutex
	events []procEvent
	taken  map[string]int
	notify chan struct{} // closed and replaced at each event

	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done is closed
}

// procLines splits a child's stdout into lines for its procChild. exec copies
// stdout with one goroutine, so Write is never called concurrently.
type procLines struct {
	c   *procChild
	buf []byte
}

func (w *procLines) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.c.line(slices.Clone(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (c *procChild) line(l []byte) {
	var e procEvent
	if !bytes.HasPrefix(l, []byte(`{"type":`)) || json.Unmarshal(l, &e) != nil {
		_, _ = c.text.Write(append(l, '\n'))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	close(c.notify)
	c.notify = make(chan struct{})
}

// procStart starts a child with cfg. At cleanup it is killed (SIGKILL, which ends
// a stopped process too) if it still runs, and reaped.
func procStart(tb testing.TB, cfg procConfig) *procChild {
	tb.Helper()
	if cfg.Deadline == 0 {
		cfg.Deadline = time.Now().Add(cfg.Duration + 90*time.Second).UnixNano()
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c := &procChild{tb: tb, cfg: cfg, taken: make(map[string]int), notify: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	c.cmd.Env = append(os.Environ(), procEnvRole+"="+cfg.Role, procEnvConfig+"="+string(raw))
	c.cmd.Stdout = &procLines{c: c}
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", cfg.Name, err)
	}
	go func() {
		err := c.cmd.Wait()
		c.mu.Lock()
		c.exitErr = err
		c.mu.Unlock()
		close(c.done)
	}()
	tb.Cleanup(c.kill)
	return c
}

// kill kills the child if it runs and waits until it has exited.
func (c *procChild) kill() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	}
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.tb.Errorf("%s (pid %d) did not exit 30s after SIGKILL", c.cfg.Name, c.cmd.Process.Pid)
	}
}

// signal sends sig to the child.
func (c *procChild) signal(sig syscall.Signal) {
	c.tb.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.tb.Fatalf("%s: signal %v: %v", c.cfg.Name, sig, err)
	}
}

// logs returns the end of the child's stderr and its stdout text, for a failure
// message.
func (c *procChild) logs() string {
	tail := func(s string) string {
		if len(s) > 6000 {
			return "..." + s[len(s)-6000:]
		}
		return s
	}
	return fmt.Sprintf("--- %s stderr:\n%s--- %s stdout:\n%s", c.cfg.Name, tail(c.stderr.String()), c.cfg.Name, tail(c.text.String()))
}

// next returns the child's next event of type typ, failing the test if none comes
// within timeout or the child exits first, or if the child reports an error.
func (c *procChild) next(typ string, timeout time.Duration) procEvent {
	c.tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	exited := false
	for {
		c.mu.Lock()
		seen := 0
		for _, e := range c.events {
			if e.Type == "error" {
				c.mu.Unlock()
				c.tb.Fatalf("%s failed: %s\n%s", c.cfg.Name, e.Data, c.logs())
			}
			if e.Type != typ {
				continue
			}
			if seen == c.taken[typ] {
				c.taken[typ]++
				c.mu.Unlock()
				return e
			}
			seen++
		}
		notify := c.notify
		c.mu.Unlock()
		if exited {
			c.tb.Fatalf("%s exited (%v) without reporting %q\n%s", c.cfg.Name, c.exitError(), typ, c.logs())
		}
		select {
		case <-notify:
		case <-c.done:
			exited = true // look once more: the event may have come just before
		case <-deadline.C:
			c.tb.Fatalf("%s reported no %q within %v\n%s", c.cfg.Name, typ, timeout, c.logs())
		}
	}
}

func (c *procChild) exitError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exitErr
}

// wait waits for the child to exit and fails the test unless it exited with 0.
func (c *procChild) wait(timeout time.Duration) {
	c.tb.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.tb.Fatalf("%s did not exit within %v\n%s", c.cfg.Name, timeout, c.logs())
	}
	if err := c.exitError(); err != nil {
		c.tb.Errorf("%s: %v\n%s", c.cfg.Name, err, c.logs())
	}
}

// procDecode decodes an event's data.
func procDecode[T any](tb testing.TB, e procEvent) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		tb.Fatalf("decoding a %q event: %v\n%s", e.Type, err, e.Data)
	}
	return v
}

// procServer is a private redis-server on a free loopback port, killed at cleanup,
// for the tests that kill, pause or flush their server.
type procServer struct {
	tb   testing.TB
	bin  string
	port int
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *procBuffer
}

// procStartServer starts redis-server without persistence unless extra says
// otherwise (later arguments override earlier ones). It skips the test when
// redis-server is not installed (fails in CI).
func procStartServer(tb testing.TB, extra ...string) *procServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		procSkip(tb, "redis-server is not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &procServer{tb: tb, bin: bin, port: port}
	s.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", tb.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
	}, extra...)
	tb.Cleanup(s.kill)
	s.start()
	return s
}

// url is the URL the children use: short dial timeouts, so that a dead server is
// noticed at once.
func (s *procServer) url() string {
	return fmt.Sprintf("redis://127.0.0.1:%d/0?dial_timeout=250ms", s.port)
}

// client returns a new client of the server, closed at cleanup.
func (s *procServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.port), MaxRetries: -1, DialTimeout: time.Second})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// start starts the server (again) and waits until it answers PING.
func (s *procServer) start() {
	s.tb.Helper()
	cmd := exec.Command(s.bin, s.args...)
	out := &procBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.out, s.done = cmd, out, done
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			s.tb.Fatalf("redis-server %v exited at start:\n%s", s.args, out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on port %d does not answer: %v\n%s", s.port, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill kills the server with SIGKILL (no shutdown save) and waits until it has
// exited. It does nothing when the server is not running.
func (s *procServer) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}
