package freshpg

// Tests with several OS processes: each child re-executes the test binary, which
// runs TestHelperProcess in the role that FRESHPG_HELPER_ROLE names, and reports on
// stdout, one event a line.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// Environment of a helper process.
const (
	envRole  = "FRESHPG_HELPER_ROLE"
	envURL2  = "FRESHPG_HELPER_URL"
	envTable = "FRESHPG_HELPER_TABLE"
	envCount = "FRESHPG_HELPER_COUNT"
	envID    = "FRESHPG_HELPER_ID"
	envMax   = "FRESHPG_HELPER_MAXCOUNT"
)

// TestHelperProcess is the body of the child processes; it returns at once in a
// normal test run.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	os.Exit(helperMain(role))
}

// helperOut writes a child's events to stdout, one a line, flushed at once.
type helperOut struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *helperOut) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	_, _ = o.w.WriteString(strings.ReplaceAll(s, "\n", " ") + "\n")
	_ = o.w.Flush()
}

// helperHandler reports every delivery, and closes done on the message "end".
type helperHandler struct {
	out  *helperOut
	done chan struct{}
	once sync.Once
}

func (h *helperHandler) HandleMessage(msg []byte) {
	h.out.line("msg %s", msg)
	if string(msg) == "end" {
		h.once.Do(func() { close(h.done) })
	}
}

func (h *helperHandler) HandleLoss(err error) { h.out.line("loss %v", err) }

func helperMain(role string) int {
	out := &helperOut{w: bufio.NewWriter(os.Stdout)}
	fail := func(format string, args ...any) int {
		out.line("error "+format, args...)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	maxCount, _ := strconv.ParseInt(os.Getenv(envMax), 10, 64)
	b, err := OpenURL(ctx, os.Getenv(envURL2), Options{Table: os.Getenv(envTable), MaxCount: maxCount})
	if err != nil {
		return fail("OpenURL: %v", err)
	}
	defer b.Close()
	h := &helperHandler{out: out, done: make(chan struct{})}
	sub, err := b.Subscribe(ctx, h)
	if err != nil {
		return fail("Subscribe: %v", err)
	}
	defer sub.Close()
	out.line("ready")

	switch role {
	case "order":
		// Wait for the parent's go, publish, then follow until "end".
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return fail("reading go: %v", err)
		}
		n, _ := strconv.Atoi(os.Getenv(envCount))
		id := os.Getenv(envID)
		for i := range n {
			if err := b.Publish(ctx, []byte(fmt.Sprintf("%s-%d", id, i))); err != nil {
				return fail("Publish: %v", err)
			}
		}
		out.line("published")
	case "follow":
	case "idle":
		// Subscribed and idle: measure the CPU time it burns.
		time.Sleep(time.Second) // let start-up work settle
		before := cpuTime()
		const idle = 5 * time.Second
		time.Sleep(idle)
		used := cpuTime() - before
		out.line("cpu %d %d", used.Nanoseconds(), idle.Nanoseconds())
		return 0
	default:
		return fail("unknown role %q", role)
	}
	select {
	case <-h.done:
		out.line("done")
		return 0
	case <-ctx.Done():
		return fail("no end: %v", ctx.Err())
	}
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// child is a running helper process.
type child struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // closed when stdout ends
	mu    sync.Mutex
	log   []string
	done  chan struct{}
}

// startChild starts a helper process in role on table, and waits for its "ready".
func startChild(t *testing.T, name, role, table string, extra ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envRole+"="+role, envURL2+"="+testURL(), envTable+"="+table, envID+"="+name)
	cmd.Env = append(cmd.Env, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no child outlives a crashed test
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 1<<16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.log = append(c.log, sc.Text())
			c.mu.Unlock()
			c.lines <- sc.Text()
		}
		close(c.lines)
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-c.done
	})
	c.expect("ready")
	return c
}

// expect reads lines until one that begins with prefix, and returns it.
func (c *child) expect(prefix string) string {
	c.t.Helper()
	timer := time.NewTimer(testWait)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("child %s ended before %q; its output:\n%s", c.name, prefix, c.output())
			}
			if strings.HasPrefix(l, "error ") {
				c.t.Fatalf("child %s: %s", c.name, l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			c.t.Fatalf("child %s did not say %q in %v; its output:\n%s", c.name, prefix, testWait, c.output())
		}
	}
}

// output returns what the child wrote so far.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

// received returns the messages and losses that the child reported, in order.
func (c *child) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []string
	for _, l := range c.log {
		if m, ok := strings.CutPrefix(l, "msg "); ok {
			got = append(got, m)
		} else if strings.HasPrefix(l, "loss ") {
			got = append(got, "LOSS")
		}
	}
	return got
}

// TestMultiProcessTotalOrder has three processes publish at once on one table
// while each follows it: every process receives the same sequence, the table's.
func TestMultiProcessTotalOrder(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	table := testTableName(t, pool)
	b := testBus(t, pool, Options{Table: table, MaxCount: 100_000})
	const n = 300
	var children []*child
	for i := range 3 {
		children = append(children, startChild(t, "p"+strconv.Itoa(i), "order", table, envCount+"="+strconv.Itoa(n), envMax+"=100000"))
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range children {
		c.expect("published")
	}
	publish(t, b, "end")
	for _, c := range children {
		c.expect("done")
	}
	want := tableOrder(t, pool, b) // "end" included
	if len(want) != 3*n+1 {
		t.Fatalf("the table holds %d messages; want %d", len(want), 3*n+1)
	}
	for _, c := range children {
		got := c.received()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("child %s received %d events, which differ from the table's %d messages in order", c.name, len(got), len(want))
		}
	}
}

// TestSIGSTOPFollowerBeyondRetention stops a follower process with SIGSTOP while
// publishers go far past retention (MaxCount 10), then continues it: it reports
// the loss before anything newer, while a follower that kept up reports none.
func TestSIGSTOPFollowerBeyondRetention(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	table := testTableName(t, pool)
	b := testBus(t, pool, Options{Table: table, MaxCount: 10})
	stopped := startChild(t, "stopped", "follow", table, envMax+"=10")
	steady := startChild(t, "steady", "follow", table, envMax+"=10")

	publish(t, b, "before")
	for _, c := range []*child{stopped, steady} {
		c.expect("msg before")
	}
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		publish(t, b, strconv.Itoa(i))
		if i%5 == 4 {
			// Paced by the steady follower, which so never falls MaxCount behind
			// however the machine schedules it; the stopped one falls 100 behind.
			steady.expect("msg " + strconv.Itoa(i))
		}
	}
	if _, err := b.Trim(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // stopped well past retention
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "end")
	stopped.expect("done")
	steady.expect("done")

	got := stopped.received()
	if len(got) < 3 || got[0] != "before" || got[1] != "LOSS" || got[len(got)-1] != "end" {
		t.Fatalf("the stopped follower received %q; want before, LOSS, ..., end", got)
	}
	if s := steady.received(); len(s) != 102 || strings.Contains(strings.Join(s, ","), "LOSS") {
		t.Fatalf("the steady follower received %d events (%q...); want 102 messages and no loss", len(s), s[:min(len(s), 5)])
	}
}

// TestKilledFollowerProcess kills a follower process with SIGKILL in mid-stream:
// the publishers, the other follower process and an in-process follower go on
// without an error or a loss, and a new follower process starts cleanly.
func TestKilledFollowerProcess(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	table := testTableName(t, pool)
	b := testBus(t, pool, Options{Table: table})
	r := newRecorder()
	subscribe(t, b, r)
	killed := startChild(t, "killed", "follow", table)
	other := startChild(t, "other", "follow", table)
	for i := range 200 {
		publish(t, b, strconv.Itoa(i))
		if i == 50 {
			killed.expect("msg 10")
			if err := killed.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	late := startChild(t, "late", "follow", table)
	publish(t, b, "end")
	other.expect("done")
	late.expect("done")
	if s := other.received(); len(s) != 201 || strings.Contains(strings.Join(s, ","), "LOSS") {
		t.Fatalf("the other follower received %d events; want 201 messages and no loss", len(s))
	}
	if s := late.received(); len(s) != 1 || s[0] != "end" {
		t.Fatalf("the late follower received %q; want end", s)
	}
	if ev := r.waitMessage(t, "end"); len(ev) != 201 || losses(ev) > 0 {
		t.Fatalf("the in-process follower received %s", summary(ev))
	}
}

// TestIdleFollowerCPU measures the CPU time that a subscribed, idle follower
// process burns over 5 s (one safety poll a second): it must stay far below 2% of
// one core.
func TestIdleFollowerCPU(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	table := testTableName(t, pool)
	testBus(t, pool, Options{Table: table}) // creates the table
	c := startChild(t, "idle", "idle", table)
	var used, over int64
	if _, err := fmt.Sscanf(c.expect("cpu "), "cpu %d %d", &used, &over); err != nil {
		t.Fatal(err)
	}
	share := float64(used) / float64(over)
	t.Logf("idle follower: %v of CPU over %v = %.3f%% of one core", time.Duration(used), time.Duration(over), 100*share)
	if share > 0.02 {
		t.Errorf("an idle follower used %.2f%% of one core; want under 2%%", 100*share)
	}
}

var _ fresh.Handler = (*helperHandler)(nil)
