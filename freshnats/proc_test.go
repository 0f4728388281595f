//go:build unix

package freshnats

// Child processes of the multi-process tests: the test binary run again with
// -test.run=^TestHelperProcess$ and a role in the environment. A child opens a bus
// with OpenURL, subscribes, and writes what its handler receives to stdout as JSON
// lines; it reads commands from stdin ("publish N", "exit") and exits when stdin
// closes, so that it never outlives its parent.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment of a child.
const (
	procEnvRole   = "FRESHNATS_TEST_ROLE"
	procEnvConfig = "FRESHNATS_TEST_CONFIG"
)

// procConfig configures a child.
type procConfig struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Namespace string `json:"namespace"`
	JetStream bool   `json:"jetstream"`
	MaxMsgs   int64  `json:"max_msgs"`
	// Quiet makes the child report losses only, not messages (the idle follower).
	Quiet bool `json:"quiet"`
}

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

func (o *procOut) emit(typ, data string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(procEvent{Type: typ, Data: data})
}

// procHandler writes what the bus delivers as events.
type procHandler struct {
	out   *procOut
	quiet bool
}

func (h procHandler) HandleMessage(msg []byte) {
	if !h.quiet {
		h.out.emit("msg", string(msg))
	}
}

func (h procHandler) HandleLoss(err error) { h.out.emit("loss", err.Error()) }

func procChildMain(role, raw string) int {
	var cfg procConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bad %s: %v\n", procEnvConfig, err)
		return 2
	}
	out := &procOut{enc: json.NewEncoder(os.Stdout)}
	// Whatever happens, the child is gone within two minutes.
	time.AfterFunc(2*time.Minute, func() {
		fmt.Fprintln(os.Stderr, cfg.Name+": deadline passed")
		os.Exit(4)
	})
	if role != "follower" {
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := OpenURL(ctx, cfg.URL, Options{Namespace: cfg.Namespace, JetStream: cfg.JetStream, MaxMsgs: cfg.MaxMsgs})
	if err == nil {
		_, err = bus.Subscribe(ctx, procHandler{out: out, quiet: cfg.Quiet})
	}
	if err != nil {
		out.emit("error", err.Error())
		return 1
	}
	out.emit("ready", strconv.Itoa(os.Getpid()))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "publish":
			n, _ := strconv.Atoi(arg)
			for i := range n {
				msg := fmt.Sprintf("%s-%d", cfg.Name, i)
				if err := bus.Publish(context.Background(), []byte(msg)); err != nil {
					out.emit("error", fmt.Sprintf("Publish(%s): %v", msg, err))
					return 1
				}
			}
			out.emit("published", arg)
		case "exit":
			if err := bus.Close(); err != nil {
				out.emit("error", err.Error())
				return 1
			}
			out.emit("closed", "")
			return 0
		}
	}
	// stdin closed: the parent is gone.
	_ = bus.Close()
	return 3
}

// ---------------------------------------------------------------------------
// The parent side.

// procEvent is one JSON line of a child.
type procEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// procChild is a child process seen from the parent.
type procChild struct {
	tb     testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr lockedWriter

	mu     sync.Mutex
	events []procEvent
	notify chan struct{} // closed and replaced at each event

	done chan struct{} // closed when the process has exited
}

// procStart starts a follower child with cfg. At cleanup it is killed (SIGKILL,
// which ends a stopped process too) if it still runs, and reaped.
func procStart(tb testing.TB, cfg procConfig) *procChild {
	tb.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c := &procChild{tb: tb, name: cfg.Name, stderr: lockedWriter{w: &bytes.Buffer{}}, notify: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	c.cmd.Env = append(os.Environ(), procEnvRole+"=follower", procEnvConfig+"="+string(raw))
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", cfg.Name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e procEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				e = procEvent{Type: "text", Data: sc.Text()}
			}
			c.mu.Lock()
			c.events = append(c.events, e)
			close(c.notify)
			c.notify = make(chan struct{})
			c.mu.Unlock()
		}
		_ = c.cmd.Wait()
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
		c.tb.Errorf("%s (pid %d) did not exit 30s after SIGKILL", c.name, c.cmd.Process.Pid)
	}
}

// signal sends sig to the child.
func (c *procChild) signal(sig syscall.Signal) {
	c.tb.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.tb.Fatalf("%s: signal %v: %v", c.name, sig, err)
	}
}

// send writes a command line to the child.
func (c *procChild) send(cmd string) {
	c.tb.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		c.tb.Fatalf("%s: sending %q: %v", c.name, cmd, err)
	}
}

// snapshot returns the events so far.
func (c *procChild) snapshot() []procEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// waitFor waits until cond holds for the child's events, failing the test after
// timeout, if the child exits first, or if it reports an error.
func (c *procChild) waitFor(what string, timeout time.Duration, cond func([]procEvent) bool) []procEvent {
	c.tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		events, notify := slices.Clone(c.events), c.notify
		c.mu.Unlock()
		for _, e := range events {
			if e.Type == "error" {
				c.tb.Fatalf("%s failed: %s\n%s", c.name, e.Data, c.logs())
			}
		}
		if cond(events) {
			return events
		}
		select {
		case <-notify:
		case <-c.done:
			c.mu.Lock()
			events = slices.Clone(c.events)
			c.mu.Unlock()
			if cond(events) {
				return events
			}
			c.tb.Fatalf("%s exited before %s\n%s", c.name, what, c.logs())
		case <-deadline.C:
			c.tb.Fatalf("%s: timed out after %v waiting for %s\n%s", c.name, timeout, what, c.logs())
		}
	}
}

// waitEvent waits for an event of type typ whose data is data ("" for any), and
// returns the events up to and including it.
func (c *procChild) waitEvent(typ, data string, timeout time.Duration) []procEvent {
	c.tb.Helper()
	var upTo []procEvent
	c.waitFor(fmt.Sprintf("%s %q", typ, data), timeout, func(events []procEvent) bool {
		for i, e := range events {
			if e.Type == typ && (data == "" || e.Data == data) {
				upTo = events[:i+1]
				return true
			}
		}
		return false
	})
	return upTo
}

// logs returns the end of the child's stderr, for a failure message.
func (c *procChild) logs() string {
	c.stderr.mu.Lock()
	s := c.stderr.w.String()
	c.stderr.mu.Unlock()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return fmt.Sprintf("--- %s stderr:\n%s", c.name, s)
}

// procCPUTime returns the CPU time that process pid has used: the sum over its
// threads of /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU), or, without
// schedstat, the user and system time of /proc/<pid>/stat (in 10 ms ticks).
func procCPUTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	if tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid)); err == nil && len(tasks) > 0 {
		var sum time.Duration
		for _, f := range tasks {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue // the thread exited
			}
			fields := strings.Fields(string(raw))
			if len(fields) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				tb.Fatalf("unexpected %s: %q", f, raw)
			}
			sum += time.Duration(ns)
		}
		return sum
	}
	return procStatCPUTime(tb, pid)
}

// procStatCPUTime is procCPUTime from /proc/<pid>/stat.
func procStatCPUTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	// The command name, in parentheses, may hold spaces: the fields after it start
	// with the state, field 3; utime and stime are fields 14 and 15.
	rest := raw[bytes.LastIndexByte(raw, ')')+2:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		tb.Fatalf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	const ticksPerSecond = 100 // USER_HZ, 100 on every Linux the tests run on
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}
