package redis

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

	rediscache "github.com/go-redis/cache/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// Child runs the child whose configuration EnvChild holds: it reads commands on
// stdin until it closes and answers on stdout. On failure it prints the error on
// stderr and exits with status 1.
func Child() {
	var cfg childConfig
	err := json.Unmarshal([]byte(os.Getenv(EnvChild)), &cfg)
	if err == nil {
		if cfg.Deadline > 0 {
			// Whatever happens to the parent, the child does not outlive the run.
			time.AfterFunc(time.Until(time.Unix(0, cfg.Deadline)), func() {
				fmt.Fprintf(os.Stderr, "redis child %s: deadline passed\n", cfg.Name)
				os.Exit(3)
			})
		}
		err = runChild(cfg, os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "redis child %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// An outbox writes a child's messages to its stdout.
type outbox = childproc.Outbox[childMsg]

func runChild(cfg childConfig, in io.Reader, w io.Writer) error {
	ctx := context.Background()
	e, err := connect(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer func() { _ = e.client.Close() }() // nothing to do about it on the way out
	e.run = cfg.Run
	out := childproc.NewOutbox[childMsg](w)
	defer out.Close()
	var handle func(command) childMsg
	var closeRole func() error
	switch cfg.Role {
	case rolePeer:
		p, err := newPeer(e, cfg, out)
		if err != nil {
			return err
		}
		handle, closeRole = p.handle, p.close
	case roleStampede:
		s, err := newStampeder(e, cfg)
		if err != nil {
			return err
		}
		handle, closeRole = s.handle, s.close
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

// A peer holds one value at a time in its in-process tier, the armed one, and
// reports the first moment its cache refuses it. It looks (a Get) right after each
// message the bus delivers to the hub, since the hub applies an invalidation inside
// its handler, before the handler returns; and, as a safety net, every millisecond
// on a timer (By "poll"). It also reports each message of the run's raw channel, a
// bare Redis subscription, when it receives it.
type peer struct {
	t     *freshTier
	c     *fresh.Cache[string, string]
	out   *outbox
	armed atomic.Pointer[armedKey]
	raw   *goredis.PubSub
	stop  chan struct{}
	wg    sync.WaitGroup
}

type armedKey struct {
	round int
	key   string
}

func newPeer(e *env, cfg childConfig, out *outbox) (*peer, error) {
	p := &peer{out: out, stop: make(chan struct{})}
	t, err := newFreshTier(e, cfg.Namespace, cfg.Bus, func(b fresh.Bus) fresh.Bus { return probeBus{Bus: b, after: p.look} })
	if err != nil {
		return nil, err
	}
	p.t = t
	p.c, err = fresh.New(fresh.Options[string, string]{Hub: t.hub, Name: "fanout"})
	if err != nil {
		return nil, errors.Join(err, t.close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.raw = e.client.Subscribe(ctx, rawChannel(cfg.Run, cfg.Namespace))
	if _, err := p.raw.Receive(ctx); err != nil {
		return nil, errors.Join(err, p.raw.Close(), t.close())
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for m := range p.raw.Channel() {
			at := time.Now().UnixNano()
			if r, err := strconv.Atoi(m.Payload); err == nil {
				p.out.Send(childMsg{Op: "raw", Round: r, At: at})
			}
		}
	}()
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
	a := p.armed.Load()
	if a == nil || p.c == nil {
		return
	}
	if _, ok := p.c.Get(a.key); ok {
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
	_, err := p.c.GetOrLoad(ctx, key, func(ctx context.Context, _ string) (string, error) {
		fresh.Depend(ctx, fanoutDep(c.Round))
		return "value of " + key, nil
	})
	if err != nil {
		return childMsg{Op: "armed", Round: c.Round, Err: err.Error()}
	}
	// The in-process tier is filled after the callers get their value.
	for start := time.Now(); ; {
		if _, ok := p.c.Get(key); ok {
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
	err := p.raw.Close() // ends the raw channel's goroutine
	p.wg.Wait()
	return errors.Join(err, p.t.close())
}

// fanoutKey and fanoutDep are the key of round r and the dependency its value has.
func fanoutKey(r int) string          { return "k" + strconv.Itoa(r) }
func fanoutDep(r int) fresh.Dep       { return fresh.Entity("items", r) }
func stampedeKey(r int) string        { return "s" + strconv.Itoa(r) }
func grcKey(run string, r int) string { return keyPrefix(run) + "grc:" + strconv.Itoa(r) }

// rawChannel is the channel of the bare PUBLISH fan-out of namespace ns.
func rawChannel(run, ns string) string { return keyPrefix(run) + "raw:" + ns }

// originKey counts the loader calls of subject in round r.
func originKey(run, subject string, r int) string {
	return keyPrefix(run) + "origin:" + subject + ":" + strconv.Itoa(r)
}

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

// The subjects of the stampede.
const (
	subjectFresh     = "fresh"
	subjectGoRedisCa = "go-redis/cache"
)

// A stampeder is one process of the stampede: a fresh cache on a hub with the Redis
// Store and a StreamBus, and a go-redis/cache on a client of its own. The loaders
// count their calls in Redis (INCR, on a third client) and then sleep.
type stampeder struct {
	cfg    childConfig
	t      *freshTier
	c      *fresh.Cache[string, string]
	grc    *rediscache.Cache
	client *goredis.Client // go-redis/cache's
	origin *goredis.Client // the loaders' counter
}

func newStampeder(e *env, cfg childConfig) (*stampeder, error) {
	t, err := newFreshTier(e, cfg.Namespace, "stream", nil)
	if err != nil {
		return nil, err
	}
	c, err := fresh.New(fresh.Options[string, string]{Hub: t.hub, Name: "stampede"})
	if err != nil {
		return nil, errors.Join(err, t.close())
	}
	s := &stampeder{cfg: cfg, t: t, c: c, client: e.newClient(nil), origin: e.newClient(nil)}
	s.grc = rediscache.New(&rediscache.Options{Redis: s.client})
	return s, nil
}

// load is the origin: it counts the call and takes cfg.Load.
func (s *stampeder) load(ctx context.Context, subject string, r int) (string, error) {
	if err := s.origin.Incr(ctx, originKey(s.cfg.Run, subject, r)).Err(); err != nil {
		return "", err
	}
	t := time.NewTimer(s.cfg.Load)
	defer t.Stop()
	select {
	case <-t.C:
		return fmt.Sprintf("value of round %d", r), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// handle runs one round: cfg.Goroutines goroutines wait for the start time c.At,
// then each reads the round's key through c.Subject and times its own call.
func (s *stampeder) handle(c command) childMsg {
	if c.Op != "stampede" {
		return childMsg{Op: "error", Err: "a stampede process does not know " + strconv.Quote(c.Op)}
	}
	var read func(ctx context.Context) error
	switch c.Subject {
	case subjectFresh:
		key := stampedeKey(c.Round)
		read = func(ctx context.Context) error {
			_, err := s.c.GetOrLoad(ctx, key, func(ctx context.Context, _ string) (string, error) {
				return s.load(ctx, subjectFresh, c.Round)
			})
			return err
		}
	case subjectGoRedisCa:
		key := grcKey(s.cfg.Run, c.Round)
		read = func(ctx context.Context) error {
			var v string
			return s.grc.Once(&rediscache.Item{Ctx: ctx, Key: key, Value: &v, TTL: time.Hour,
				Do: func(it *rediscache.Item) (any, error) { return s.load(it.Context(), subjectGoRedisCa, c.Round) }})
		}
	default:
		return childMsg{Op: "error", Err: "unknown subject " + strconv.Quote(c.Subject)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(time.Unix(0, c.At))+s.cfg.Load*20+10*time.Second)
	defer cancel()
	n := s.cfg.Goroutines
	lat := make([]int64, n)
	errs := make([]error, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			errs[i] = read(ctx)
			lat[i] = int64(time.Since(t0))
		}()
	}
	time.Sleep(time.Until(time.Unix(0, c.At)))
	close(gate)
	wg.Wait()
	m := childMsg{Op: "stampede", Round: c.Round, Lat: lat}
	for _, err := range errs {
		if err != nil {
			m.Errs++
			if m.Err == "" {
				m.Err = err.Error()
			}
		}
	}
	return m
}

func (s *stampeder) close() error {
	return errors.Join(s.t.close(), s.client.Close(), s.origin.Close())
}
