package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// Timing of a multi-process run, seen from the parent.
const (
	readyTimeout = time.Minute            // for every worker to connect
	startDelay   = 100 * time.Millisecond // from the start command to the start
	stopGrace    = 15 * time.Second       // from a stop to the kill of the workers left
	runOverrun   = 30 * time.Second       // from the run's end to the kill of the workers left
	maxEventSize = 64 << 20               // the longest line a worker may send
)

// runMultiDemo runs the workload over cfg.procs processes that share a bus, the
// source of truth and, with Redis, an L2 store, all in a namespace of the run's
// own that is deleted at the end:
//
//   - -redis alone: the Redis at cfg.redis is the Store (L2), the Bus (a
//     StreamBus) and the source (redisSource);
//   - -bus with -redis: the bus at cfg.bus is the Bus, and Redis the rest;
//   - -bus alone: the bus at cfg.bus is the Bus, there is no Store, and the
//     source is in files of a temporary directory (fileSource), removed at the end.
//
// Worker 0 writes; the others read, each with cfg.readers readers, and check every
// read against the source as it was when the read began, with the bound
// cfg.maxStaleness (fresh's G1) for writes made in another process. The parent
// starts the workers (worker.go), starts them together, prints their progress,
// waits for their reports, and prints the summary; it fails when a read was stale
// beyond the bound.
//
// The workers die with the parent: they stop when their stdin (held by the parent)
// closes, an interrupt from the terminal reaches their process group too, and each
// exits on its own some time after the run's planned end.
func runMultiDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.progressEvery <= 0 {
		cfg.progressEvery = time.Second
	}
	var client redis.UniversalClient
	if cfg.redis != "" {
		if client, err = redisClient(cfg.redis); err != nil {
			return &usageError{err: fmt.Errorf("demo: -redis: %w", err)}
		}
		// go-redis logs every failed dial on stderr; the parent reports its failures
		// itself. (The workers keep go-redis's log: their stderr is diagnostics.)
		redis.SetLogger(quietRedisLog{})
		defer func() { _ = client.Close() }() // nothing to do about a failure
		if err := pingRedis(ctx, client, cfg.redis); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find this program, to run its workers: %w", err)
	}
	errw := &syncWriter{w: stderr}
	ns := "demo-" + randomHex(6)
	if cfg.bus != "" {
		// Open the bus once here, so that an unreachable server is reported once,
		// before any worker starts.
		redis.SetLogger(quietRedisLog{})
		b, err := openDemoBus(ctx, cfg.bus, ns, warnLogger(errw))
		if err != nil {
			return fmt.Errorf("demo: cannot open the bus at %s: %w", redactURL(cfg.bus), err)
		}
		if err := b.Close(); err != nil {
			return fmt.Errorf("demo: close the bus at %s: %w", redactURL(cfg.bus), err)
		}
		if kind, _ := busKind(cfg.bus); kind == busRedis && cfg.bus != cfg.redis {
			bc, err := redisClient(cfg.bus)
			if err != nil {
				return fmt.Errorf("demo: -bus: %w", err)
			}
			defer func() { _ = bc.Close() }() // nothing to do about a failure
			defer func() { err = errors.Join(err, dropNamespace(ctx, bc, ns, errw)) }()
		}
	}
	if client != nil {
		defer func() { err = errors.Join(err, dropNamespace(ctx, client, ns, errw)) }()
	}
	setup := rand.New(rand.NewPCG(cfg.seed, 0))
	rows := newSource(cfg.articles, demoCategories, 0, setup.IntN).rows
	var sourceDir, sharing string
	if client != nil {
		src := newRedisSource(client, ns, cfg.latency, cfg.maxStaleness)
		if err := src.seed(ctx, rows); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		sharing = "Redis at " + redactURL(cfg.redis)
		if cfg.bus != "" {
			sharing = "the bus " + redactURL(cfg.bus) + " and " + sharing + " as L2 and source"
		}
	} else {
		if sourceDir, err = os.MkdirTemp("", "fresh-demo-"); err != nil {
			return fmt.Errorf("demo: make the source's directory: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(sourceDir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("demo: remove the source: %w", rerr))
				return
			}
			_, _ = fmt.Fprintf(errw, "fresh demo: removed the source in %s\n", sourceDir)
		}()
		if err := seedFileSource(sourceDir, rows); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		sharing = "the bus " + redactURL(cfg.bus) + ", no L2, the source in " + sourceDir
	}

	_, _ = fmt.Fprintf(errw, "fresh demo: articles %d, %d processes sharing %s (namespace %s): "+
		"1 writing (%d writers, a write every %v each), %d reading (%d readers each); source latency %v, max staleness %v, duration %v\n",
		cfg.articles, cfg.procs, sharing, ns, cfg.writers, cfg.writeEvery,
		cfg.procs-1, cfg.readers, cfg.latency, cfg.maxStaleness, cfg.duration)
	r := &multiRun{cfg: cfg, ns: ns, sourceDir: sourceDir, exe: exe, stderr: errw, events: make(chan childEvent)}
	if err := r.run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return printSummary(stdout, cfg.json, r.summary())
}

// dropNamespace deletes the keys of namespace ns in client's Redis, within
// closeTimeout even when ctx is done, and says so on errw.
func dropNamespace(ctx context.Context, client redis.UniversalClient, ns string, errw io.Writer) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	n, err := deleteNamespace(cctx, client, ns)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	_, _ = fmt.Fprintf(errw, "fresh demo: deleted the %d keys of namespace %s\n", n, ns)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// A multiRun is the parent's side of a multi-process run.
type multiRun struct {
	cfg       demoConfig
	ns        string
	sourceDir string // the fileSource's, without Redis
	exe       string
	stderr    io.Writer // safe for concurrent use

	children []*child
	events   chan childEvent // from the children's followers; drained until all exit

	started  bool
	start    time.Time
	stopping bool  // "stop" was sent
	failure  error // the first failure
	lastTick time.Time
}

// A child is a worker process.
type child struct {
	cfg   workerConfig
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *prefixWriter // its stderr, and stdout lines that are not events

	exited   bool
	progress *workerProgress // the latest
	report   *workerReport
	// The phase and reads of the progress last printed, for the rate.
	lastPhase string
	lastReads uint64
}

// A childEvent is a line of a child's stdout, or its exit.
type childEvent struct {
	c      *child
	ev     workerEvent
	exited bool
	err    error // the exit's
}

// run starts the workers, then the run, and returns when every worker has exited.
// Whatever happens, it kills the workers that are still running after their
// deadline, and waits for them.
func (r *multiRun) run(ctx context.Context) error {
	for i := range r.cfg.procs {
		if err := r.startChild(newWorkerConfig(r.cfg, i, r.ns, r.sourceDir)); err != nil {
			r.fail(err)
			break
		}
	}
	// The workers still running at the deadline are killed. It moves to the
	// run's end plus runOverrun at the start, and closer when the run stops.
	deadline := time.Now().Add(readyTimeout)
	kill := time.NewTimer(readyTimeout)
	defer kill.Stop()
	setDeadline := func(t time.Time) {
		deadline = t
		kill.Reset(time.Until(t))
	}
	// Progress is printed a little after each worker has sent its own, every
	// progressEvery from the start.
	tick := time.NewTimer(time.Hour)
	tick.Stop()
	defer tick.Stop()
	var nextTick time.Time
	interrupted := ctx.Done()
	ready, sawStop := 0, false
	for running := len(r.children); running > 0; {
		select {
		case e := <-r.events:
			switch {
			case e.exited:
				running--
				e.c.exited = true
				if e.err != nil {
					r.fail(fmt.Errorf("%s failed: %w", e.c.cfg.Name, e.err))
				} else if e.c.report == nil && !r.stopping {
					r.fail(fmt.Errorf("%s exited without a report", e.c.cfg.Name))
				}
			case e.ev.Type == "ready":
				if ready++; ready == r.cfg.procs && !r.stopping {
					r.startRun()
					setDeadline(r.start.Add(r.cfg.duration + runOverrun))
					nextTick = r.start.Add(r.cfg.progressEvery + r.cfg.progressEvery/10)
					tick.Reset(time.Until(nextTick))
				}
			default:
				if err := r.handle(e.c, e.ev); err != nil {
					r.fail(err)
				}
			}
		case <-interrupted:
			interrupted = nil
			r.stop()
		case now := <-tick.C:
			r.printProgress(now)
			nextTick = nextTick.Add(r.cfg.progressEvery)
			tick.Reset(time.Until(nextTick))
		case <-kill.C:
			r.fail(errors.New("the workers did not finish in time: killed"))
			for _, c := range r.children {
				if !c.exited {
					_ = c.cmd.Process.Kill() // only our own child, by its handle
				}
			}
		}
		if r.stopping && !sawStop {
			sawStop = true
			if t := time.Now().Add(stopGrace); t.Before(deadline) {
				setDeadline(t)
			}
		}
	}
	if r.failure != nil {
		return r.failure
	}
	if !r.started {
		return fmt.Errorf("interrupted before the run started: %w", ctx.Err())
	}
	for _, c := range r.children {
		if c.report == nil {
			return fmt.Errorf("%s exited without a report", c.cfg.Name)
		}
	}
	return nil
}

// startChild starts the worker of wc.
func (r *multiRun) startChild(wc workerConfig) error {
	raw, err := json.Marshal(wc)
	if err != nil {
		return fmt.Errorf("start %s: %w", wc.Name, err)
	}
	c := &child{cfg: wc, log: &prefixWriter{prefix: wc.Name + ": ", w: r.stderr}}
	c.cmd = exec.Command(r.exe, workerCommand)
	c.cmd.Env = append(os.Environ(), workerEnv+"="+string(raw))
	c.cmd.Stderr = c.log
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return fmt.Errorf("start %s: %w", wc.Name, err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start %s: %w", wc.Name, err)
	}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", wc.Name, err)
	}
	r.children = append(r.children, c)
	go r.follow(c, stdout)
	return nil
}

// follow passes c's events on until its stdout closes, then waits for it and
// passes its exit on.
func (r *multiRun) follow(c *child, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	for sc.Scan() {
		var ev workerEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Type == "" {
			_, _ = c.log.Write(append(sc.Bytes(), '\n'))
			continue
		}
		r.events <- childEvent{c: c, ev: ev}
	}
	scanErr := sc.Err()
	_, _ = io.Copy(io.Discard, stdout) // after a failed scan, let the worker finish
	err := c.cmd.Wait()
	c.log.flush()
	if scanErr != nil {
		err = errors.Join(err, fmt.Errorf("read its events: %w", scanErr))
	}
	r.events <- childEvent{c: c, exited: true, err: err}
}

// handle takes in an event of c.
func (r *multiRun) handle(c *child, ev workerEvent) error {
	switch ev.Type {
	case "progress":
		var p workerProgress
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return fmt.Errorf("%s: bad progress event: %w", c.cfg.Name, err)
		}
		c.progress = &p
	case "report":
		var rep workerReport
		if err := json.Unmarshal(ev.Data, &rep); err != nil {
			return fmt.Errorf("%s: bad report: %w", c.cfg.Name, err)
		}
		c.report = &rep
	}
	return nil
}

// startRun tells every worker to start shortly, all at the same time.
func (r *multiRun) startRun() {
	r.started = true
	r.start = time.Now().Add(startDelay)
	r.lastTick = r.start
	r.sendAll("start " + strconv.FormatInt(r.start.UnixNano(), 10))
}

// stop tells every worker to end the run now.
func (r *multiRun) stop() {
	if !r.stopping {
		r.stopping = true
		r.sendAll("stop")
	}
}

// fail records err, if it is the first failure, and stops the run.
func (r *multiRun) fail(err error) {
	if r.failure == nil {
		r.failure = err
	}
	r.stop()
}

// sendAll sends a command line to every worker still running. A worker that has
// just exited cannot take it, which is all right.
func (r *multiRun) sendAll(line string) {
	for _, c := range r.children {
		if !c.exited {
			_, _ = io.WriteString(c.stdin, line+"\n")
		}
	}
}

// printProgress prints a line of the workers' progress, added up.
func (r *multiRun) printProgress(now time.Time) {
	var (
		st            fresh.Stats
		reads         uint64
		saved         int64
		stale, within uint64
		reading       bool
		baseline      bool
	)
	for _, c := range r.children {
		p := c.progress
		if p == nil {
			continue
		}
		st = addStats(st, p.Cache)
		stale += p.Stale
		within += p.Within
		if p.Phase == "" {
			continue
		}
		reading = true
		delta := p.Reads
		if p.Phase == c.lastPhase {
			delta -= c.lastReads
		}
		c.lastPhase, c.lastReads = p.Phase, p.Reads
		reads += delta
		if p.Phase == "baseline" {
			baseline = true
		} else {
			saved += int64(p.Reads) - int64(p.Loads)
		}
	}
	if !reading {
		return
	}
	rate := float64(reads) / now.Sub(r.lastTick).Seconds()
	r.lastTick = now
	elapsed := short(now.Sub(r.start).Round(100 * time.Millisecond))
	if baseline {
		_, _ = fmt.Fprintf(r.stderr, "%6v  baseline, no cache: %.0f reads/s, stale reads %d\n", elapsed, rate, stale)
		return
	}
	_, _ = fmt.Fprintf(r.stderr, "%6v  %.0f reads/s, hit ratio %.2f%%, L2 hits %d, loads saved %d, fenced fills %d, stale reads %d, behind within bound %d\n",
		elapsed, rate, 100*st.HitRatio(), st.StoreHits, saved, st.Fenced, stale, within)
}

// summary adds up the workers' reports.
func (r *multiRun) summary() demoSummary {
	var (
		tot  runTotals
		fan  probeResult
		hubs fresh.HubStats
	)
	m := &multiSummary{Procs: r.cfg.procs, Namespace: r.ns, MaxStaleness: r.cfg.maxStaleness, SourceDir: r.sourceDir}
	if r.cfg.bus != "" {
		m.Bus = redactURL(r.cfg.bus)
	}
	for _, c := range r.children {
		rep := c.report // every worker reported, or run failed
		tot.add(&rep.Totals)
		fan.add(&rep.Probe)
		hubs.Gaps += rep.Hub.Gaps
		hubs.StoreEpochChanges += rep.Hub.StoreEpochChanges
		m.FanOut.Markers += rep.Markers
		m.Processes = append(m.Processes, procSummaryOf(rep))
	}
	s := summarize(r.cfg, r.start, tot)
	s.Readers = r.cfg.readers * (r.cfg.procs - 1)
	s.Writers = r.cfg.writers
	m.StoreHits, m.StoreFills, m.StoreFenced = tot.Cache.StoreHits, tot.Cache.StoreFills, tot.Cache.StoreFenced
	m.BehindWithinBound, m.BehindUninvalidated = tot.Within, tot.Pending
	m.Gaps, m.StoreEpochChanges = hubs.Gaps, hubs.StoreEpochChanges
	m.FanOut.fill(&fan)
	s.Multi = m
	return s
}

// A prefixWriter writes every whole line written to it to w, after prefix.
type prefixWriter struct {
	prefix string
	w      io.Writer

	mu  sync.Mutex
	buf []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = p.w.Write(append([]byte(p.prefix), p.buf[:i+1]...))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes what is left of a last line without its newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = p.w.Write(append(append([]byte(p.prefix), p.buf...), '\n'))
		p.buf = nil
	}
}
