package buses

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// Child runs the child whose configuration EnvChild holds: it reads commands on
// stdin until it closes and answers on stdout. On failure it prints the error on
// stderr and exits with status 1. A command that calls Run must hand over to
// Child at the top of main, before anything else (see the package doc).
func Child() {
	var cfg childConfig
	err := json.Unmarshal([]byte(os.Getenv(EnvChild)), &cfg)
	if err == nil {
		if cfg.Deadline > 0 {
			// Whatever happens to the parent, the child does not outlive the run.
			time.AfterFunc(time.Until(time.Unix(0, cfg.Deadline)), func() {
				fmt.Fprintf(os.Stderr, "buses child %s: deadline passed\n", cfg.Name)
				os.Exit(3)
			})
		}
		err = runChild(cfg, os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "buses child %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(cfg childConfig, in io.Reader, w io.Writer) error {
	out := childproc.NewOutbox[childMsg](w)
	defer out.Close()
	var handle func(command) childMsg
	var closeRole func() error
	switch cfg.Role {
	case rolePeer:
		p, err := newPeer(cfg, out)
		if err != nil {
			return err
		}
		handle, closeRole = p.handle, p.close
	case roleIdle:
		f, err := newIdle(cfg)
		if err != nil {
			return err
		}
		handle, closeRole = f.handle, f.close
	default:
		return fmt.Errorf("unknown role %q", cfg.Role)
	}
	out.Send(childMsg{Op: "ready"})
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var c command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			out.Send(childMsg{Op: "error", Err: fmt.Sprintf("bad command %q: %v", sc.Text(), err)})
			continue
		}
		out.Send(handle(c))
	}
	return closeRole()
}

// A node is a hub on a bus of its own, with one cache.
type node struct {
	hub      *fresh.Hub
	cache    *fresh.Cache[string, string]
	closeBus func() error
}

// newNode opens the bus of c and a hub with a cache on it; wrap, when set, wraps
// the bus for the hub.
func newNode(c busConfig, wrap func(fresh.Bus) fresh.Bus) (*node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	bus, closeBus, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	n := &node{closeBus: closeBus}
	if wrap != nil {
		bus = wrap(bus)
	}
	if n.hub, err = fresh.NewHub(fresh.HubOptions{Bus: bus}); err != nil {
		return nil, errors.Join(err, closeBus())
	}
	if n.cache, err = fresh.New(fresh.Options[string, string]{Hub: n.hub, Name: "fanout"}); err != nil {
		return nil, errors.Join(err, n.close())
	}
	return n, nil
}

// close closes the hub (and its cache), then the bus.
func (n *node) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(n.hub.Close(ctx), n.closeBus())
}

// A peer holds one value at a time in its in-process tier, the armed one, and
// reports the first moment its cache refuses it. It looks (a Get) right after each
// message the bus delivers to the hub, since the hub applies an invalidation inside
// its handler, before the handler returns; and, as a safety net, every millisecond
// on a timer (By "poll"). The same scheme as the Redis workload's peers.
type peer struct {
	n     *node
	out   *childproc.Outbox[childMsg]
	armed atomic.Pointer[armedKey]
	ready atomic.Bool // n is set: the bus may deliver before newNode returns
	stop  chan struct{}
	wg    sync.WaitGroup
}

type armedKey struct {
	round int
	key   string
}

func newPeer(cfg childConfig, out *childproc.Outbox[childMsg]) (*peer, error) {
	p := &peer{out: out, stop: make(chan struct{})}
	n, err := newNode(cfg.Bus, func(b fresh.Bus) fresh.Bus { return probeBus{Bus: b, after: p.look} })
	if err != nil {
		return nil, err
	}
	p.n = n
	p.ready.Store(true)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.look("poll")
			}
		}
	}()
	return p, nil
}

// look reports the armed value as refused if the cache no longer serves it.
func (p *peer) look(by string) {
	if !p.ready.Load() {
		return
	}
	a := p.armed.Load()
	if a == nil {
		return
	}
	if _, ok := p.n.cache.Get(a.key); ok {
		return
	}
	at := time.Now().UnixNano()
	if p.armed.CompareAndSwap(a, nil) {
		p.out.Send(childMsg{Op: "refused", Round: a.round, At: at, By: by})
	}
}

// handle arms round c.Round: it reads the round's key, whose value depends on the
// entity ("items", round), waits until the in-process tier holds it, and arms it.
func (p *peer) handle(c command) childMsg {
	if c.Op != "arm" {
		return childMsg{Op: "error", Err: "a peer does not know " + strconv.Quote(c.Op)}
	}
	p.armed.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := fanoutKey(c.Round)
	_, err := p.n.cache.GetOrLoad(ctx, key, func(ctx context.Context, _ string) (string, error) {
		fresh.Depend(ctx, fanoutDep(c.Round))
		return "value of " + key, nil
	})
	if err != nil {
		return childMsg{Op: "armed", Round: c.Round, Err: err.Error()}
	}
	// The in-process tier is filled after the callers get their value.
	for start := time.Now(); ; {
		if _, ok := p.n.cache.Get(key); ok {
			break
		}
		if time.Since(start) > 2*time.Second {
			return childMsg{Op: "armed", Round: c.Round, Err: "the value is not in the in-process tier 2s after its read (hub suspended?)"}
		}
		time.Sleep(100 * time.Microsecond)
	}
	p.armed.Store(&armedKey{round: c.Round, key: key})
	return childMsg{Op: "armed", Round: c.Round}
}

func (p *peer) close() error {
	close(p.stop)
	p.wg.Wait()
	return p.n.close()
}

// fanoutKey and fanoutDep are the key of round r and the dependency its value has.
func fanoutKey(r int) string    { return "k" + strconv.Itoa(r) }
func fanoutDep(r int) fresh.Dep { return fresh.Entity("items", r) }

// A probeBus is a Bus whose subscribers' handlers call after once the hub's
// handler has returned: by then the hub has applied the message.
type probeBus struct {
	fresh.Bus
	after func(by string)
}

func (b probeBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return b.Bus.Subscribe(ctx, probeHandler{h: h, after: b.after})
}

type probeHandler struct {
	h     fresh.Handler
	after func(by string)
}

func (p probeHandler) HandleMessage(msg []byte) {
	p.h.HandleMessage(msg)
	p.after("delivery")
}

func (p probeHandler) HandleLoss(err error) {
	p.h.HandleLoss(err)
	p.after("loss")
}

// An idle follower subscribes (a hub and a cache on the bus, or the bus alone
// with a handler that does nothing, or nothing at all for the baseline) and, on
// command, reports the CPU time its process used over a given wall time.
type idle struct {
	close func() error
}

func newIdle(cfg childConfig) (*idle, error) {
	f := &idle{close: func() error { return nil }}
	switch {
	case cfg.Bus.Kind == "":
	case cfg.Hub:
		n, err := newNode(cfg.Bus, nil)
		if err != nil {
			return nil, err
		}
		f.close = n.close
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		bus, closeBus, err := cfg.Bus.open(ctx)
		if err != nil {
			return nil, err
		}
		sub, err := bus.Subscribe(ctx, nopHandler{})
		if err != nil {
			return nil, errors.Join(err, closeBus())
		}
		f.close = func() error { return errors.Join(sub.Close(), closeBus()) }
	}
	return f, nil
}

func (f *idle) handle(c command) childMsg {
	if c.Op != "idle" {
		return childMsg{Op: "error", Err: "an idle follower does not know " + strconv.Quote(c.Op)}
	}
	t0, c0, err := processCPU()
	if err == nil {
		time.Sleep(c.For)
		var t1 time.Time
		var c1 time.Duration
		t1, c1, err = processCPU()
		if err == nil {
			return childMsg{Op: "idle", CPU: int64(c1 - c0), Wall: int64(t1.Sub(t0))}
		}
	}
	return childMsg{Op: "idle", Err: err.Error()}
}

type nopHandler struct{}

func (nopHandler) HandleMessage([]byte) {}
func (nopHandler) HandleLoss(error)     {}
