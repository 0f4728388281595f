package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshredis"
	"github.com/redis/go-redis/v9"
)

// A worker is one process of a multi-process run (demo -redis or -bus). The parent
// (multi.go) starts it as os.Args[0] demo-worker, with its workerConfig as JSON in
// the environment variable workerEnv, and the two speak through the worker's
// standard streams:
//
//   - stdin, from the parent: "start <unix ns>", the run's start, the same for
//     every worker; "stop", to end the run early. When stdin closes, the parent is
//     gone (or wants the worker gone): the worker stops, and exits within
//     orphanGrace whatever it is doing.
//   - stdout, to the parent: one workerEvent a line: "ready" once its hub is
//     connected, "progress" every progressEvery, "report" at the end.
//   - stderr: diagnostics, which the parent prints after the worker's name.
//
// Worker 0 runs the writers and the marker of the fan-out probe; the others run
// the readers and the probe. They all open a hub with the same caches, on the
// run's bus (-bus, or a freshredis StreamBus in the run's namespace with -redis
// alone) and, with -redis, a freshredis Store in that namespace; the source is in
// Redis with -redis, else in the files of the run's directory (fileSource).
const (
	workerCommand = "demo-worker"
	workerEnv     = "FRESH_DEMO_WORKER"
	orphanGrace   = 10 * time.Second
	// workerOverrun is how long past the run's planned end a worker lives, whatever
	// happens, before it exits on its own.
	workerOverrun = readyTimeout + time.Minute
)

// newWorkerCache, when set, makes the demo cache of every worker instead of a
// fresh cache. Tests set it, in the worker processes they start, to show that the
// staleness check across processes catches a cache that ignores invalidations.
var newWorkerCache func() demoCache

// workerConfig is what the parent tells a worker.
type workerConfig struct {
	Name          string        `json:"name"`
	Index         int           `json:"index"`                // 0 writes; the others read
	URL           string        `json:"url"`                  // Redis (-redis), or ""
	Bus           string        `json:"bus,omitempty"`        // the bus's URL (-bus), or "" for a StreamBus at URL
	SourceDir     string        `json:"source_dir,omitempty"` // the fileSource's directory, without -redis
	Namespace     string        `json:"namespace"`
	Articles      int           `json:"articles"`
	Readers       int           `json:"readers"`
	Writers       int           `json:"writers"`
	Latency       time.Duration `json:"latency"`
	WriteEvery    time.Duration `json:"write_every"`
	Duration      time.Duration `json:"duration"`
	MaxStaleness  time.Duration `json:"max_staleness"`
	ProgressEvery time.Duration `json:"progress_every"`
	Seed          uint64        `json:"seed"`
}

func newWorkerConfig(cfg demoConfig, index int, ns, sourceDir string) workerConfig {
	name := "writer"
	if index > 0 {
		name = "reader" + strconv.Itoa(index)
	}
	return workerConfig{
		Name: name, Index: index, URL: cfg.redis, Bus: cfg.bus, SourceDir: sourceDir, Namespace: ns,
		Articles: cfg.articles, Readers: cfg.readers, Writers: cfg.writers,
		Latency: cfg.latency, WriteEvery: cfg.writeEvery, Duration: cfg.duration,
		MaxStaleness: cfg.maxStaleness, ProgressEvery: cfg.progressEvery, Seed: cfg.seed,
	}
}

func (c workerConfig) writes() bool { return c.Index == 0 }

func (c workerConfig) role() string {
	if c.writes() {
		return "write"
	}
	return "read"
}

// demoConfig returns the configuration of the worker's part of the run.
func (c workerConfig) demoConfig() demoConfig {
	cfg := defaultDemoConfig()
	cfg.duration, cfg.readers, cfg.writers, cfg.articles = c.Duration, c.Readers, c.Writers, c.Articles
	cfg.latency, cfg.writeEvery, cfg.seed = c.Latency, c.WriteEvery, c.Seed
	cfg.maxStaleness, cfg.progressEvery = c.MaxStaleness, c.ProgressEvery
	return cfg
}

// A workerEvent is one line of a worker's stdout.
type workerEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// workerProgress is a worker's "progress" event.
type workerProgress struct {
	Phase  string      `json:"phase"` // "baseline", "cached", or "" (not reading)
	Reads  uint64      `json:"reads"` // in the phase
	Loads  uint64      `json:"loads"` // in the phase
	Cache  fresh.Stats `json:"cache"`
	Stale  uint64      `json:"stale"`
	Within uint64      `json:"within"`
	Writes uint64      `json:"writes"`
}

// workerReport is a worker's "report" event, at the end of the run.
type workerReport struct {
	Name    string         `json:"name"`
	Role    string         `json:"role"`
	PID     int            `json:"pid"`
	Totals  runTotals      `json:"totals"`
	Hub     fresh.HubStats `json:"hub"`
	Probe   probeResult    `json:"probe"`
	Markers uint64         `json:"markers"` // marker versions written (the writer)
}

// eventWriter writes workerEvents, one a line.
type eventWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (e *eventWriter) emit(typ string, data any) error {
	ev := workerEvent{Type: typ}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode a %s event: %w", typ, err)
		}
		ev.Data = b
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode a %s event: %w", typ, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("send a %s event: %w", typ, err)
	}
	return nil
}

// runWorker runs the hidden command demo-worker: the body of a worker process.
func runWorker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	raw, ok := os.LookupEnv(workerEnv)
	if !ok || len(args) > 0 {
		return &usageError{err: fmt.Errorf("%s is run by \"fresh demo -redis\" or \"-bus\", not by hand", workerCommand), usage: usage()}
	}
	var wc workerConfig
	if err := json.Unmarshal([]byte(raw), &wc); err != nil {
		return fmt.Errorf("%s: bad %s: %w", workerCommand, workerEnv, err)
	}
	errw := &syncWriter{w: stderr}
	time.AfterFunc(wc.Duration+workerOverrun, func() {
		_, _ = fmt.Fprintf(errw, "%s: still running %v after the run should have ended; exiting\n", workerCommand, workerOverrun)
		os.Exit(4)
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starts := make(chan time.Time, 1)
	go followParent(stdin, starts, cancel, errw)

	w, err := openWorker(ctx, wc, errw)
	if err != nil {
		return fmt.Errorf("%s: %w", workerCommand, err)
	}
	defer func() { err = errors.Join(err, w.close(ctx)) }()
	out := &eventWriter{w: stdout}
	if err := out.emit("ready", nil); err != nil {
		return err
	}
	var start time.Time
	select {
	case start = <-starts:
	case <-ctx.Done():
		return nil // stopped before the start: nothing to report
	}
	rep, err := w.run(ctx, start, out, errw)
	if err != nil {
		return err
	}
	return out.emit("report", rep)
}

// followParent reads the parent's commands on stdin: it passes the start on, and
// cancels the run on "stop" or when stdin closes; in that last case it also makes
// sure that the process exits within orphanGrace.
func followParent(stdin io.Reader, starts chan<- time.Time, cancel context.CancelFunc, stderr io.Writer) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "start":
			if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				select {
				case starts <- time.Unix(0, ns):
				default:
				}
			}
		case len(f) == 1 && f[0] == "stop":
			cancel()
		}
	}
	cancel()
	time.AfterFunc(orphanGrace, func() {
		_, _ = fmt.Fprintf(stderr, "%s: the parent has gone; exiting\n", workerCommand)
		os.Exit(3)
	})
}

// A worker's connections, hub and caches.
type worker struct {
	cfg    workerConfig
	client redis.UniversalClient // with -redis
	store  *freshredis.Store     // with -redis
	fsrc   *fileSource           // without -redis
	bus    demoBus
	hub    *fresh.Hub
	src    markerSource
	probe  *probe
	cache  demoCache
}

// openWorker connects to Redis, if the run has one, and to the bus, and opens the
// worker's hub and its caches: the demo's and the probe's.
func openWorker(ctx context.Context, wc workerConfig, logw io.Writer) (_ *worker, err error) {
	w := &worker{cfg: wc}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.close(context.Background()))
		}
	}()
	log := warnLogger(logw)
	opts := fresh.HubOptions{MaxStaleness: wc.MaxStaleness, Logger: log}
	if wc.URL != "" {
		if w.client, err = redisClient(wc.URL); err != nil {
			return nil, err
		}
		w.src = newRedisSource(w.client, wc.Namespace, wc.Latency, wc.MaxStaleness)
		if w.store, err = freshredis.NewStore(w.client, freshredis.StoreOptions{Namespace: wc.Namespace, Logger: log}); err != nil {
			return nil, err
		}
		opts.Store = w.store
	} else {
		if w.fsrc, err = openFileSource(wc.SourceDir, wc.Latency, wc.MaxStaleness); err != nil {
			return nil, err
		}
		w.src = w.fsrc
	}
	if wc.Bus != "" {
		if w.bus, err = openDemoBus(ctx, wc.Bus, wc.Namespace, log); err != nil {
			return nil, fmt.Errorf("open the bus: %w", err)
		}
	} else {
		b, err := freshredis.NewStreamBus(w.client, freshredis.StreamBusOptions{Namespace: wc.Namespace, Logger: log})
		if err != nil {
			return nil, err
		}
		w.bus = b
	}
	w.probe = newProbe(w.src)
	opts.Bus = &observedBus{Bus: w.bus, after: w.probe.afterMessage}
	w.hub, err = fresh.NewHub(opts)
	if err != nil {
		return nil, err
	}
	if w.probe.cache, err = fresh.New(fresh.Options[string, uint64]{Hub: w.hub, Name: "probe", MaxEntries: 1, Local: true}); err != nil {
		return nil, err
	}
	if newWorkerCache != nil {
		w.cache = newWorkerCache()
		return w, nil
	}
	c, err := newDemoCache(w.hub, wc.Articles+len(demoCategories), logw)
	if err != nil {
		return nil, err
	}
	w.cache = c
	return w, nil
}

// close closes what openWorker opened, within closeTimeout.
func (w *worker) close(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	var errs []error
	if w.cache != nil {
		errs = append(errs, w.cache.Close(cctx))
	}
	if w.hub != nil { // closes the probe's cache too
		errs = append(errs, w.hub.Close(cctx))
	}
	if w.bus != nil {
		errs = append(errs, w.bus.Close())
	}
	if w.store != nil {
		errs = append(errs, w.store.Close())
	}
	if w.fsrc != nil {
		errs = append(errs, w.fsrc.close())
	}
	if w.client != nil {
		errs = append(errs, w.client.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// run runs the worker's part of the run from start, and returns its report.
func (w *worker) run(ctx context.Context, start time.Time, out *eventWriter, stderr io.Writer) (workerReport, error) {
	cfg := w.cfg.demoConfig()
	cfg.cache = w.cache
	d := newDemo(cfg, w.src, stderr)
	d.streams = uint64(w.cfg.Index) * 100_000
	d.start = start
	var current atomic.Pointer[phase]
	var markers uint64
	background := []func(context.Context){
		func(ctx context.Context) { d.emitProgress(ctx, &current, out) },
	}
	if w.cfg.writes() {
		background = append(background, func(ctx context.Context) {
			n, err := writeMarkers(ctx, w.src, w.probe.cache)
			markers = n
			if err != nil {
				d.fail(err)
			}
		})
	} else {
		background = append(background, func(ctx context.Context) {
			if err := w.probe.run(ctx); err != nil && ctx.Err() == nil {
				d.fail(err)
			}
		})
	}
	_ = sleepCtx(ctx, time.Until(start)) // stopped before the start, the run ends at once
	baseline, cached := d.run(ctx, !w.cfg.writes(), w.cfg.writes(), &current, background...)
	if d.err != nil {
		return workerReport{}, d.err
	}
	return workerReport{
		Name:    w.cfg.Name,
		Role:    w.cfg.role(),
		PID:     os.Getpid(),
		Totals:  d.totals(baseline, cached),
		Hub:     w.hub.Stats(),
		Probe:   w.probe.res, // run has waited for the probe
		Markers: markers,
	}, nil
}

// emitProgress sends a "progress" event every cfg.progressEvery until ctx is done.
func (d *demo) emitProgress(ctx context.Context, current *atomic.Pointer[phase], out *eventWriter) {
	everyTick(ctx, d.cfg.progressEvery, func(time.Time) bool {
		pr := workerProgress{
			Cache:  d.cache.Stats(),
			Stale:  d.stale.Load(),
			Within: d.within.Load(),
			Writes: d.src.writeCount(),
		}
		if p := current.Load(); p != nil {
			pr.Phase, pr.Reads, pr.Loads = "baseline", p.reads(), d.src.loadCount()-p.loads0
			if p.cached {
				pr.Phase = "cached"
			}
		}
		if err := out.emit("progress", pr); err != nil {
			d.fail(err)
			return false
		}
		return true
	})
}
