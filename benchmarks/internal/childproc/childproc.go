// Package childproc runs child processes of a benchmark workload: the current
// executable started again with one environment variable holding the child's
// configuration as JSON, that talks to the parent in JSON lines over its stdin
// (commands) and stdout (messages). The workloads own their configurations,
// commands and messages; this package owns the processes.
package childproc

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

// A Message is what a child writes on its stdout, one JSON line each.
type Message interface {
	// Kind names the message ("ready", "armed", ...); "" for a line that decoded
	// into nothing, which is dropped (a test binary may print before TestMain
	// hands over to the child).
	Kind() string
	// Failure is the error a child reports in place of an answer, or nil.
	Failure() error
}

// ErrTimeout is what Recv returns when no wanted message came in time.
var ErrTimeout = errors.New("timed out")

// A Proc is a running child, seen from the parent. Send may be called from
// several goroutines; Recv from one at a time.
type Proc[M Message] struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan M // closed when the child's stdout ends
	stderr *tailBuffer
	mu     sync.Mutex // serializes writes to stdin
}

// Name returns the name the child was started with.
func (p *Proc[M]) Name() string { return p.name }

// Pid returns the child's process id.
func (p *Proc[M]) Pid() int { return p.cmd.Process.Pid }

// A Spec is one child to start: its name, for errors, and its configuration,
// which goes to the child as JSON in the environment variable Start is given.
type Spec struct {
	Name   string
	Config any
}

// Start starts one child per spec, each with env set to its configuration, and
// waits up to 30 s until each has sent a message that ready accepts.
func Start[M Message](ctx context.Context, env string, specs []Spec, ready func(M) bool) ([]*Proc[M], error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ps []*Proc[M]
	for _, s := range specs {
		p, err := start[M](exe, env, s)
		if err != nil {
			Stop(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if _, err := p.Recv(ctx, 30*time.Second, ready); err != nil {
			Stop(ps)
			return nil, err
		}
	}
	return ps, nil
}

func start[M Message](exe, env string, s Spec) (*Proc[M], error) {
	b, err := json.Marshal(s.Config)
	if err != nil {
		return nil, err
	}
	p := &Proc[M]{name: s.Name, msgs: make(chan M, 64), stderr: &tailBuffer{max: 4096}}
	p.cmd = exec.Command(exe)
	p.cmd.Env = append(os.Environ(), env+"="+string(b))
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	go func() {
		defer close(p.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var m M
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Kind() == "" {
				continue // not one of ours
			}
			p.msgs <- m
		}
	}()
	return p, nil
}

// Send writes c to the child's stdin as one JSON line.
func (p *Proc[M]) Send(c any) error {
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

// Recv returns the next message that want accepts, dropping the others, waiting
// at most timeout (then the error wraps ErrTimeout). A message whose Failure is
// not nil is returned with that error.
func (p *Proc[M]) Recv(ctx context.Context, timeout time.Duration, want func(M) bool) (M, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var zero M
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				_ = p.cmd.Wait() // reaps the child; its stderr says why it ended
				return m, fmt.Errorf("%s ended: %v%s", p.name, p.cmd.ProcessState, p.stderr.suffix())
			}
			if err := m.Failure(); err != nil {
				return m, fmt.Errorf("%s: %w", p.name, err)
			}
			if want(m) {
				return m, nil
			}
		case <-t.C:
			return zero, fmt.Errorf("%s: %w after %v", p.name, ErrTimeout, timeout)
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// Stop closes the children's stdin, which ends them, and kills those that have
// not exited 10 seconds later, each by its own handle.
func Stop[M Message](ps []*Proc[M]) {
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

// suffix returns "; stderr: <stderr>" or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
