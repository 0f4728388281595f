package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

// quickDemo is a short demo run for tests.
var quickDemo = []string{"demo-memory", "-duration", "300ms", "-articles", "50", "-readers", "4", "-writers", "2", "-latency", "1ms", "-write-every", "500us"}

func TestRunDemo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), quickDemo, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstderr:\n%s", quickDemo, err, stderr.String())
	}
	out := stdout.String()
	for _, line := range []string{
		`(?m)^duration +\S+ \(\S+ uncached baseline, then \S+ cached\)$`,
		`(?m)^reads +[1-9]\d* cached \(\d+/s\), [1-9]\d* uncached \(\d+/s\)$`,
		`(?m)^hit ratio +\d+\.\d\d% \(\d+ hits, \d+ misses\)$`,
		`(?m)^read latency p50 +\S+ cached, \S+ uncached$`,
		`(?m)^read latency p99 +\S+ cached, \S+ uncached$`,
		`(?m)^source loads +\d+$`,
		`(?m)^loads saved +-?\d+$`,
		`(?m)^writes +[1-9]\d*$`,
		`(?m)^invalidations +[1-9]\d*$`,
		`(?m)^fenced fills +\d+ `,
		`(?m)^stale reads +0$`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("stdout has no line matching %s:\n%s", line, out)
		}
	}
	if !strings.HasPrefix(stderr.String(), "fresh demo: articles 50, readers 4, writers 2") {
		t.Errorf("stderr = %q; want it to begin with the settings", stderr.String())
	}
}

func TestRunDemoJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := append(append([]string(nil), quickDemo...), "-json")
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstderr:\n%s", args, err, stderr.String())
	}
	s := decodeSummary(t, &stdout)
	checks := []struct {
		name string
		ok   bool
	}{
		{"articles == 50", s.Articles == 50},
		{"readers == 4", s.Readers == 4},
		{"reads > 0", s.Reads > 0},
		{"uncached_reads > 0", s.UncachedReads > 0},
		{"hits+misses > 0", s.Hits+s.Misses > 0},
		{"0 <= hit_ratio <= 1", s.HitRatio >= 0 && s.HitRatio <= 1},
		{"writes > 0", s.Writes > 0},
		{"invalidations == writes", s.Invalidations == s.Writes},
		{"loads_saved == reads - source_loads", s.LoadsSaved == int64(s.Reads)-int64(s.SourceLoads)},
		{"uncached p50 >= latency", s.Uncached.P50 >= time.Millisecond},
		{"p50 <= p99", s.Cached.P50 <= s.Cached.P99 && s.Uncached.P50 <= s.Uncached.P99},
		{"stale_reads == 0", s.StaleReads == 0},
		{"no multi_process part", s.Multi == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("summary fails %s: %+v", c.name, s)
		}
	}
}

// decodeSummary decodes the JSON summary on stdout, which must hold nothing else.
func decodeSummary(t *testing.T, stdout *bytes.Buffer) demoSummary {
	t.Helper()
	var s demoSummary
	dec := json.NewDecoder(stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v", err)
	}
	if dec.More() {
		t.Errorf("stdout has more after the JSON summary")
	}
	return s
}

// A forgetfulCache is a broken cache: a map that ignores invalidations. The demo
// must catch it serving stale values.
type forgetfulCache struct {
	mu           sync.Mutex
	m            map[string]view
	hits, misses uint64
}

func (c *forgetfulCache) GetOrLoad(ctx context.Context, key string, loader fresh.Loader[string, view], _ ...fresh.Option) (view, error) {
	c.mu.Lock()
	v, ok := c.m[key]
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := loader(ctx, key)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}

func (c *forgetfulCache) InvalidateRows(context.Context, ...fresh.RowChange) error { return nil }

func (c *forgetfulCache) Stats() fresh.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fresh.Stats{Hits: c.hits, Misses: c.misses, Loads: c.misses, Entries: len(c.m)}
}

func (c *forgetfulCache) Close(context.Context) error { return nil }

var _ demoCache = (*forgetfulCache)(nil)

func testConfig() demoConfig {
	cfg := defaultDemoConfig()
	cfg.duration = 300 * time.Millisecond
	cfg.articles = 50
	cfg.readers = 4
	cfg.latency = time.Millisecond
	cfg.writeEvery = 500 * time.Microsecond
	cfg.progressEvery = 50 * time.Millisecond
	return cfg
}

// TestStaleCheckCatchesBrokenCache shows that the staleness check can fail: the
// same workload over a cache that ignores invalidations reports stale reads.
func TestStaleCheckCatchesBrokenCache(t *testing.T) {
	cfg := testConfig()
	cfg.json = true
	cfg.cache = &forgetfulCache{m: make(map[string]view)}
	var stdout, stderr bytes.Buffer
	err := runDemo(context.Background(), cfg, &stdout, &stderr)
	if err == nil || !strings.HasSuffix(err.Error(), " stale reads") {
		t.Fatalf("runDemo over a forgetful cache = %v; want an error about stale reads", err)
	}
	var s demoSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v", err)
	}
	if s.StaleReads == 0 {
		t.Fatalf("stale_reads = 0; want > 0")
	}
	if want := fmt.Sprintf("%d stale reads", s.StaleReads); err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	if !regexp.MustCompile(`stale read #1 at \S+: (article|list):\S+ served version \d+, but version \d+ was written and invalidated before the read began`).MatchString(stderr.String()) {
		t.Errorf("stderr does not describe the first stale read:\n%s", stderr.String())
	}
	if n := strings.Count(stderr.String(), "stale read #"); s.StaleReads > staleReported && n != staleReported {
		t.Errorf("stderr describes %d stale reads; want the first %d", n, staleReported)
	}
}

func TestDemoProgress(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runDemo(context.Background(), testConfig(), &stdout, &stderr); err != nil {
		t.Fatalf("runDemo = %v; want nil\nstderr:\n%s", err, stderr.String())
	}
	if !regexp.MustCompile(`(?m)^ *\S+  \d+ reads/s, hit ratio \d+\.\d\d%, loads saved -?\d+, fenced fills \d+, stale reads 0$`).MatchString(stderr.String()) {
		t.Errorf("stderr has no progress line:\n%s", stderr.String())
	}
}

// TestDemoCancel checks that a cancelled context (Ctrl-C) ends the run early with
// a summary.
func TestDemoCancel(t *testing.T) {
	cfg := testConfig()
	cfg.duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	begin := time.Now()
	if err := runDemo(ctx, cfg, &stdout, &stderr); err != nil {
		t.Fatalf("runDemo = %v; want nil\nstderr:\n%s", err, stderr.String())
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("runDemo took %v after its context was cancelled", took)
	}
	if !strings.Contains(stdout.String(), "stale reads") {
		t.Errorf("stdout has no summary:\n%s", stdout.String())
	}
}
