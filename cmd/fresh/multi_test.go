package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The multi-process tests run "fresh demo -redis", whose workers are this test
// binary run again: TestMain makes it the fresh command when workerEnv (set by the
// parent for its workers) or testMainEnv (set by a test that runs the command as a
// process) is set.
const (
	testMainEnv  = "FRESH_DEMO_TEST_MAIN"
	forgetfulEnv = "FRESH_DEMO_TEST_FORGETFUL" // the workers use a forgetfulCache
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" || os.Getenv(testMainEnv) == "1" {
		if os.Getenv(forgetfulEnv) == "1" {
			newWorkerCache = func() demoCache { return &forgetfulCache{m: make(map[string]view)} }
		}
		main()
	}
	os.Exit(m.Run())
}

// redisURL returns the URL of the Redis of the integration tests, FRESH_REDIS_URL
// (default redis://127.0.0.1:6379/0). It skips the test when no Redis answers
// there, and fails it instead when CI is set (STYLE.md item 9).
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("FRESH_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	c, err := redisClient(u)
	if err != nil {
		t.Fatalf("FRESH_REDIS_URL: %v", err)
	}
	defer c.Close()
	if err := pingRedis(context.Background(), c, u); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("CI is set, so this test cannot be skipped: %v", err)
		}
		t.Skipf("%v; set FRESH_REDIS_URL to run this test", err)
	}
	return u
}

var namespaceRE = regexp.MustCompile(`namespace (demo-[0-9a-f]+)`)

// checkDeleted checks that the run whose stderr is given deleted its namespace.
func checkDeleted(t *testing.T, url, stderr string) {
	t.Helper()
	m := namespaceRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr names no namespace:\n%s", stderr)
	}
	if !strings.Contains(stderr, "of namespace "+m[1]+"\n") {
		t.Errorf("stderr does not say that namespace %s was deleted:\n%s", m[1], stderr)
	}
	c, err := redisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*{"+m[1]+"}*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Errorf("%d keys of namespace %s left after the run, such as %s", len(keys), m[1], keys[0])
	}
}

// TestMultiDemoNoServer checks the failure to reach Redis: an error that names the
// server, without its password, and exit status 1.
func TestMultiDemoNoServer(t *testing.T) {
	args := []string{"demo", "-redis", "redis://u:hunter2@127.0.0.1:1/0", "-procs", "2"}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	want := "demo: cannot reach Redis at redis://u:xxxxx@127.0.0.1:1/0: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("run(%q) = %v; want an error beginning %q", args, err, want)
	}
	if code := report(err, io.Discard); code != 1 {
		t.Errorf("report(%v) = %d; want 1", err, code)
	}
	if strings.Contains(err.Error()+stderr.String()+stdout.String(), "hunter2") {
		t.Errorf("the password shows: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}

// TestRedisURLErrorsHidePasswords checks that no malformed URL's error shows its
// password.
func TestRedisURLErrorsHidePasswords(t *testing.T) {
	for _, u := range []string{
		"redis://u:hunter2@[::1",
		"redis://u:hunter2@127.0.0.1:6379/x",
		"redis://u:hunter2@127.0.0.1:6379/0?bogus=1",
		"http://u:hunter2@127.0.0.1:6379",
		"u:hunter2@127.0.0.1:6379",
		"redis://u:hunter2@127.0.0.1:6379?addr=127.0.0.1:6380&bogus=1",
	} {
		c, err := redisClient(u)
		if err == nil {
			_ = c.Close()
			t.Errorf("redisClient(%q) = nil error; want one", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(redactURL(u), "hunter2") {
			t.Errorf("redisClient(%q) = %v, redacted %q: the password shows", u, err, redactURL(u))
		}
	}
}

func TestMultiDemo(t *testing.T) {
	url := redisURL(t)
	args := []string{"demo", "-redis", url, "-procs", "3", "-duration", "3s"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, line := range []string{
		`(?m)^duration +\S+ \(\S+ uncached baseline, then \S+ cached\)$`,
		`(?m)^reads +[1-9]\d* cached \(\d+/s\), [1-9]\d* uncached \(\d+/s\)$`,
		`(?m)^hit ratio +\d+\.\d\d% \(\d+ hits, \d+ misses\)$`,
		`(?m)^read latency p99 +\S+ cached, \S+ uncached$`,
		`(?m)^loads saved +-?\d+$`,
		`(?m)^writes +[1-9]\d*$`,
		`(?m)^fenced fills +\d+ `,
		`(?m)^stale reads +0 \(`,
		`(?m)^behind within bound +\d+ \(`,
		`(?m)^store \(L2\) hits +[1-9]\d* \(L1 misses served from Redis\); \d+ fills, \d+ fenced there$`,
		`(?m)^fan-out latency +p50 \S+, p99 \S+, max \S+ \([1-9]\d* refusals of [1-9]\d* markers, `,
		`(?m)^processes +3 sharing Redis in namespace demo-[0-9a-f]+, deleted at the end:$`,
		`(?m)^  writer +\d+ +0 +[1-9]\d* .* -$`,
		`(?m)^  reader1 +\d+ +[1-9]\d* +0 +\d+ +\d+ .* \S+/\S+/\S+$`,
		`(?m)^  reader2 +\d+ +[1-9]\d* +0 +\d+ +\d+ .* \S+/\S+/\S+$`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("stdout has no line matching %s:\n%s", line, out)
		}
	}
	errs := stderr.String()
	if !strings.HasPrefix(errs, "fresh demo: articles 1000, 3 processes sharing Redis at ") {
		t.Errorf("stderr = %q; want it to begin with the settings", errs)
	}
	if !regexp.MustCompile(`(?m)^ *\S+  \d+ reads/s, hit ratio \d+\.\d\d%, L2 hits \d+, loads saved -?\d+, fenced fills \d+, stale reads 0, behind within bound \d+$`).MatchString(errs) {
		t.Errorf("stderr has no progress line:\n%s", errs)
	}
	checkDeleted(t, url, errs)
}

func TestMultiDemoJSON(t *testing.T) {
	url := redisURL(t)
	args := []string{"demo", "-redis", url, "-procs", "2", "-duration", "1500ms", "-articles", "100", "-readers", "2", "-json"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstderr:\n%s", args, err, stderr.String())
	}
	s := decodeSummary(t, &stdout)
	m := s.Multi
	if m == nil {
		t.Fatalf("the summary has no multi_process part: %+v", s)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"readers == 2 (one reading process)", s.Readers == 2},
		{"reads > 0", s.Reads > 0},
		{"writes > 0", s.Writes > 0},
		{"invalidations == writes", s.Invalidations == s.Writes},
		{"stale_reads == 0", s.StaleReads == 0},
		{"procs == 2", m.Procs == 2},
		{"max_staleness_ns == 1s", m.MaxStaleness == time.Second},
		{"2 processes", len(m.Processes) == 2},
		{"fan_out.markers > 0", m.FanOut.Markers > 0},
		{"fan_out p50 <= p99", m.FanOut.P50 <= m.FanOut.P99},
		{"store_fills > 0", m.StoreFills > 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("summary fails %s: %+v %+v", c.name, s, *m)
		}
	}
	if len(m.Processes) == 2 {
		w, r := m.Processes[0], m.Processes[1]
		if w.Name != "writer" || w.Role != "write" || w.Writes != s.Writes || w.FanOut != nil {
			t.Errorf("processes[0] = %+v; want the writer, with every write and no probe", w)
		}
		if r.Name != "reader1" || r.Role != "read" || r.Reads != s.Reads || r.FanOut == nil || r.PID == w.PID {
			t.Errorf("processes[1] = %+v; want reader1, with every read and a probe", r)
		}
	}
	checkDeleted(t, url, stderr.String())
}

// TestMultiStaleCheckCatchesBrokenCache shows that the staleness check across
// processes can fail: workers whose cache ignores invalidations serve stale reads,
// which the command reports, exiting with status 1. The command runs as a process
// of its own, as a user runs it.
func TestMultiStaleCheckCatchesBrokenCache(t *testing.T) {
	url := redisURL(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "demo", "-redis", url, "-procs", "2", "-duration", "2s", "-articles", "50", "-readers", "4",
		"-latency", "1ms", "-write-every", "500us", "-max-staleness", "100ms", "-json")
	cmd.Env = append(os.Environ(), testMainEnv+"=1", forgetfulEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("fresh demo -redis over a forgetful cache: %v; want exit status 1\nstderr:\n%s", err, stderr.String())
	}
	var s demoSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s", err, stdout.String())
	}
	if s.StaleReads == 0 {
		t.Fatalf("stale_reads = 0; want > 0")
	}
	errs := stderr.String()
	if want := fmt.Sprintf("fresh: %d stale reads\n", s.StaleReads); !strings.HasSuffix(errs, want) {
		t.Errorf("stderr does not end with %q:\n%s", want, errs)
	}
	if !regexp.MustCompile(`(?m)^reader1: stale read #1 at \S+: (article|list):\S+ served version \d+, but version \d+ had replaced it and been invalidated \S+ before the read began \(bound 100ms; version \d+ was current\)$`).MatchString(errs) {
		t.Errorf("stderr does not describe the first stale read:\n%s", errs)
	}
	checkDeleted(t, url, errs)
}

// TestMultiDemoCancel checks that an interrupt ends a multi-process run early,
// with a summary.
func TestMultiDemoCancel(t *testing.T) {
	url := redisURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"demo", "-redis", url, "-procs", "2", "-duration", "1m", "-articles", "100", "-readers", "2"}
	var stdout bytes.Buffer
	stderr := &cancelOn{text: "reads/s", cancel: cancel} // at the first progress line
	if err := run(ctx, args, &stdout, stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstderr:\n%s", args, err, stderr.String())
	}
	if stderr.at.IsZero() {
		t.Fatalf("the run ended before its first progress line:\n%s", stderr.String())
	}
	if took := time.Since(stderr.at); took > 20*time.Second {
		t.Errorf("run took %v after its context was cancelled", took)
	}
	if !regexp.MustCompile(`(?m)^stale reads +0 `).MatchString(stdout.String()) {
		t.Errorf("stdout has no summary:\n%s", stdout.String())
	}
	checkDeleted(t, url, stderr.String())
}

// cancelOn is a writer that keeps what is written to it and calls cancel, once,
// when text has been written, recording the time in at.
type cancelOn struct {
	text   string
	cancel context.CancelFunc
	at     time.Time
	b      bytes.Buffer // written by one goroutine at a time (a syncWriter)
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.b.Write(p)
	if c.at.IsZero() && strings.Contains(c.b.String(), c.text) {
		c.at = time.Now()
		c.cancel()
	}
	return n, err
}

func (c *cancelOn) String() string { return c.b.String() }
