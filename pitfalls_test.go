package fresh_test

// One test per pitfall of /work/shared/research/pitfalls.md that concerns the core
// and that no other test covers: each attacks what shipped wrong in another cache.

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"log/slog"
	"math"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/freshcache/fresh"
)

// pAnswer is what one GetOrLoad call returned.
type pAnswer[V any] struct {
	v   V
	err error
}

// pWithin fails the test unless f returns within d. On a timeout it calls unblock
// first, so that the cleanups (which wait for loaders) do not hang too.
func pWithin(t *testing.T, d time.Duration, what string, unblock func(), f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		if unblock != nil {
			unblock()
		}
		t.Fatalf("%s did not return within %v (deadlock)", what, d)
	}
}

// pPoll polls cond every millisecond for up to d.
func pPoll(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// pLogs is a slog.Handler that keeps the messages it is given.
type pLogs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *pLogs) Enabled(context.Context, slog.Level) bool { return true }
func (l *pLogs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *pLogs) WithGroup(string) slog.Handler            { return l }
func (l *pLogs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *pLogs) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// pClock is a Clock that moves only when told.
type pClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *pClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *pClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pLocalBus returns a LocalBus closed when the test ends.
func pLocalBus(t *testing.T) *fresh.LocalBus {
	b := fresh.NewLocalBus()
	t.Cleanup(func() { b.Close() })
	return b
}

// pKey is a struct key, which the default key codec does not encode.
type pKey struct {
	N int
	S string
}

// pKeyCodec encodes a pKey as "pk/N/S" and counts its encodings.
type pKeyCodec struct{ encodes *atomic.Int32 }

func (c pKeyCodec) EncodeKey(k pKey) (string, error) {
	c.encodes.Add(1)
	return fmt.Sprintf("pk/%d/%s", k.N, k.S), nil
}

func (pKeyCodec) DecodeKey(s string) (pKey, error) {
	parts := strings.SplitN(s, "/", 3)
	if len(parts) != 3 || parts[0] != "pk" {
		return pKey{}, fmt.Errorf("bad key %q", s)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return pKey{}, err
	}
	return pKey{n, parts[2]}, nil
}

// TestP1SetThenGetIsLinearizable attacks P1: a write-behind buffer, so that a Get
// right after a Set misses, or a Set still buffered lands after a Delete.
func TestP1SetThenGetIsLinearizable(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[int, int64]{MaxEntries: 100_000})
	const (
		keys    = 16 // even keys are only Set; odd keys are Set and then Deleted
		writers = 8
		readers = 8
		writes  = 2000
		loaded  = -1 // the value the loader of odd keys returns
	)
	var (
		locks   [keys]sync.Mutex // writers of one key are serialised, as by a row lock
		next    [keys]int64      // guarded by locks
		settled [keys]atomic.Int64
		deleted [keys]atomic.Int64
		stop    atomic.Bool
		failed  atomic.Bool
	)
	load := func(context.Context, int) (int64, error) { return loaded, nil }
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	var wg, rg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range writes {
				k := r.IntN(keys)
				locks[k].Lock()
				next[k]++
				v := next[k]
				if err := c.Set(ctx, k, v); err != nil {
					fail("Set: %v", err)
				}
				if k%2 == 0 {
					settled[k].Store(v)
				} else {
					if err := c.Delete(ctx, k); err != nil {
						fail("Delete: %v", err)
					}
					deleted[k].Store(v)
				}
				locks[k].Unlock()
			}
		}()
	}
	for g := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for !stop.Load() && !failed.Load() {
				k := r.IntN(keys)
				if k%2 == 0 {
					s := settled[k].Load()
					if v, ok := c.Get(k); s > 0 && (!ok || v < s) {
						fail("key %d: Get = %d, %v after Set(%d) returned; want %d or later", k, v, ok, s, s)
					}
					continue
				}
				d := deleted[k].Load()
				if v, ok := c.Get(k); ok && v != loaded && v <= d {
					fail("key %d: Get = %d after Delete of value %d returned", k, v, d)
				}
				d = deleted[k].Load()
				v, err := c.GetOrLoad(ctx, k, load)
				if err != nil || (v != loaded && v <= d) {
					fail("key %d: GetOrLoad = %d, %v after Delete of value %d returned", k, v, err, d)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	if failed.Load() {
		return
	}

	// Set → Delete → GetOrLoad reloads.
	c2 := newCache(t, fresh.Options[string, int]{})
	var calls atomic.Int32
	reload := func(context.Context, string) (int, error) { calls.Add(1); return 2, nil }
	if err := c2.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if err := c2.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, ok := c2.Get("k"); ok {
		t.Fatalf("Get after Delete = %d, true", v)
	}
	if v, err := c2.GetOrLoad(ctx, "k", reload); err != nil || v != 2 || calls.Load() != 1 {
		t.Fatalf("GetOrLoad after Delete = %d, %v with %d loads; want 2 from one load", v, err, calls.Load())
	}

	// A load in flight does not land after a Set or a Delete of its key.
	for _, write := range []string{"set", "delete"} {
		entered, release := make(chan struct{}), make(chan struct{})
		slow := func(context.Context, string) (int, error) {
			close(entered)
			<-release
			return 100, nil
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := c2.GetOrLoad(ctx, write, slow); err != nil {
				t.Errorf("GetOrLoad: %v", err)
			}
		}()
		<-entered
		var err error
		if write == "set" {
			err = c2.Set(ctx, write, 5)
		} else {
			err = c2.Delete(ctx, write)
		}
		if err != nil {
			t.Fatal(err)
		}
		close(release)
		<-done
		v, ok := c2.Get(write)
		switch {
		case write == "set" && (!ok || v != 5):
			t.Errorf("a load that began before Set(5) landed after it: Get = %d, %v", v, ok)
		case write == "delete" && ok:
			t.Errorf("a load that began before Delete landed after it: Get = %d", v)
		}
	}
}

// TestP13CancelledCallerDoesNotFailOthers attacks P13: the first caller's cancellation
// fails every waiter, a waiter cannot leave, or a cancel causes a duplicate load.
func TestP13CancelledCallerDoesNotFailOthers(t *testing.T) {
	// The loader honours its context: if a caller's cancellation reached it, the
	// waiters would get context.Canceled.
	newLoader := func(calls *atomic.Int32, release chan struct{}, lctx chan<- context.Context) fresh.Loader[string, int] {
		return func(ctx context.Context, _ string) (int, error) {
			calls.Add(1)
			if lctx != nil {
				lctx <- ctx
			}
			select {
			case <-release:
				return 42, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	t.Run("leader cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{})
			var calls atomic.Int32
			release := make(chan struct{})
			load := newLoader(&calls, release, nil)
			ctx1, cancel1 := context.WithCancel(context.Background())
			leader, waiter := make(chan pAnswer[int], 1), make(chan pAnswer[int], 1)
			go func() { v, err := c.GetOrLoad(ctx1, "k", load); leader <- pAnswer[int]{v, err} }()
			synctest.Wait() // the leader's load is running
			go func() { v, err := c.GetOrLoad(context.Background(), "k", load); waiter <- pAnswer[int]{v, err} }()
			synctest.Wait() // the waiter has joined it
			cancel1()
			synctest.Wait() // no time passes in the bubble: "at once"
			select {
			case a := <-leader:
				if !errors.Is(a.err, context.Canceled) {
					t.Fatalf("cancelled leader got %d, %v; want context.Canceled", a.v, a.err)
				}
			default:
				t.Fatal("the cancelled leader did not return at once")
			}
			select {
			case a := <-waiter:
				t.Fatalf("the waiter returned %d, %v before the load finished: the leader's cancellation reached it", a.v, a.err)
			default:
			}
			close(release)
			if a := <-waiter; a.err != nil || a.v != 42 {
				t.Fatalf("waiter got %d, %v; want 42, nil", a.v, a.err)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("loader ran %d times; want 1", n)
			}
			if v, ok := c.Get("k"); !ok || v != 42 {
				t.Fatalf("Get = %d, %v; want the value stored", v, ok)
			}
		})
	})
	t.Run("waiter cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{})
			var calls atomic.Int32
			release := make(chan struct{})
			lctxs := make(chan context.Context, 4)
			load := newLoader(&calls, release, lctxs)
			leader, waiter, late := make(chan pAnswer[int], 1), make(chan pAnswer[int], 1), make(chan pAnswer[int], 1)
			go func() { v, err := c.GetOrLoad(context.Background(), "k", load); leader <- pAnswer[int]{v, err} }()
			synctest.Wait()
			lctx := <-lctxs
			ctx2, cancel2 := context.WithCancel(context.Background())
			go func() { v, err := c.GetOrLoad(ctx2, "k", load); waiter <- pAnswer[int]{v, err} }()
			synctest.Wait()
			cancel2()
			synctest.Wait()
			select {
			case a := <-waiter:
				if !errors.Is(a.err, context.Canceled) {
					t.Fatalf("cancelled waiter got %d, %v; want context.Canceled", a.v, a.err)
				}
			default:
				t.Fatal("a cancelled waiter did not return while the loader was blocked")
			}
			if lctx.Err() != nil {
				t.Fatal("a waiter's cancellation cancelled the loader while the leader still waits")
			}
			// A caller arriving after the cancel joins the same load: no duplicate.
			go func() { v, err := c.GetOrLoad(context.Background(), "k", load); late <- pAnswer[int]{v, err} }()
			synctest.Wait()
			close(release)
			for _, ch := range []chan pAnswer[int]{leader, late} {
				if a := <-ch; a.err != nil || a.v != 42 {
					t.Fatalf("got %d, %v; want 42, nil", a.v, a.err)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("loader ran %d times; want 1 (a duplicate load after a cancel)", n)
			}
		})
	})
	t.Run("waiter cancelled, real time", func(t *testing.T) {
		c := newCache(t, fresh.Options[string, int]{})
		var calls atomic.Int32
		release := make(chan struct{})
		lctxs := make(chan context.Context, 1)
		load := newLoader(&calls, release, lctxs)
		leader := make(chan pAnswer[int], 1)
		go func() { v, err := c.GetOrLoad(context.Background(), "k", load); leader <- pAnswer[int]{v, err} }()
		lctx := <-lctxs
		ctx2, cancel2 := context.WithCancel(context.Background())
		waiter := make(chan error, 1)
		go func() { _, err := c.GetOrLoad(ctx2, "k", load); waiter <- err }()
		time.Sleep(20 * time.Millisecond) // let it join
		cancel2()
		select {
		case err := <-waiter:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled waiter: %v; want context.Canceled", err)
			}
		case <-time.After(100 * time.Millisecond):
			t.Fatal("a cancelled waiter took over 100ms to return")
		}
		if lctx.Err() != nil {
			t.Fatal("the loader was cancelled while the leader still waits")
		}
		close(release)
		if a := <-leader; a.err != nil || a.v != 42 || calls.Load() != 1 {
			t.Fatalf("leader got %d, %v after %d loads", a.v, a.err, calls.Load())
		}
	})
}

// TestP14LoaderPanicOrGoexitReleasesWaiters attacks P14: a loader panic or Goexit
// hangs the key for ever; a loader that reads its own key deadlocks.
func TestP14LoaderPanicOrGoexitReleasesWaiters(t *testing.T) {
	const waiters = 5
	boom := errors.New("boom")
	type outcome struct {
		panicked any
		err      error
	}
	for _, how := range []string{"panic", "panic with an error", "goexit"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c := newCache(t, fresh.Options[string, int]{})
				release := make(chan struct{})
				var calls atomic.Int32
				bad := func(context.Context, string) (int, error) {
					calls.Add(1)
					<-release
					switch how {
					case "panic":
						panic("kaput")
					case "panic with an error":
						panic(boom)
					}
					runtime.Goexit()
					return 0, nil
				}
				got := make(chan outcome, waiters)
				for range waiters {
					go func() {
						returned := false
						defer func() {
							if !returned {
								got <- outcome{panicked: recover()}
							}
						}()
						_, err := c.GetOrLoad(ctx, "k", bad)
						returned = true
						got <- outcome{err: err}
					}()
				}
				synctest.Wait() // every waiter joined the one load
				close(release)
				synctest.Wait()
				for i := range waiters {
					var o outcome
					select {
					case o = <-got:
					default:
						t.Fatalf("%d of %d waiters are still blocked", waiters-i, waiters)
					}
					switch how {
					case "goexit":
						if o.panicked != nil || !errors.Is(o.err, fresh.ErrLoaderExited) {
							t.Errorf("waiter got %+v; want ErrLoaderExited", o)
						}
					default:
						pe, ok := o.panicked.(*fresh.PanicError)
						switch {
						case !ok:
							t.Errorf("waiter got %+v; want a panic with a *fresh.PanicError", o)
						case how == "panic" && pe.Value != "kaput":
							t.Errorf("PanicError.Value = %v; want kaput", pe.Value)
						case how == "panic with an error" && !errors.Is(pe, boom):
							t.Errorf("PanicError %v does not unwrap to the panic's error", pe.Value)
						case len(pe.Stack) == 0:
							t.Error("PanicError without the loader's stack")
						}
					}
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("loader ran %d times; want 1", n)
				}
				if s := c.Stats(); s.LoadErrors != 1 {
					t.Errorf("LoadErrors = %d; want 1", s.LoadErrors)
				}
				// The key is usable afterwards.
				v, err := c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 7, nil })
				if err != nil || v != 7 {
					t.Fatalf("GetOrLoad after the %s = %d, %v; want 7, nil", how, v, err)
				}
				if v, ok := c.Get("k"); !ok || v != 7 {
					t.Fatalf("Get after the %s = %d, %v; want 7, true", how, v, ok)
				}
			})
		})
	}

	// Readers of one request share a memo answer: when the loader panics, the reader
	// that waits on the memo must be released too, and the key must stay usable in
	// the request.
	t.Run("panic in a request scope", func(t *testing.T) {
		c := newCache(t, fresh.Options[string, int]{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := fresh.WithRequestScope(ctx)
		release := make(chan struct{})
		bad := func(context.Context, string) (int, error) { <-release; panic("kaput") }
		got := make(chan any, 2)
		for range 2 {
			go func() {
				defer func() { got <- recover() }()
				c.GetOrLoad(req, "k", bad)
			}()
		}
		time.Sleep(20 * time.Millisecond) // both readers are in
		close(release)
		for range 2 {
			select {
			case p := <-got:
				if _, ok := p.(*fresh.PanicError); !ok {
					t.Errorf("a reader of the request got %v; want a panic with the *PanicError", p)
				}
			case <-time.After(time.Second):
				cancel() // stops the spinning reader
				t.Fatal("a reader of the request was not released by the loader's panic")
			}
		}
		pWithin(t, time.Second, "a read of the key in the same request after the panic", cancel, func() error {
			if v, err := c.GetOrLoad(req, "k", func(context.Context, string) (int, error) { return 7, nil }); err != nil || v != 7 {
				return fmt.Errorf("got %d, %w; want 7, nil", v, err)
			}
			return nil
		})
	})

	t.Run("self", func(t *testing.T) {
		for _, via := range []string{"loader's context", "derived context", "request scope"} {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			c := newCache(t, fresh.Options[string, int]{})
			var inner error
			self := func(lctx context.Context, k string) (int, error) {
				switch via {
				case "derived context":
					var stop context.CancelFunc
					lctx, stop = context.WithTimeout(lctx, time.Hour)
					defer stop()
				case "request scope":
					lctx = fresh.WithRequestScope(lctx)
				}
				_, inner = c.GetOrLoad(lctx, k, func(context.Context, string) (int, error) { return 1, nil })
				return 0, inner
			}
			pWithin(t, 2*time.Second, "a loader reading its own key through the "+via, cancel, func() error {
				_, err := c.GetOrLoad(ctx, "k", self)
				if !errors.Is(err, fresh.ErrLoadCycle) || !errors.Is(inner, fresh.ErrLoadCycle) {
					return fmt.Errorf("outer %w, inner %w; want ErrLoadCycle", err, inner)
				}
				return nil
			})
			if v, err := c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 3, nil }); err != nil || v != 3 {
				t.Fatalf("the key after the cycle: %d, %v; want 3, nil", v, err)
			}
		}
	})

	t.Run("A→B→A", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := newHub(t, fresh.HubOptions{})
		a := newCache(t, fresh.Options[string, int]{Hub: h})
		b := newCache(t, fresh.Options[string, string]{Hub: h})
		var loadA fresh.Loader[string, int]
		loadB := func(ctx context.Context, _ string) (string, error) {
			n, err := a.GetOrLoad(ctx, "a", loadA)
			return fmt.Sprint(n), err
		}
		loadA = func(ctx context.Context, _ string) (int, error) {
			s, err := b.GetOrLoad(ctx, "b", loadB)
			return len(s), err
		}
		pWithin(t, 2*time.Second, "A→B→A", cancel, func() error {
			if _, err := a.GetOrLoad(ctx, "a", loadA); !errors.Is(err, fresh.ErrLoadCycle) {
				return fmt.Errorf("got %w; want ErrLoadCycle", err)
			}
			return nil
		})
		if _, ok := b.Get("b"); ok {
			t.Error("b's value built from the cycle was cached")
		}
		if v, err := a.GetOrLoad(ctx, "a", func(context.Context, string) (int, error) { return 5, nil }); err != nil || v != 5 {
			t.Fatalf("a after the cycle: %d, %v; want 5, nil", v, err)
		}
	})

	// The cycle closes through a load that began outside any loader: B's load of "b"
	// runs first, A's loader joins it, and then B's loader reads "a". The package doc
	// promises ErrLoadCycle for a loader that reads its own key "through other
	// loaders"; a wait-for cycle across joined flights is that case.
	t.Run("A→B→A through a joined load", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHub(t, fresh.HubOptions{})
			a := newCache(t, fresh.Options[string, int]{Hub: h})
			b := newCache(t, fresh.Options[string, int]{Hub: h})
			gate := make(chan struct{})
			var loadA fresh.Loader[string, int]
			loadB := func(ctx context.Context, _ string) (int, error) {
				<-gate
				return a.GetOrLoad(ctx, "a", loadA)
			}
			loadA = func(ctx context.Context, _ string) (int, error) { return b.GetOrLoad(ctx, "b", loadB) }
			ctxA, cancelA := context.WithCancel(context.Background())
			ctxB, cancelB := context.WithCancel(context.Background())
			defer cancelA()
			defer cancelB()
			resA, resB := make(chan error, 1), make(chan error, 1)
			go func() { _, err := b.GetOrLoad(ctxB, "b", loadB); resB <- err }()
			synctest.Wait() // b's loader waits at the gate
			go func() { _, err := a.GetOrLoad(ctxA, "a", loadA); resA <- err }()
			synctest.Wait() // a's loader has joined b's load
			close(gate)     // b's loader now reads a, whose loader waits for b
			synctest.Wait()
			var errs []error
			for _, ch := range []chan error{resA, resB} {
				select {
				case err := <-ch:
					errs = append(errs, err)
				default:
				}
			}
			if len(errs) < 2 {
				// The cleanups' Close cancels the loaders and undoes the deadlock.
				t.Fatalf("deadlock: %d of 2 callers returned", len(errs))
			}
			if !errors.Is(errs[0], fresh.ErrLoadCycle) && !errors.Is(errs[1], fresh.ErrLoadCycle) {
				t.Fatalf("got %v; want ErrLoadCycle", errs)
			}
		})
	})
}

// TestP15LoaderErrorReachesEveryCallerAndIsNotCached attacks P15: an error cached for
// everyone, or callers that joined the load getting nil.
func TestP15LoaderErrorReachesEveryCallerAndIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, fresh.Options[string, int]{})
		boom := errors.New("db down")
		var calls atomic.Int32
		var failing atomic.Bool
		failing.Store(true)
		release := make(chan struct{})
		load := func(context.Context, string) (int, error) {
			if calls.Add(1) == 1 {
				<-release
			}
			if failing.Load() {
				return 0, fmt.Errorf("load: %w", boom)
			}
			return 5, nil
		}
		const n = 6
		answers := make(chan pAnswer[int], n)
		for range n {
			go func() { v, err := c.GetOrLoad(ctx, "k", load); answers <- pAnswer[int]{v, err} }()
		}
		synctest.Wait() // all joined the one load
		close(release)
		var first error
		for range n {
			a := <-answers
			if a.err == nil || !errors.Is(a.err, boom) || a.v != 0 {
				t.Fatalf("a caller got %d, %v; want 0 and the loader's error", a.v, a.err)
			}
			if first == nil {
				first = a.err
			} else if a.err != first { //nolint:errorlint // the very same error value is what is tested
				t.Errorf("callers got different errors: %v and %v", first, a.err)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Fatalf("loader ran %d times for %d joined callers; want 1", got, n)
		}
		if s := c.Stats(); s.LoadErrors != 1 || s.Entries != 0 {
			t.Errorf("LoadErrors = %d, Entries = %d; want 1, 0", s.LoadErrors, s.Entries)
		}
		if v, ok := c.Get("k"); ok {
			t.Fatalf("Get after a failed load = %d, true", v)
		}
		// The next call loads again, and again while the error lasts.
		if _, err := c.GetOrLoad(ctx, "k", load); !errors.Is(err, boom) || calls.Load() != 2 {
			t.Fatalf("second call: %v after %d loads; want the error from a new load", err, calls.Load())
		}
		failing.Store(false)
		if v, err := c.GetOrLoad(ctx, "k", load); err != nil || v != 5 || calls.Load() != 3 {
			t.Fatalf("after recovery: %d, %v after %d loads; want 5 from a new load", v, err, calls.Load())
		}
		// Nor is it remembered by a request scope.
		req := fresh.WithRequestScope(ctx)
		failing.Store(true)
		if _, err := c.GetOrLoad(req, "r", load); !errors.Is(err, boom) {
			t.Fatalf("in a request: %v; want the error", err)
		}
		failing.Store(false)
		if v, err := c.GetOrLoad(req, "r", load); err != nil || v != 5 {
			t.Fatalf("the request remembered the error: %d, %v", v, err)
		}
		// An error does not bring back an invalidated value.
		if err := c.Set(ctx, "inv", 1, fresh.DependsOn(fresh.Tag("x"))); err != nil {
			t.Fatal(err)
		}
		if err := c.Invalidate(ctx, fresh.Tag("x")); err != nil {
			t.Fatal(err)
		}
		failing.Store(true)
		if v, err := c.GetOrLoad(ctx, "inv", load); !errors.Is(err, boom) || v != 0 {
			t.Fatalf("a failing load after an invalidation: %d, %v; want 0 and the error", v, err)
		}
	})

	// Readers of one request that joined one load: the error reaches each of them; a
	// joined reader is not "a later read" that may retry.
	t.Run("joined readers of a request", func(t *testing.T) {
		var loads int32
		synctest.Test(t, func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{})
			boom := errors.New("db down")
			var calls atomic.Int32
			release := make(chan struct{})
			load := func(context.Context, string) (int, error) {
				calls.Add(1)
				<-release
				return 0, boom
			}
			req := fresh.WithRequestScope(context.Background())
			const n = 4
			errs := make(chan error, n)
			for range n {
				go func() { _, err := c.GetOrLoad(req, "k", load); errs <- err }()
			}
			synctest.Wait()
			close(release)
			for range n {
				if err := <-errs; !errors.Is(err, boom) {
					t.Errorf("a joined reader of the request got %v; want the loader's error", err)
				}
			}
			loads = calls.Load()
		})
		if loads != 1 {
			t.Fatalf("loader ran %d times for 4 joined readers; want 1", loads)
		}
	})
}

// TestP16SlowRefreshHonoursExpiry attacks P16: a refresh slower than the TTL keeps the
// old value served past its expiry, or stops later refreshes.
func TestP16SlowRefreshHonoursExpiry(t *testing.T) {
	const (
		ttl     = 10 * time.Second
		refresh = 5 * time.Second
		slow    = 30 * time.Second // the refresher takes longer than the TTL
	)
	for _, where := range []string{"call TTL", "Options.TTL"} {
		t.Run(where, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				o := fresh.Options[string, int]{}
				opts := []fresh.Option{fresh.RefreshAfter(refresh)}
				if where == "call TTL" {
					opts = append(opts, fresh.TTL(ttl))
				} else {
					o.TTL = ttl
				}
				c := newCache(t, o)
				var calls atomic.Int32
				load := func(context.Context, string) (int, error) {
					n := calls.Add(1)
					if n > 1 {
						time.Sleep(slow)
					}
					return int(n), nil
				}
				if v, err := c.GetOrLoad(ctx, "k", load, opts...); err != nil || v != 1 {
					t.Fatalf("first load: %d, %v", v, err)
				}
				time.Sleep(refresh + time.Second)
				if v, err := c.GetOrLoad(ctx, "k", load, opts...); err != nil || v != 1 {
					t.Fatalf("past RefreshAfter: %d, %v; want the current value 1", v, err)
				}
				if s := c.Stats(); s.Refreshes != 1 {
					t.Fatalf("Refreshes = %d; want 1", s.Refreshes)
				}
				time.Sleep(ttl - refresh) // past the TTL; the refresh has 24s to go
				if v, ok := c.Get("k"); ok {
					t.Fatalf("Get served %d past its TTL while the refresh was running", v)
				}
				v, err := c.GetOrLoad(ctx, "k", load, opts...)
				if err != nil || v == 1 {
					t.Fatalf("GetOrLoad past the TTL during a slow refresh: %d, %v; want a newer value", v, err)
				}
				// A second refresh still happens.
				synctest.Wait()
				before := calls.Load()
				time.Sleep(refresh + time.Second)
				if _, err := c.GetOrLoad(ctx, "k", load, opts...); err != nil {
					t.Fatal(err)
				}
				if s := c.Stats(); s.Refreshes != 2 {
					t.Fatalf("Refreshes = %d; want a second refresh", s.Refreshes)
				}
				time.Sleep(slow + time.Second)
				synctest.Wait()
				if calls.Load() != before+1 {
					t.Fatalf("loader ran %d times after the second refresh was due; want %d", calls.Load(), before+1)
				}
				if v2, ok := c.Get("k"); !ok || v2 != int(before+1) {
					t.Fatalf("after the second refresh Get = %d, %v; want %d", v2, ok, before+1)
				}
			})
		})
	}
}

// TestP18StaleIfError attacks P18: stale-if-error returning an empty result with
// success, serving stale content on a not-found, or reviving it past max-stale.
func TestP18StaleIfError(t *testing.T) {
	const (
		ttl   = time.Minute
		grace = 10 * time.Minute
	)
	// With NegativeTTL < 0 a not-found is not cached, so it does not replace the
	// stale entry: only the check of the error keeps the stale value from a not-found.
	for _, where := range []string{"call TTL", "Options.TTL", "not-found not cached"} {
		t.Run(where, func(t *testing.T) {
			var revived string // set in the bubble, reported outside it (a Skip inside reads as a pass)
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				o := fresh.Options[string, int]{}
				opts := []fresh.Option{fresh.StaleIfError(grace)}
				switch where {
				case "call TTL":
					opts = append(opts, fresh.TTL(ttl))
				case "Options.TTL":
					o.TTL = ttl
				default:
					o.TTL, o.NegativeTTL = ttl, -1
				}
				c := newCache(t, o)
				boom := errors.New("origin 503")
				var mode atomic.Int32 // 0 ok, 1 error, 2 not found
				load := func(context.Context, string) (int, error) {
					switch mode.Load() {
					case 1:
						return 0, boom
					case 2:
						return 0, fmt.Errorf("gone: %w", fresh.ErrNotFound)
					}
					return 1, nil
				}
				get := func(k string) (int, error) { return c.GetOrLoad(ctx, k, load, opts...) }
				mode.Store(1)
				if v, err := get("never"); !errors.Is(err, boom) || v != 0 {
					t.Fatalf("a failing load with nothing stale: %d, %v; want 0 and the error", v, err)
				}
				mode.Store(0)
				for _, k := range []string{"a", "b", "c", "d"} {
					if v, err := get(k); err != nil || v != 1 {
						t.Fatalf("load %s: %d, %v", k, v, err)
					}
				}
				time.Sleep(ttl + time.Second) // expired, within the grace
				mode.Store(1)
				for i := range 2 {
					if v, err := get("a"); err != nil || v != 1 {
						t.Fatalf("origin error within the grace: %d, %v; want the stale 1", v, err)
					}
					if s := c.Stats(); s.StaleServed != uint64(i+1) {
						t.Fatalf("StaleServed = %d; want %d", s.StaleServed, i+1)
					}
				}
				if v, ok := c.Get("a"); ok {
					t.Fatalf("Get served the stale %d", v)
				}
				mode.Store(2)
				if v, err := get("b"); !errors.Is(err, fresh.ErrNotFound) || v != 0 {
					t.Fatalf("not found within the grace: %d, %v; want ErrNotFound, not the stale value", v, err)
				}
				// The origin said the row is gone: an error now must not revive it.
				mode.Store(1)
				if v, err := get("b"); err == nil || v != 0 {
					revived = fmt.Sprintf("after a not-found, a failing load: %d, %v; want an error, not the value the origin said is gone", v, err)
				}
				if err := c.Delete(ctx, "c"); err != nil {
					t.Fatal(err)
				}
				if v, err := get("c"); !errors.Is(err, boom) {
					t.Fatalf("after Delete, a failing load: %d, %v; want the error", v, err)
				}
				time.Sleep(grace) // past TTL + grace
				if v, err := get("d"); !errors.Is(err, boom) || v != 0 {
					t.Fatalf("past TTL+grace: %d, %v; want 0 and the error", v, err)
				}
				if s := c.Stats(); s.StaleServed != 2 && revived == "" {
					t.Fatalf("StaleServed = %d; want 2", s.StaleServed)
				}
			})
			if revived != "" {
				t.Fatal(revived)
			}
		})
	}
	t.Run("refused without a TTL", func(t *testing.T) {
		ctx := context.Background()
		var calls atomic.Int32
		load := func(context.Context, string) (int, error) { calls.Add(1); return 1, nil }
		c := newCache(t, fresh.Options[string, int]{})
		if _, err := c.GetOrLoad(ctx, "k", load, fresh.StaleIfError(time.Minute)); err == nil {
			t.Error("GetOrLoad with StaleIfError and no TTL: no error")
		}
		if err := c.Set(ctx, "s", 1, fresh.StaleIfError(time.Minute)); err == nil {
			t.Error("Set with StaleIfError and no TTL: no error")
		}
		if _, ok := c.Get("s"); ok {
			t.Error("a refused Set stored its value")
		}
		withTTL := newCache(t, fresh.Options[string, int]{TTL: time.Hour})
		if _, err := withTTL.GetOrLoad(ctx, "k", load, fresh.TTL(0), fresh.StaleIfError(time.Minute)); err == nil {
			t.Error("StaleIfError with TTL(0) overriding Options.TTL: no error")
		}
		if err := withTTL.Set(ctx, "k", 1, fresh.TTL(0), fresh.StaleIfError(time.Minute)); err == nil {
			t.Error("Set with StaleIfError and TTL(0): no error")
		}
		if calls.Load() != 0 {
			t.Errorf("a refused call ran its loader %d times", calls.Load())
		}
	})
}

// TestP19EmptyAndMissingAreDistinct attacks P19: empty and missing told apart, negative
// results cached for ever, or never cached; a negative result not reached by an
// insert into its scope.
func TestP19EmptyAndMissingAreDistinct(t *testing.T) {
	t.Run("empty values round-trip as hits", func(t *testing.T) {
		ctx := context.Background()
		var calls atomic.Int32
		bytes := newCache(t, fresh.Options[string, []byte]{})
		for k, want := range map[string][]byte{"empty": {}, "nil": nil} {
			load := func(context.Context, string) ([]byte, error) { calls.Add(1); return want, nil }
			for range 2 {
				v, err := bytes.GetOrLoad(ctx, k, load)
				if err != nil || len(v) != 0 || (v == nil) != (want == nil) {
					t.Fatalf("%s: GetOrLoad = %#v, %v; want %#v", k, v, err, want)
				}
			}
			v, ok := bytes.Get(k)
			if !ok || len(v) != 0 || (v == nil) != (want == nil) {
				t.Fatalf("%s: Get = %#v, %v; want %#v, true", k, v, ok, want)
			}
		}
		if calls.Load() != 2 {
			t.Fatalf("loaded %d times for 2 keys; an empty value was not a hit", calls.Load())
		}
		if err := bytes.Set(ctx, "set-nil", nil); err != nil {
			t.Fatal(err)
		}
		if v, ok := bytes.Get("set-nil"); !ok || v != nil {
			t.Fatalf("Get of a nil slice Set = %#v, %v", v, ok)
		}
		strs := newCache(t, fresh.Options[string, string]{})
		strs.Set(ctx, "", "")
		if v, ok := strs.Get(""); !ok || v != "" {
			t.Fatalf(`Get("") = %q, %v; want "", true`, v, ok)
		}
		ptrs := newCache(t, fresh.Options[string, *int]{})
		ptrs.Set(ctx, "nil", nil)
		if v, ok := ptrs.Get("nil"); !ok || v != nil {
			t.Fatalf("Get of a nil pointer = %v, %v", v, ok)
		}
		anys := newCache(t, fresh.Options[string, any]{})
		anys.Set(ctx, "nil", nil)
		if v, ok := anys.Get("nil"); !ok || v != nil {
			t.Fatalf("Get of a nil interface = %v, %v", v, ok)
		}
		// The zero value is a hit; a not-found is not, and is not a zero value either.
		ints := newCache(t, fresh.Options[string, int]{})
		var loads atomic.Int32
		load := func(_ context.Context, k string) (int, error) {
			loads.Add(1)
			if k == "missing" {
				return 0, fresh.ErrNotFound
			}
			return 0, nil
		}
		for range 2 {
			if v, err := ints.GetOrLoad(ctx, "zero", load); err != nil || v != 0 {
				t.Fatalf("zero: %d, %v", v, err)
			}
			if _, err := ints.GetOrLoad(ctx, "missing", load); !errors.Is(err, fresh.ErrNotFound) {
				t.Fatalf("missing: %v; want ErrNotFound", err)
			}
		}
		if loads.Load() != 2 {
			t.Fatalf("loaded %d times; want zero and not-found each cached", loads.Load())
		}
		if _, ok := ints.Get("zero"); !ok {
			t.Fatal("a cached zero value reads as absent")
		}
		if _, ok := ints.Get("missing"); ok {
			t.Fatal("a cached not-found reads as a value")
		}
	})

	notFound := func(calls *atomic.Int32) fresh.Loader[string, int] {
		return func(context.Context, string) (int, error) {
			calls.Add(1)
			return 0, fmt.Errorf("no row: %w", fresh.ErrNotFound)
		}
	}
	// expiresAfter checks that a negative result is cached for just under d and gone
	// just after it.
	expiresAfter := func(t *testing.T, c *fresh.Cache[string, int], d time.Duration, opts ...fresh.Option) {
		t.Helper()
		ctx := context.Background()
		var calls atomic.Int32
		load := notFound(&calls)
		for range 2 {
			if _, err := c.GetOrLoad(ctx, "k", load, opts...); !errors.Is(err, fresh.ErrNotFound) {
				t.Fatalf("GetOrLoad = %v; want ErrNotFound", err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("loaded %d times; want the negative result cached", calls.Load())
		}
		time.Sleep(d - time.Second)
		c.GetOrLoad(ctx, "k", load, opts...)
		if calls.Load() != 1 {
			t.Fatalf("the negative result expired before %v", d)
		}
		time.Sleep(2 * time.Second)
		c.GetOrLoad(ctx, "k", load, opts...)
		if calls.Load() != 2 {
			t.Fatalf("the negative result outlived %v", d)
		}
	}
	for _, tc := range []struct {
		name string
		o    fresh.Options[string, int]
		want time.Duration
	}{
		{"NegativeTTL", fresh.Options[string, int]{NegativeTTL: 5 * time.Second}, 5 * time.Second},
		{"NegativeTTL with a long TTL", fresh.Options[string, int]{TTL: time.Hour, NegativeTTL: 5 * time.Second}, 5 * time.Second},
		{"default", fresh.Options[string, int]{}, time.Minute},
		{"default with a long TTL", fresh.Options[string, int]{TTL: time.Hour}, time.Minute},
		{"default with a short TTL", fresh.Options[string, int]{TTL: 10 * time.Second}, 10 * time.Second},
	} {
		t.Run("negative expires/"+tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				expiresAfter(t, newCache(t, tc.o), tc.want)
			})
		})
	}
	// A call's TTL is the value's; NegativeTTL is "how long a loader's ErrNotFound
	// result is cached". TTL(0), "no expiry", must not keep a not-found for ever.
	t.Run("negative expires/a call's TTL does not override NegativeTTL", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, time.Hour} {
			t.Run(fmt.Sprintf("TTL(%v)", ttl), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					expiresAfter(t, newCache(t, fresh.Options[string, int]{}), time.Minute, fresh.TTL(ttl))
				})
			})
		}
	})

	t.Run("negative invalidated by an insert into its scope", func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, fresh.Options[string, int]{Tables: []fresh.TableSchema{{Table: "t", Scopes: [][]string{{"c"}}}}})
		var calls atomic.Int32
		var exists atomic.Bool
		load := func(ctx context.Context, _ string) (int, error) {
			calls.Add(1)
			fresh.Depend(ctx, fresh.Scope("t", fresh.Eq("c", 1)))
			if !exists.Load() {
				return 0, fresh.ErrNotFound
			}
			return 10, nil
		}
		if _, err := c.GetOrLoad(ctx, "first c=1", load); !errors.Is(err, fresh.ErrNotFound) {
			t.Fatalf("GetOrLoad = %v; want ErrNotFound", err)
		}
		// An insert into another scope leaves it alone.
		if err := c.InvalidateRows(ctx, fresh.RowChange{Table: "t", New: fresh.Row{"id": 9, "c": 2}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetOrLoad(ctx, "first c=1", load); !errors.Is(err, fresh.ErrNotFound) || calls.Load() != 1 {
			t.Fatalf("after an insert into c=2: %v with %d loads; want the cached ErrNotFound", err, calls.Load())
		}
		// An insert into its scope, with the value as a driver returns it (text).
		exists.Store(true)
		if err := c.InvalidateRows(ctx, fresh.RowChange{Table: "t", New: fresh.Row{"id": 10, "c": "1"}}); err != nil {
			t.Fatal(err)
		}
		if v, err := c.GetOrLoad(ctx, "first c=1", load); err != nil || v != 10 || calls.Load() != 2 {
			t.Fatalf("after an insert into c=1: %d, %v with %d loads; want 10 from a new load", v, err, calls.Load())
		}
	})
}

// TestP20MemoryStaysFlat attacks P20: expired entries never reclaimed, dependency
// records kept for dead keys, memory growing with the number of keys ever seen. It
// runs 200k unique keys with a 10ms TTL through a cache of 1000 entries, in fake time
// (about 6s of real time under -race; -short runs 50k keys).
func TestP20MemoryStaysFlat(t *testing.T) {
	keys := 200_000
	if testing.Short() {
		keys = 50_000
	}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		h := newHub(t, fresh.HubOptions{})
		const (
			maxSize = 1000
			ttl     = 10 * time.Millisecond
		)
		c := newCache(t, fresh.Options[int, int]{Hub: h, TTL: ttl, MaxEntries: maxSize})
		load := func(ctx context.Context, k int) (int, error) {
			fresh.Depend(ctx, fresh.Entity("soak", k))
			return k, nil
		}
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		// pruned waits, in fake time, for the store's clean-up (about a second, as its
		// timer wheel expires entries by the second): then the expired entries are
		// gone, with their dependencies. The tombstone table does not grow with the
		// dependencies written. It fails after 5s.
		slots := h.Stats().Slots
		pruned := func(when string) {
			t.Helper()
			var e int
			for range 10 {
				time.Sleep(500 * time.Millisecond)
				synctest.Wait()
				if e = c.Stats().Entries; e <= maxSize/10 {
					if n := h.Stats().Slots; n != slots {
						t.Fatalf("%s: the tombstone table grew from %d to %d slots", when, slots, n)
					}
					return
				}
			}
			t.Fatalf("%s: %d entries 5s after the writes with a 10ms TTL", when, e)
		}
		var base uint64
		for i := range keys {
			var err error
			switch {
			case i%16 == 0:
				_, err = c.GetOrLoad(ctx, i, load)
			case i%2 == 0:
				err = c.Set(ctx, i, i, fresh.DependsOn(fresh.Entity("soak", i), fresh.Tag("all")))
			default:
				err = c.Set(ctx, i, i)
			}
			if err != nil {
				t.Fatal(err)
			}
			if i%1000 != 999 {
				continue
			}
			time.Sleep(ttl) // every 1000 keys, so every entry outlives its TTL
			if e := c.Stats().Entries; e > maxSize {
				t.Fatalf("after %d keys: %d entries; want at most MaxEntries %d", i+1, e, maxSize)
			}
			switch i + 1 {
			case keys / 4:
				base = heap()
			case keys / 2:
				pruned("mid-soak")
			}
		}
		pruned("after the soak")
		s, hs := c.Stats(), h.Stats()
		end := heap()
		t.Logf("after the soak: %+v; %d slots; heap %d → %d", s, hs.Slots, base, end)
		if s.Evictions+s.Expirations < uint64(keys-maxSize) {
			t.Errorf("%d evictions and %d expirations for %d keys through %d entries", s.Evictions, s.Expirations, keys, maxSize)
		}
		if end > 2*base+8<<20 {
			t.Errorf("heap grew from %d to %d bytes over %d more unique keys", base, end, keys*3/4)
		}
	})
}

// TestP21CloseLeaksNoGoroutine attacks P21: goroutines and tickers that leak because
// Close does not stop them, and a Close that returns before its loaders.
func TestP21CloseLeaksNoGoroutine(t *testing.T) {
	ctx := context.Background()
	runtime.GC()
	before := runtime.NumGoroutine()

	bus := fresh.NewLocalBus()
	h1, err := fresh.NewHub(fresh.HubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hubs []*fresh.Hub
	hubs = append(hubs, h1)
	for range 2 {
		h, err := fresh.NewHub(fresh.HubOptions{Bus: bus, MaxStaleness: 100 * time.Millisecond, Heartbeat: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, h)
	}
	var caches []*fresh.Cache[string, int]
	for i, h := range hubs {
		for j, o := range []fresh.Options[string, int]{
			{Hub: h, Name: "plain"},
			{Hub: h, Name: "ttl", TTL: time.Minute},
			{Hub: h, Name: "cost", MaxCost: 100, Cost: func(string, int) uint32 { return 1 }},
		} {
			c, err := fresh.New(o)
			if err != nil {
				t.Fatalf("hub %d cache %d: %v", i, j, err)
			}
			caches = append(caches, c)
		}
	}
	// Loads in flight, their loaders blocked until their context ends, some with
	// callers waiting and one a background refresh.
	var entered sync.WaitGroup
	var running atomic.Int32
	blocked := func(ctx context.Context, _ string) (int, error) {
		running.Add(1)
		defer running.Add(-1)
		entered.Done()
		<-ctx.Done()
		return 0, ctx.Err()
	}
	var callers sync.WaitGroup
	for _, c := range caches {
		for _, k := range []string{"a", "b"} {
			entered.Add(1)
			callers.Add(1)
			go func() {
				defer callers.Done()
				c.GetOrLoad(fresh.WithRequestScope(ctx), k, blocked)
			}()
		}
		c.GetOrLoad(ctx, "r", func(context.Context, string) (int, error) { return 1, nil }, fresh.RefreshAfter(time.Nanosecond))
		time.Sleep(time.Millisecond)
		entered.Add(1)
		c.GetOrLoad(ctx, "r", blocked, fresh.RefreshAfter(time.Nanosecond))
	}
	entered.Wait()

	// A hub whose bus died with an invalidation queued for retry.
	deadBus := fresh.NewLocalBus()
	dead, err := fresh.NewHub(fresh.HubOptions{Bus: deadBus, MaxStaleness: 100 * time.Millisecond, Heartbeat: 5 * time.Millisecond, Logger: slog.New(&pLogs{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.New(fresh.Options[string, int]{Hub: dead, Name: "dead"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.New(fresh.Options[string, int]{Hub: h1, Name: "plain"}); err == nil {
		t.Fatal("a second cache named plain was accepted") // a failed New must not leak either
	}
	deadBus.Close()
	if err := dead.Invalidate(ctx, fresh.Tag("t")); !errors.Is(err, fresh.ErrPublish) {
		t.Fatalf("Invalidate on a closed bus: %v; want ErrPublish", err)
	}

	// Close everything: one cache on its own, the rest through their hubs.
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := caches[0].Close(closeCtx); err != nil {
		t.Errorf("Cache.Close: %v", err)
	}
	for _, h := range hubs {
		if err := h.Close(closeCtx); err != nil {
			t.Errorf("Hub.Close: %v", err)
		}
	}
	if err := bus.Close(); err != nil {
		t.Errorf("bus.Close: %v", err)
	}
	pWithin(t, 2*time.Second, "Hub.Close with undeliverable invalidations", nil, func() error {
		if err := dead.Close(closeCtx); !errors.Is(err, fresh.ErrPublish) {
			return fmt.Errorf("got %w; want ErrPublish for the invalidation never delivered", err)
		}
		return nil
	})
	if n := running.Load(); n != 0 {
		t.Errorf("%d loaders still running after Close returned", n)
	}
	pWithin(t, 2*time.Second, "the callers of the closed caches", nil, func() error { callers.Wait(); return nil })

	var now int
	if !pPoll(2*time.Second, func() bool { now = runtime.NumGoroutine(); return now <= before }) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "freshcache/fresh.") || strings.Contains(g, "maypok86/otter") {
				leaked = append(leaked, g)
			}
		}
		t.Fatalf("%d goroutines before, %d after Close; leaked:\n%s", before, now, strings.Join(leaked, "\n\n"))
	}

	t.Run("Close waits for its loaders", func(t *testing.T) {
		c, err := fresh.New(fresh.Options[string, int]{Hub: newHub(t, fresh.HubOptions{})})
		if err != nil {
			t.Fatal(err)
		}
		var returned atomic.Bool
		started := make(chan struct{})
		load := func(ctx context.Context, _ string) (int, error) {
			close(started)
			<-ctx.Done() // Close must cancel it
			time.Sleep(50 * time.Millisecond)
			returned.Store(true)
			return 0, ctx.Err()
		}
		caller := make(chan error, 1)
		go func() { _, err := c.GetOrLoad(ctx, "k", load); caller <- err }()
		<-started
		pWithin(t, 2*time.Second, "Close", nil, func() error { return c.Close(ctx) })
		if !returned.Load() {
			t.Fatal("Close returned before the loader it cancelled")
		}
		if err := <-caller; err == nil {
			t.Fatal("the caller of a load cut short by Close got no error")
		}
		var calls atomic.Int32
		if _, err := c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { calls.Add(1); return 1, nil }); !errors.Is(err, fresh.ErrClosed) || calls.Load() != 0 {
			t.Fatalf("GetOrLoad after Close: %v with %d loads; want ErrClosed and no load", err, calls.Load())
		}
	})
	t.Run("Close bounded by its context", func(t *testing.T) {
		c, err := fresh.New(fresh.Options[string, int]{Hub: newHub(t, fresh.HubOptions{})})
		if err != nil {
			t.Fatal(err)
		}
		stuck, started := make(chan struct{}), make(chan struct{})
		defer close(stuck)
		go c.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { close(started); <-stuck; return 0, nil })
		<-started
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		pWithin(t, 2*time.Second, "Close with a loader that ignores its context", nil, func() error {
			if err := c.Close(short); err == nil {
				return errors.New("no error though a loader was still running")
			}
			return nil
		})
	})
}

// TestP22KeysNeverCollide attacks P22: a key that prints, hashes or encodes like
// another returning the other's value, or being invalidated with it.
func TestP22KeysNeverCollide(t *testing.T) {
	ctx := context.Background()
	t.Run("struct keys that print alike", func(t *testing.T) {
		type two struct{ A, B string }
		c := newCache(t, fresh.Options[two, string]{})
		keys := []two{{"a b", "c"}, {"a", "b c"}, {"a b c", ""}, {"", "a b c"}} // all print as {a b c} or close to it
		for _, k := range keys {
			c.Set(ctx, k, fmt.Sprintf("%#v", k))
		}
		for _, k := range keys {
			if v, ok := c.Get(k); !ok || v != fmt.Sprintf("%#v", k) {
				t.Errorf("Get(%#v) = %q, %v", k, v, ok)
			}
		}
		pc := newCache(t, fresh.Options[pKey, string]{})
		pkeys := []pKey{{1, "a"}, {1, "a "}, {1, " a"}, {11, ""}, {1, "a\x00"}}
		for _, k := range pkeys {
			pc.Set(ctx, k, fmt.Sprintf("%#v", k))
		}
		for _, k := range pkeys {
			if v, ok := pc.Get(k); !ok || v != fmt.Sprintf("%#v", k) {
				t.Errorf("Get(%#v) = %q, %v", k, v, ok)
			}
		}
		// InvalidatePattern without a KeyCodec matches the fmt.Sprint form, only it.
		for _, p := range []string{"{N:1 S:a}", "main.pKey{N:1, S:\"a\"}", "1 a", "{1 a"} {
			if err := pc.InvalidatePattern(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range pkeys {
			if _, ok := pc.Get(k); !ok {
				t.Fatalf("a pattern that is not the fmt.Sprint form of %#v deleted it", k)
			}
		}
		if err := pc.InvalidatePattern(ctx, "{1 a}"); err != nil {
			t.Fatal(err)
		}
		for _, k := range pkeys {
			_, ok := pc.Get(k)
			if want := k != (pKey{1, "a"}); ok != want {
				t.Errorf(`after InvalidatePattern("{1 a}"): %#v cached = %v; want %v`, k, ok, want)
			}
		}
		if err := pc.InvalidatePattern(ctx, "{1 a*"); err != nil {
			t.Fatal(err)
		}
		for _, k := range pkeys {
			_, ok := pc.Get(k)
			if want := k == (pKey{1, " a"}) || k == (pKey{11, ""}); ok != want {
				t.Errorf(`after InvalidatePattern("{1 a*"): %#v cached = %v; want %v`, k, ok, want)
			}
		}
	})
	t.Run("1 and \"1\" in two caches of one hub", func(t *testing.T) {
		h := newHub(t, fresh.HubOptions{})
		ints := newCache(t, fresh.Options[int, string]{Hub: h, Name: "x"})
		strs := newCache(t, fresh.Options[string, string]{Hub: h, Name: "x:1"})
		other := newCache(t, fresh.Options[string, string]{Hub: h, Name: "x:"})
		outer := newCache(t, fresh.Options[string, string]{Hub: h})
		ints.Set(ctx, 1, "int")
		strs.Set(ctx, "1", "string")
		other.Set(ctx, "1:1", "other")
		if v, _ := ints.Get(1); v != "int" {
			t.Errorf("ints.Get(1) = %q", v)
		}
		if v, _ := strs.Get("1"); v != "string" {
			t.Errorf(`strs.Get("1") = %q`, v)
		}
		// A value built from ints' key 1 depends on that key only: writes of keys that
		// spell alike in other caches (cache "x:1" key "1", cache "x:" key "1:1") do
		// not reach it; a write of the key itself does.
		// It reads key "2" of the other two caches too, which turns their key
		// dependencies on.
		build := func(ctx context.Context, _ string) (string, error) {
			v, err := ints.GetOrLoad(ctx, 1, func(context.Context, int) (string, error) { return "int", nil })
			if err != nil {
				return "", err
			}
			for _, c := range []*fresh.Cache[string, string]{strs, other} {
				if _, err := c.GetOrLoad(ctx, "2", func(context.Context, string) (string, error) { return "two", nil }); err != nil {
					return "", err
				}
			}
			return "built from " + v, nil
		}
		if _, err := outer.GetOrLoad(ctx, "page", build); err != nil {
			t.Fatal(err)
		}
		strs.Set(ctx, "1", "string 2")
		other.Set(ctx, "1:1", "other 2")
		other.Delete(ctx, "1")
		if _, ok := outer.Get("page"); !ok {
			t.Error("a write of a key of another cache that spells alike invalidated a value built from ints' key 1")
		}
		ints.Set(ctx, 1, "int 2")
		if _, ok := outer.Get("page"); ok {
			t.Error("a write of ints' key 1 did not invalidate the value built from it")
		}
	})
	t.Run("interface keys of different types", func(t *testing.T) {
		c := newCache(t, fresh.Options[any, string]{})
		keys := []any{1, int64(1), uint(1), 1.0, "1", true, pKey{1, ""}, [1]int{1}}
		for _, k := range keys {
			c.Set(ctx, k, fmt.Sprintf("%T", k))
		}
		for _, k := range keys {
			if v, ok := c.Get(k); !ok || v != fmt.Sprintf("%T", k) {
				t.Errorf("Get(%T(%v)) = %q, %v", k, k, v, ok)
			}
		}
	})
	t.Run("floats as == says", func(t *testing.T) {
		c := newCache(t, fresh.Options[float64, string]{})
		negZero := math.Copysign(0, -1)
		c.Set(ctx, negZero, "-0")
		if v, ok := c.Get(0); !ok || v != "-0" {
			t.Errorf("Get(+0) after Set(-0) = %q, %v; -0 == +0", v, ok)
		}
		c.Set(ctx, 0, "+0")
		if v, ok := c.Get(negZero); !ok || v != "+0" {
			t.Errorf("Get(-0) after Set(+0) = %q, %v", v, ok)
		}
		c.Set(ctx, math.NaN(), "nan")
		if v, ok := c.Get(math.NaN()); ok {
			t.Errorf("Get(NaN) = %q; NaN equals no key", v)
		}
	})
	t.Run("pointer keys", func(t *testing.T) {
		c := newCache(t, fresh.Options[*pKey, string]{})
		p, q := &pKey{1, "a"}, &pKey{1, "a"}
		c.Set(ctx, p, "p")
		c.Set(ctx, q, "q")
		if v, _ := c.Get(p); v != "p" {
			t.Errorf("Get(p) = %q", v)
		}
		if v, _ := c.Get(q); v != "q" {
			t.Errorf("Get(q) = %q", v)
		}
	})
}

// TestP23ValuesAreShared attacks P23, a caller mutating a value the cache returned. By
// design fresh stores values as they are and returns them as they are: no copy, no
// clone hook. Every Get, and every caller of GetOrLoad, receives the same value, so a
// slice, map or pointer value shares its backing memory with the cache and with every
// other reader: callers must treat returned values as read-only (mutating one is a
// data race and corrupts what the others read). This test pins that behaviour; if
// fresh starts copying, it fails, and this comment and the docs must change.
func TestP23ValuesAreShared(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, fresh.Options[string, []int]{})
	orig := []int{1, 2, 3}
	if err := c.Set(ctx, "k", orig); err != nil {
		t.Fatal(err)
	}
	a, _ := c.Get("k")
	b, _ := c.Get("k")
	if len(a) != 3 || &a[0] != &b[0] || &a[0] != &orig[0] {
		t.Fatal("two Gets returned different backing arrays: values are copied now; update the docs and this test")
	}
	a[0] = 99 // what a careless caller does
	if b, _ := c.Get("k"); b[0] != 99 {
		t.Fatal("a mutation of a returned slice did not show in the cache")
	}
	load := func(context.Context, string) ([]int, error) { return []int{4, 5}, nil }
	x, _ := c.GetOrLoad(ctx, "l", load)
	y, _ := c.GetOrLoad(ctx, "l", load)
	if &x[0] != &y[0] {
		t.Fatal("the loading caller and a later hit got different backing arrays")
	}
	m := newCache(t, fresh.Options[string, map[string]int]{})
	m.Set(ctx, "m", map[string]int{"a": 1})
	m1, _ := m.Get("m")
	m1["b"] = 2
	if m2, _ := m.Get("m"); len(m2) != 2 {
		t.Fatal("a map value is copied on Get")
	}
}

// TestP23SharingIsDocumented attacks P23's other half: sharing that nobody was told
// about. The package or Cache documentation must say that values are not copied
// (doc.go does: "Values are shared, not copied").
func TestP23SharingIsDocumented(t *testing.T) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range []string{"doc.go", "cache.go"} {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/freshcache/fresh")
	if err != nil {
		t.Fatal(err)
	}
	text := p.Doc
	for _, typ := range p.Types {
		if typ.Name != "Cache" {
			continue
		}
		text += typ.Doc
		for _, f := range typ.Methods {
			switch f.Name {
			case "Get", "GetOrLoad", "Set":
				text += f.Doc
			}
		}
	}
	said := regexp.MustCompile(`(?i)not (be )?(copied|cloned)|(must|should) not (be )?(modif|mutat|change)|do not (modify|mutate)|read-only|shared with`)
	if !said.MatchString(text) {
		t.Fatal("the docs of the package and of Cache, Get, GetOrLoad and Set do not say that values are shared, not copied")
	}
}

// TestP31EveryOptionDoesSomething attacks P31: an option that is silently a no-op.
// Each case observes an effect that would be absent if its option were ignored.
func TestP31EveryOptionDoesSomething(t *testing.T) {
	ctx := context.Background()
	one := func(context.Context, string) (int, error) { return 1, nil }
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Options.MaxEntries", func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{MaxEntries: 10})
			for i := range 1000 {
				c.Set(ctx, fmt.Sprint(i), i)
			}
			held := 0
			pPoll(5*time.Second, func() bool { // the store evicts in its maintenance
				held = 0
				for i := range 1000 {
					if _, ok := c.Get(fmt.Sprint(i)); ok {
						held++
					}
				}
				return held <= 10
			})
			if held == 0 || held > 10 {
				t.Fatalf("%d of 1000 entries held with MaxEntries 10", held)
			}
		}},
		{"Options.MaxCost and Cost", func(t *testing.T) {
			var costs atomic.Int32
			c := newCache(t, fresh.Options[string, string]{MaxCost: 100, Cost: func(_ string, v string) uint32 {
				costs.Add(1)
				return uint32(len(v))
			}})
			if err := c.Set(ctx, "big", strings.Repeat("x", 101)); !errors.Is(err, fresh.ErrTooLarge) {
				t.Fatalf("Set of cost 101 under MaxCost 100 = %v; want ErrTooLarge", err)
			}
			for i := range 100 {
				c.Set(ctx, fmt.Sprint(i), strings.Repeat("x", 10))
			}
			held := 0
			pPoll(5*time.Second, func() bool {
				held = 0
				for i := range 100 {
					if _, ok := c.Get(fmt.Sprint(i)); ok {
						held++
					}
				}
				return held <= 10
			})
			if held == 0 || held > 10 || costs.Load() == 0 {
				t.Fatalf("%d entries of cost 10 held under MaxCost 100 (%d Cost calls)", held, costs.Load())
			}
		}},
		{"Options.TTL", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t, fresh.Options[string, int]{TTL: time.Second})
				c.Set(ctx, "k", 1)
				c.GetOrLoad(ctx, "l", one)
				time.Sleep(2 * time.Second)
				for _, k := range []string{"k", "l"} {
					if _, ok := c.Get(k); ok {
						t.Fatalf("%s outlived Options.TTL", k)
					}
				}
			})
		}},
		{"Options.Jitter", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t, fresh.Options[int, int]{TTL: 100 * time.Second, Jitter: 0.9})
				for i := range 100 {
					c.Set(ctx, i, i)
				}
				time.Sleep(55 * time.Second) // TTLs are drawn from [10s, 100s]
				alive := 0
				for i := range 100 {
					if _, ok := c.Get(i); ok {
						alive++
					}
				}
				if alive == 0 || alive == 100 {
					t.Fatalf("%d of 100 entries alive at 55s with TTL 100s and Jitter 0.9; want some expired, some not", alive)
				}
			})
		}},
		{"Options.NegativeTTL", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				nf := func(context.Context, string) (int, error) { calls.Add(1); return 0, fresh.ErrNotFound }
				c := newCache(t, fresh.Options[string, int]{TTL: time.Hour, NegativeTTL: 2 * time.Second})
				c.GetOrLoad(ctx, "k", nf)
				time.Sleep(3 * time.Second)
				c.GetOrLoad(ctx, "k", nf)
				if calls.Load() != 2 {
					t.Fatalf("a negative result outlived NegativeTTL 2s (%d loads)", calls.Load())
				}
				off := newCache(t, fresh.Options[string, int]{NegativeTTL: -1})
				off.GetOrLoad(ctx, "k", nf)
				off.GetOrLoad(ctx, "k", nf)
				if calls.Load() != 4 {
					t.Fatalf("a negative NegativeTTL still cached the not-found (%d loads)", calls.Load())
				}
			})
		}},
		{"Options.Disabled", func(t *testing.T) {
			var calls atomic.Int32
			c := newCache(t, fresh.Options[string, int]{Disabled: true})
			c.Set(ctx, "k", 1)
			if _, ok := c.Get("k"); ok {
				t.Fatal("a disabled cache served a Set value")
			}
			for range 2 {
				c.GetOrLoad(ctx, "l", func(context.Context, string) (int, error) { calls.Add(1); return 1, nil })
			}
			if calls.Load() != 2 {
				t.Fatalf("a disabled cache loaded %d times for 2 reads", calls.Load())
			}
		}},
		{"Options.Tables", func(t *testing.T) {
			scope := fresh.Scope("t", fresh.Eq("c", 1))
			if err := newCache(t, fresh.Options[string, int]{}).Set(ctx, "k", 1, fresh.DependsOn(scope)); err == nil {
				t.Fatal("a scope was accepted without its table (the control case)")
			}
			c := newCache(t, fresh.Options[string, int]{Tables: []fresh.TableSchema{{Table: "t", Scopes: [][]string{{"c"}}}}})
			if err := c.Set(ctx, "k", 1, fresh.DependsOn(scope)); err != nil {
				t.Fatalf("Set with a scope of a table given in Options.Tables: %v", err)
			}
			c.InvalidateRows(ctx, fresh.RowChange{Table: "t", New: fresh.Row{"id": 1, "c": 1}})
			if _, ok := c.Get("k"); ok {
				t.Fatal("a row change in the scope did not invalidate it")
			}
		}},
		{"Options.KeyCodec", func(t *testing.T) {
			var encodes atomic.Int32
			c := newCache(t, fresh.Options[pKey, int]{KeyCodec: pKeyCodec{&encodes}})
			c.Set(ctx, pKey{1, "a"}, 1)
			c.Set(ctx, pKey{2, "a"}, 2)
			if err := c.InvalidatePattern(ctx, "pk/1/*"); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(pKey{1, "a"}); ok {
				t.Fatal("InvalidatePattern did not match the KeyCodec's form")
			}
			if _, ok := c.Get(pKey{2, "a"}); !ok || encodes.Load() == 0 {
				t.Fatal("InvalidatePattern deleted a key its pattern does not match")
			}
		}},
		{"Options.Recorder", func(t *testing.T) {
			rec := &countingRecorder{}
			c := newCache(t, fresh.Options[string, int]{Recorder: rec})
			c.GetOrLoad(ctx, "k", one)
			c.GetOrLoad(ctx, "k", one)
			if rec.count(fresh.EventHit) != 1 || rec.count(fresh.EventMiss) != 1 || rec.loads != 1 {
				t.Fatalf("recorder saw %v and %d loads; want 1 hit, 1 miss, 1 load", rec.events, rec.loads)
			}
		}},
		{"Options.Clock", func(t *testing.T) {
			clk := &pClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			store := newCache(t, fresh.Options[string, int]{TTL: time.Minute, Clock: clk})
			call := newCache(t, fresh.Options[string, int]{Clock: clk})
			store.Set(ctx, "k", 1)
			call.Set(ctx, "k", 1, fresh.TTL(time.Minute))
			call.GetOrLoad(ctx, "r", one, fresh.RefreshAfter(time.Second))
			clk.advance(2 * time.Minute)
			if _, ok := store.Get("k"); ok {
				t.Error("Options.TTL did not expire on the Clock's time")
			}
			if _, ok := call.Get("k"); ok {
				t.Error("a call's TTL did not expire on the Clock's time")
			}
			call.GetOrLoad(ctx, "r", one, fresh.RefreshAfter(time.Second))
			if call.Stats().Refreshes != 1 {
				t.Error("RefreshAfter did not use the Clock's time")
			}
		}},
		{"Options.Name", func(t *testing.T) {
			bus := pLocalBus(t)
			h1, h2 := busHubP(t, bus), busHubP(t, bus)
			a := newCache(t, fresh.Options[string, int]{Hub: h1, Name: "orders"})
			b := newCache(t, fresh.Options[string, int]{Hub: h2, Name: "orders"})
			users := newCache(t, fresh.Options[string, int]{Hub: h2, Name: "users"})
			if a.Name() != "orders" {
				t.Fatalf("Name() = %q", a.Name())
			}
			if c, err := fresh.New(fresh.Options[string, int]{Hub: h1, Name: "orders"}); err == nil {
				c.Close(ctx)
				t.Fatal("a second cache named orders in one hub was accepted")
			}
			b.Set(ctx, "k", 1)
			users.Set(ctx, "k", 1)
			a.Delete(ctx, "k")
			if !pPoll(2*time.Second, func() bool { _, ok := b.Get("k"); return !ok }) {
				t.Fatal("a Delete did not reach the cache of the same name in another hub")
			}
			if _, ok := users.Get("k"); !ok {
				t.Fatal("a Delete reached a cache of another name")
			}
		}},
		{"Options.Hub", func(t *testing.T) {
			h := newHub(t, fresh.HubOptions{})
			c := newCache(t, fresh.Options[string, int]{Hub: h})
			elsewhere := newCache(t, fresh.Options[string, int]{})
			if c.Hub() != h || h.Stats().Caches != 1 {
				t.Fatalf("Hub() = %p, hub has %d caches; want %p, 1", c.Hub(), h.Stats().Caches, h)
			}
			c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")))
			elsewhere.Invalidate(ctx, fresh.Tag("t"))
			if _, ok := c.Get("k"); !ok {
				t.Fatal("an invalidation in another hub reached the cache")
			}
			h.Invalidate(ctx, fresh.Tag("t"))
			if _, ok := c.Get("k"); ok {
				t.Fatal("an invalidation through Options.Hub did not reach the cache")
			}
		}},
		{"Options.Logger", func(t *testing.T) {
			bus := pLocalBus(t)
			cacheLogs, hubLogs := &pLogs{}, &pLogs{}
			h1 := busHubP(t, bus)
			h2, err := fresh.NewHub(fresh.HubOptions{Bus: bus, Logger: slog.New(hubLogs)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h2.Close(ctx) })
			strs := newCache(t, fresh.Options[string, int]{Hub: h1, Name: "x"})
			ints := newCache(t, fresh.Options[int, int]{Hub: h2, Name: "x", Logger: slog.New(cacheLogs)})
			ints.Set(ctx, 1, 1)
			strs.Delete(ctx, "not a number") // ints cannot decode it, warns and flushes
			if !pPoll(2*time.Second, func() bool { return cacheLogs.has("undecodable") }) {
				t.Fatal("the cache's warning did not reach Options.Logger")
			}
			if hubLogs.has("undecodable") {
				t.Fatal("the cache's warning went to the hub's logger too")
			}
		}},
		{"call DependsOn", func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{})
			c.Set(ctx, "s", 1, fresh.DependsOn(fresh.Tag("t")))
			c.GetOrLoad(ctx, "l", one, fresh.DependsOn(fresh.Tag("t")))
			c.Set(ctx, "other", 1, fresh.DependsOn(fresh.Tag("u")))
			c.Invalidate(ctx, fresh.Tag("t"))
			for _, k := range []string{"s", "l"} {
				if _, ok := c.Get(k); ok {
					t.Errorf("%s survived an invalidation of its DependsOn", k)
				}
			}
			if _, ok := c.Get("other"); !ok {
				t.Error("an entry with another dependency was invalidated")
			}
		}},
		{"call TTL", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t, fresh.Options[string, int]{})
				long := newCache(t, fresh.Options[string, int]{TTL: time.Hour})
				c.Set(ctx, "s", 1, fresh.TTL(time.Second))
				c.GetOrLoad(ctx, "l", one, fresh.TTL(time.Second))
				long.Set(ctx, "s", 1, fresh.TTL(time.Second))
				long.Set(ctx, "forever", 1, fresh.TTL(0))
				time.Sleep(2 * time.Hour)
				for _, k := range []string{"s", "l"} {
					if _, ok := c.Get(k); ok {
						t.Errorf("%s outlived its TTL", k)
					}
				}
				if _, ok := long.Get("s"); ok {
					t.Error("a call's TTL did not override a longer Options.TTL")
				}
				if _, ok := long.Get("forever"); !ok {
					t.Error("TTL(0) did not override Options.TTL")
				}
			})
		}},
		{"call RefreshAfter", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				load := func(context.Context, string) (int, error) { return int(calls.Add(1)), nil }
				c := newCache(t, fresh.Options[string, int]{})
				c.GetOrLoad(ctx, "k", load, fresh.RefreshAfter(time.Second))
				time.Sleep(2 * time.Second)
				if v, _ := c.GetOrLoad(ctx, "k", load, fresh.RefreshAfter(time.Second)); v != 1 {
					t.Fatalf("during the refresh got %d; want 1", v)
				}
				synctest.Wait()
				if v, _ := c.Get("k"); v != 2 || c.Stats().Refreshes != 1 {
					t.Fatalf("after RefreshAfter: Get = %d, %d refreshes; want 2, 1", v, c.Stats().Refreshes)
				}
			})
		}},
		{"call StaleIfError", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var failing atomic.Bool
				load := func(context.Context, string) (int, error) {
					if failing.Load() {
						return 0, errors.New("down")
					}
					return 1, nil
				}
				c := newCache(t, fresh.Options[string, int]{TTL: time.Minute})
				c.GetOrLoad(ctx, "k", load, fresh.StaleIfError(time.Hour))
				time.Sleep(2 * time.Minute)
				failing.Store(true)
				if v, err := c.GetOrLoad(ctx, "k", load, fresh.StaleIfError(time.Hour)); err != nil || v != 1 {
					t.Fatalf("StaleIfError: %d, %v; want the stale 1", v, err)
				}
			})
		}},
		{"call AsOf", func(t *testing.T) {
			c := newCache(t, fresh.Options[string, int]{})
			pos := c.Position()
			c.Invalidate(ctx, fresh.Tag("t"))
			if err := c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")), fresh.AsOf(pos)); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get("k"); ok {
				t.Fatal("AsOf before an invalidation of the value's dependency: stored")
			}
			c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")))
			if _, ok := c.Get("k"); !ok {
				t.Fatal("the same Set without AsOf was refused (the control case)")
			}
		}},
		{"HubOptions.Bus", func(t *testing.T) {
			bus := pLocalBus(t)
			a := newCache(t, fresh.Options[string, int]{Hub: busHubP(t, bus), Name: "x"})
			b := newCache(t, fresh.Options[string, int]{Hub: busHubP(t, bus), Name: "y"})
			b.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("t")))
			a.Invalidate(ctx, fresh.Tag("t"))
			if !pPoll(2*time.Second, func() bool { _, ok := b.Get("k"); return !ok }) {
				t.Fatal("an invalidation did not travel on the Bus")
			}
		}},
		{"HubOptions.MaxStaleness", func(t *testing.T) {
			pb := &switchBus{Bus: pLocalBus(t)}
			h := newHub(t, fresh.HubOptions{Bus: pb, MaxStaleness: 200 * time.Millisecond, Logger: slog.New(&pLogs{})})
			c := newCache(t, fresh.Options[string, int]{Hub: h, Name: "x"})
			if !pPoll(2*time.Second, func() bool { return !h.Stats().Suspended }) {
				t.Fatal("suspended on a healthy bus")
			}
			c.Set(ctx, "k", 1)
			pb.deaf.Store(true)
			if !pPoll(1500*time.Millisecond, func() bool { return h.Stats().Suspended }) { // the default is 5s
				t.Fatal("not suspended within 1.5s of silence with MaxStaleness 200ms")
			}
			if _, ok := c.Get("k"); ok {
				t.Fatal("a suspended cache served")
			}
		}},
		{"HubOptions.Heartbeat", func(t *testing.T) {
			pb := &switchBus{Bus: pLocalBus(t)}
			newHub(t, fresh.HubOptions{Bus: pb, MaxStaleness: 5 * time.Second, Heartbeat: 10 * time.Millisecond})
			time.Sleep(300 * time.Millisecond) // the default heartbeat, MaxStaleness/5, is 1s
			if n := pb.publishes.Load(); n < 5 {
				t.Fatalf("%d heartbeats in 300ms with Heartbeat 10ms", n)
			}
		}},
		{"HubOptions.Tables", func(t *testing.T) {
			h := newHub(t, fresh.HubOptions{Tables: []fresh.TableSchema{{Table: "t", Scopes: [][]string{{"c"}}}}})
			c := newCache(t, fresh.Options[string, int]{Hub: h})
			if err := c.Set(ctx, "k", 1, fresh.DependsOn(fresh.Scope("t", fresh.Eq("c", 1)))); err != nil {
				t.Fatalf("a scope of a table given in HubOptions.Tables: %v", err)
			}
			h.InvalidateRows(ctx, fresh.RowChange{Table: "t", Old: fresh.Row{"id": 1, "c": 1}})
			if _, ok := c.Get("k"); ok {
				t.Fatal("a row change in the scope did not invalidate it")
			}
		}},
		{"HubOptions.Strict", func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				h := newHub(t, fresh.HubOptions{Strict: strict})
				inner := newCache(t, fresh.Options[string, int]{Hub: h})
				outer := newCache(t, fresh.Options[string, int]{Hub: h})
				_, err := outer.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) {
					return inner.GetOrLoad(ctx, "i", one) // not the loader's context
				})
				if strict != errors.Is(err, fresh.ErrLoaderContext) {
					t.Fatalf("Strict %v: a read with the wrong context gave %v", strict, err)
				}
			}
		}},
		{"HubOptions.Logger", func(t *testing.T) {
			bus := pLocalBus(t)
			logs := &pLogs{}
			newHub(t, fresh.HubOptions{Bus: bus, Logger: slog.New(logs)})
			bus.Disrupt(errors.New("connection reset"))
			if !pPoll(2*time.Second, func() bool { return logs.has("continuity lost") }) {
				t.Fatal("the loss warning did not reach HubOptions.Logger")
			}
		}},
		{"HubOptions.Recorder", func(t *testing.T) {
			bus := pLocalBus(t)
			rec := &countingRecorder{}
			newHub(t, fresh.HubOptions{Bus: bus, Recorder: rec})
			bus.Publish(ctx, []byte("garbage"))
			if !pPoll(2*time.Second, func() bool { return rec.count(fresh.EventDropped) == 1 }) {
				t.Fatalf("recorder saw %v; want one EventDropped", rec.events)
			}
		}},
		{"refused: options that cannot be honoured", func(t *testing.T) {
			var calls atomic.Int32
			load := func(context.Context, string) (int, error) { calls.Add(1); return 1, nil }
			c := newCache(t, fresh.Options[string, int]{})
			if _, err := c.GetOrLoad(ctx, "k", load, fresh.AsOf(c.Position())); err == nil {
				t.Error("AsOf on GetOrLoad: no error")
			}
			huge := 101 * 365 * 24 * time.Hour
			for name, opts := range map[string][]fresh.Option{
				"TTL":          {fresh.TTL(huge)},
				"RefreshAfter": {fresh.TTL(time.Hour), fresh.RefreshAfter(huge)},
				"StaleIfError": {fresh.TTL(time.Hour), fresh.StaleIfError(huge)},
			} {
				if _, err := c.GetOrLoad(ctx, "k", load, opts...); err == nil {
					t.Errorf("GetOrLoad with %s beyond 100 years: no error", name)
				}
				if err := c.Set(ctx, "s", 1, opts...); err == nil {
					t.Errorf("Set with %s beyond 100 years: no error", name)
				}
			}
			if calls.Load() != 0 {
				t.Errorf("refused calls ran the loader %d times", calls.Load())
			}
			if _, ok := c.Get("s"); ok {
				t.Error("a refused Set stored its value")
			}
			for name, o := range map[string]fresh.Options[string, int]{
				"Jitter without TTL":   {Jitter: 0.5},
				"TTL beyond 100 years": {TTL: huge},
				"NegativeTTL beyond":   {NegativeTTL: huge},
			} {
				if c, err := fresh.New(o); err == nil {
					c.Close(ctx)
					t.Errorf("New with %s: no error", name)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// busHubP returns a hub on bus with the default staleness bounds.
func busHubP(t *testing.T, bus fresh.Bus) *fresh.Hub {
	t.Helper()
	return newHub(t, fresh.HubOptions{Bus: bus, Logger: slog.New(&pLogs{})})
}
