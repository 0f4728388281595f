//go:build unix

package freshtest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshtest"
)

// TestProcessCoherence runs the harness on fileBus, a bus that several processes
// share through one file: the harness's own check that a correct bus passes.
func TestProcessCoherence(t *testing.T) {
	rep := freshtest.ProcessCoherence{
		NewBus: func(_ context.Context, env freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b, err := openFileBus(filepath.Join(env.Dir, "bus"))
			if err != nil {
				return nil, nil, err
			}
			return b, b.Close, nil
		},
		Duration: 2 * time.Second,
	}.Run(t)
	if got, want := len(rep.Readers), 3; got != want {
		t.Errorf("got %d reader reports; want %d", got, want)
	}
	if rep.Total.Items.Hits == 0 {
		t.Errorf("the readers had no L1 hit; want some (the cache serves)")
	}
	if rep.Total.Fresh == 0 || rep.Writer.Writes == 0 {
		t.Errorf("got %d fresh components and %d writes; want both > 0", rep.Total.Fresh, rep.Writer.Writes)
	}
}

// TestProcessCoherenceCatchesLocalBus checks that the harness fails a bus that
// does not carry invalidations between processes: each process gets its own
// fresh.LocalBus, on which its heartbeats come back and nothing else arrives.
func TestProcessCoherenceCatchesLocalBus(t *testing.T) {
	rt := &recordingTB{TB: t}
	rep := freshtest.ProcessCoherence{
		NewBus: func(context.Context, freshtest.CoherenceEnv) (fresh.Bus, func() error, error) {
			b := fresh.NewLocalBus()
			return b, b.Close, nil
		},
		Duration:     1500 * time.Millisecond,
		MaxStaleness: 200 * time.Millisecond,
		Readers:      2,
	}.Run(rt)
	if rep.Total.Outside == 0 {
		t.Fatalf("got no read outside the bound over a bus that carries nothing between processes")
	}
	if !strings.Contains(rt.errors(), "outside the bound") {
		t.Errorf("the run reported %q; want a failure about reads outside the bound", rt.errors())
	}
	if rep.Total.Worst <= 200*time.Millisecond {
		t.Errorf("worst staleness %v; want above the bound 200ms", rep.Total.Worst)
	}
}

// recordingTB records Errorf instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// fileBus is a Bus over one append-only file that processes share: Publish
// appends a length-prefixed record under an exclusive flock, so the file's order
// is the total order; a subscription starts at the file's end and polls it.
type fileBus struct {
	f *os.File
	// mu serializes this process's use of the flock: a flock belongs to the open
	// file, shared by the goroutines.
	mu     sync.Mutex
	closed atomic.Bool
}

var _ fresh.Bus = (*fileBus)(nil)

func openFileBus(path string) (*fileBus, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &fileBus{f: f}, nil
}

func (b *fileBus) locked(f func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := syscall.Flock(int(b.f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(b.f.Fd()), syscall.LOCK_UN) }()
	return f()
}

func (b *fileBus) Publish(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errors.New("fileBus: closed")
	}
	rec := binary.LittleEndian.AppendUint32(nil, uint32(len(msg)))
	rec = append(rec, msg...)
	return b.locked(func() error {
		_, err := b.f.Write(rec) // one write with O_APPEND
		return err
	})
}

func (b *fileBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var off int64
	// Under the lock, no Publish is half done: every message after off is
	// published after Subscribe returns, or at least not before it began.
	err := b.locked(func() error {
		st, err := b.f.Stat()
		off = st.Size()
		return err
	})
	if err != nil {
		return nil, err
	}
	s := &fileSub{b: b, h: h, off: off, stop: make(chan struct{})}
	go s.run()
	return s, nil
}

func (b *fileBus) Close() error {
	b.closed.Store(true)
	return b.f.Close()
}

type fileSub struct {
	b      *fileBus
	h      fresh.Handler
	off    int64
	stop   chan struct{}
	once   sync.Once
	closed atomic.Bool
}

func (s *fileSub) Close() error {
	s.closed.Store(true)
	s.once.Do(func() { close(s.stop) })
	return nil
}

// run polls the file every millisecond and delivers the complete records.
func (s *fileSub) run() {
	var pending []byte
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		for {
			n, err := s.b.f.ReadAt(buf, s.off)
			s.off += int64(n)
			pending = append(pending, buf[:n]...)
			if err != nil && !errors.Is(err, io.EOF) {
				if !s.closed.Load() {
					s.h.HandleLoss(err)
				}
				return
			}
			if n < len(buf) {
				break
			}
		}
		for len(pending) >= 4 {
			size := int(binary.LittleEndian.Uint32(pending))
			if len(pending) < 4+size {
				break
			}
			if s.closed.Load() {
				return
			}
			s.h.HandleMessage(pending[4 : 4+size])
			pending = pending[4+size:]
		}
	}
}
