package redis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// EnvChild is the environment variable that makes a process a child of Run: its
// value is the child's configuration, as JSON.
const EnvChild = "FRESHBENCH_REDIS_CHILD"

// IsChild reports whether this process was started by Run as a peer or a stampede
// process.
func IsChild() bool { return os.Getenv(EnvChild) != "" }

// Roles of the children.
const (
	rolePeer     = "peer"     // holds values in L1 and reports when it refuses one (fan-out)
	roleStampede = "stampede" // misses one key with many goroutines at a given time
)

// childConfig is what a child is told, in EnvChild.
type childConfig struct {
	Role       string        `json:"role"`
	Name       string        `json:"name"` // for errors: "peer1", "stampede3", ...
	URL        string        `json:"url"`
	Run        string        `json:"run"` // the run's unique part of every key
	Namespace  string        `json:"namespace"`
	Bus        string        `json:"bus"`        // "stream" or "pubsub"
	Goroutines int           `json:"goroutines"` // stampede: callers per round
	Load       time.Duration `json:"load"`       // stampede: the loader's duration
	Deadline   int64         `json:"deadline"`   // unix ns: the child exits by then whatever happens
}

// A command goes from the parent to a child, one JSON line on its stdin.
type command struct {
	Op      string `json:"op"` // "arm", "stampede"; the child exits when stdin closes
	Round   int    `json:"round"`
	Subject string `json:"subject,omitempty"` // stampede: "fresh" or "go-redis/cache"
	At      int64  `json:"at,omitempty"`      // stampede: unix ns of the start
}

// A childMsg goes from a child to the parent, one JSON line on its stdout.
type childMsg struct {
	Op    string  `json:"op"` // "ready", "armed", "refused", "raw", "stampede", "error"
	Round int     `json:"round"`
	At    int64   `json:"at,omitempty"` // refused, raw: unix ns (CLOCK_REALTIME) of the first miss seen, of the receipt
	By    string  `json:"by,omitempty"` // refused: "delivery", "loss" or "poll"
	Lat   []int64 `json:"lat,omitempty"`
	Errs  int     `json:"errs,omitempty"`
	Err   string  `json:"err,omitempty"`
}

// A proc is a running child, seen from the parent.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan childMsg // closed when the child's stdout ends
	stderr *tailBuffer
	mu     sync.Mutex // serializes writes to stdin
}

// startProcs starts one child per configuration and waits until each is ready.
func startProcs(ctx context.Context, cfgs []childConfig) ([]*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ps []*proc
	for _, cfg := range cfgs {
		p, err := startProc(exe, cfg)
		if err != nil {
			stopProcs(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if _, err := p.recv(ctx, 30*time.Second, func(m childMsg) bool { return m.Op == "ready" }); err != nil {
			stopProcs(ps)
			return nil, err
		}
	}
	return ps, nil
}

func startProc(exe string, cfg childConfig) (*proc, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	p := &proc{name: cfg.Name, msgs: make(chan childMsg, 64), stderr: &tailBuffer{max: 4096}}
	p.cmd = exec.Command(exe)
	p.cmd.Env = append(os.Environ(), EnvChild+"="+string(b))
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	go func() {
		defer close(p.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var m childMsg
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Op == "" {
				continue // a test binary may print before TestMain hands over
			}
			p.msgs <- m
		}
	}()
	return p, nil
}

// send writes c to the child's stdin.
func (p *proc) send(c command) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %w%s", p.name, err, p.stderr.suffix())
	}
	return nil
}

// errTimeout is what recv returns when no wanted message came in time.
var errTimeout = errors.New("timed out")

// recv returns the next message that want accepts, dropping the others, waiting
// at most timeout. A child's "error" message is returned as an error.
func (p *proc) recv(ctx context.Context, timeout time.Duration, want func(childMsg) bool) (childMsg, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				_ = p.cmd.Wait() // reaps the child; its stderr says why it ended
				return m, fmt.Errorf("%s ended: %v%s", p.name, p.cmd.ProcessState, p.stderr.suffix())
			}
			if m.Op == "error" {
				return m, fmt.Errorf("%s: %s", p.name, m.Err)
			}
			if want(m) {
				return m, nil
			}
		case <-t.C:
			return childMsg{}, fmt.Errorf("%s: %w after %v", p.name, errTimeout, timeout)
		case <-ctx.Done():
			return childMsg{}, ctx.Err()
		}
	}
}

// stopProcs closes the children's stdin, which ends them, and kills those that have
// not exited 10 seconds later.
func stopProcs(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.stdin.Close() // the child exits on EOF
			done := make(chan struct{})
			go func() {
				for ok := true; ok; { // drain, so that the reader ends
					_, ok = <-p.msgs
				}
				_ = p.cmd.Wait() // the exit status does not matter any more
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill() // this child, by its own handle
				<-done
			}
		}()
	}
	wg.Wait()
}

// A tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// suffix returns ": <stderr>" or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
