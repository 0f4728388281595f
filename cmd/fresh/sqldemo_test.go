package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSQLDemo(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	args := []string{"demo", "-duration", "1s", "-seed", "7"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, line := range []string{
		`(?m)^duration +\S+, 4 readers, 2 writers \(200 writes/s asked\)$`,
		`(?m)^reads +[1-9]\d* cached \(\d+/s\), each checked against [1-9]\d* uncached reads`,
		`(?m)^hit ratio +\d+\.\d\d% \([1-9]\d* served from the cache, [1-9]\d* ran the query\)$`,
		`(?m)^  cache hit +\S+ +\S+ *$`,
		`(?m)^  cache miss +\S+ +\S+ *$`,
		`(?m)^  uncached +\S+ +\S+ *$`,
		`(?m)^writes +[1-9]\d* \(\d+/s; \d+ rolled back\), [1-9]\d* invalidations after commits$`,
		`(?m)^evicted per write +\d+\.\d by freshsql, \d+\.\d by table-level invalidation \(of \d+\.\d cached; [1-9]\d* writes measured\)$`,
		`(?m)^stale reads +0$`,
		`(?m)^read +yes +[1-9]\d* +[1-9]\d* +\d+ +0  SELECT id, author_id, title, published FROM articles WHERE id = \?$`,
		`(?m)^write +no +0 +0 +0 +[1-9]\d*  INSERT INTO comments`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("stdout has no line matching %s:\n%s", line, out)
		}
	}
	// The one read freshsql cannot cache is rare; when it was made, the report
	// says why it was not cached.
	if strings.Contains(out, "created_at") && !regexp.MustCompile(`(?m)^read +no +0 +0 +[1-9]\d* +0  SELECT count\(\*\) FROM comments WHERE created_at .*\[.*'now'.*\]$`).MatchString(out) {
		t.Errorf("stdout does not say why the read of today's comments was not cached:\n%s", out)
	}
	if !strings.HasPrefix(stderr.String(), "fresh demo: SQLite through freshsql") {
		t.Errorf("stderr = %q; want it to begin with the settings", stderr.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "fresh-demo-*")); len(left) > 0 {
		t.Errorf("the run left %v behind", left)
	}
}

// TestSQLDemoJSON checks the JSON summary, and that freshsql evicted fewer
// entries per write than table-level invalidation would have.
func TestSQLDemoJSON(t *testing.T) {
	cfg := testSQLConfig(t)
	cfg.json = true
	var stdout, stderr bytes.Buffer
	if err := runSQLDemo(context.Background(), cfg, &stdout, &stderr); err != nil {
		t.Fatalf("runSQLDemo = %v; want nil\nstderr:\n%s", err, stderr.String())
	}
	var s sqlSummary
	if err := jsonDecodeStrict(&stdout, &s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"reads > 0", s.Reads > 0},
		{"0 < hits < reads", s.Hits > 0 && s.Hits < s.Reads},
		{"uncached_reads == 2*reads", s.UncachedReads == 2*s.Reads},
		{"writes > rolled_back", s.Writes > s.RolledBack},
		{"invalidations == committed writes", s.Freshsql.Invalidations == int64(s.Writes-s.RolledBack)},
		{"writes measured", s.Evictions.WritesMeasured > 0},
		// At most, not less: in a short run under load, the few writes measured
		// may each dirty exactly what table-level invalidation would.
		{"freshsql evicts at most what table-level does", s.Evictions.FreshsqlPerWrite <= s.Evictions.TableLevelPerWrite},
		{"table-level at most what was cached", s.Evictions.TableLevelPerWrite <= s.Evictions.LivePerWrite},
		{"statements reported", len(s.Statements) >= len(queryKinds)},
		{"stale_reads == 0", s.StaleReads == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("summary fails %s: %+v", c.name, s)
		}
	}
}

// TestSQLDemoCatchesStaleness sends the writes around freshsql, so that nothing
// is invalidated: the check must report stale reads and the command exit 1.
func TestSQLDemoCatchesStaleness(t *testing.T) {
	cfg := testSQLConfig(t)
	cfg.skipInvalidation = true
	var stdout, stderr bytes.Buffer
	err := runSQLDemo(context.Background(), cfg, &stdout, &stderr)
	if err == nil || !strings.HasSuffix(err.Error(), " stale reads") {
		t.Fatalf("runSQLDemo without invalidations = %v; want an error about stale reads\nstdout:\n%s", err, stdout.String())
	}
	if code := report(err, &bytes.Buffer{}); code != 1 {
		t.Errorf("report(%v) = %d; want 1", err, code)
	}
	if regexp.MustCompile(`(?m)^stale reads +0$`).MatchString(stdout.String()) {
		t.Errorf("stdout reports no stale read:\n%s", stdout.String())
	}
	if !regexp.MustCompile(`stale read #1 at \S+: [a-z-]+(\(\d+\))? served .*; the database said `).MatchString(stderr.String()) {
		t.Errorf("stderr does not describe the first stale read:\n%s", stderr.String())
	}
}

func TestSQLDemoKeep(t *testing.T) {
	cfg := testSQLConfig(t)
	cfg.duration = 200 * time.Millisecond
	cfg.keep = true
	var stdout, stderr bytes.Buffer
	if err := runSQLDemo(context.Background(), cfg, &stdout, &stderr); err != nil {
		t.Fatalf("runSQLDemo = %v; want nil\nstderr:\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?m)^kept the database: (.+)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr does not name the kept database:\n%s", stderr.String())
	}
	if _, err := os.Stat(m[1]); err != nil {
		t.Errorf("the kept database: %v", err)
	}
}

func TestSQLDemoCancel(t *testing.T) {
	cfg := testSQLConfig(t)
	cfg.duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // after the seed, even with -race
	defer cancel()
	var stdout, stderr bytes.Buffer
	begin := time.Now()
	if err := runSQLDemo(ctx, cfg, &stdout, &stderr); err != nil {
		t.Fatalf("runSQLDemo = %v; want nil\nstderr:\n%s", err, stderr.String())
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("runSQLDemo took %v after its context was cancelled", took)
	}
	if !strings.Contains(stdout.String(), "stale reads") {
		t.Errorf("stdout has no summary:\n%s", stdout.String())
	}
}

func TestSQLDemoUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"zero rate", []string{"demo", "-rate", "0"}, "demo: -rate 0 must be above 0 and at most 100000 writes per second"},
		{"huge rate", []string{"demo", "-rate", "1e9"}, "-rate 1e+09 must be above 0"},
		{"malformed rate", []string{"demo", "-rate", "fast"}, `invalid value "fast" for flag -rate`},
		{"no readers", []string{"demo", "-readers", "0"}, "-readers 0 must be between 1 and 10000"},
		{"latency without redis", []string{"demo", "-latency", "1ms"}, "demo: -latency is only with -redis or -bus (or use fresh demo-memory)"},
		{"two memory flags", []string{"demo", "-articles", "10", "-write-every", "1ms"}, "demo: -articles and -write-every are only with -redis or -bus"},
		{"rate with redis", []string{"demo", "-redis", "redis://127.0.0.1:1/0", "-rate", "10"}, "demo: -rate is only for the SQL workload, without -redis and -bus"},
		{"keep with bus", []string{"demo", "-bus", "sqlite:/tmp/bus.db", "-keep"}, "demo: -keep is only for the SQL workload"},
		{"redis on demo-memory", []string{"demo-memory", "-redis", "redis://127.0.0.1:6379/0"}, "flag provided but not defined: -redis"},
		{"rate on demo-memory", []string{"demo-memory", "-rate", "5"}, "flag provided but not defined: -rate"},
		{"bad memory flag", []string{"demo-memory", "-articles", "0"}, "demo-memory: -articles 0 must be between"},
		{"demo-memory argument", []string{"demo-memory", "now"}, `demo-memory: unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("run(%q) = %v; want a *usageError", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %q; want it to contain %q", tt.args, err, tt.wantErr)
			}
			if stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("run(%q) printed %q, %q; want nothing", tt.args, stdout.String(), stderr.String())
			}
		})
	}
}

func testSQLConfig(t *testing.T) sqlDemoConfig {
	cfg := defaultSQLDemoConfig()
	cfg.duration = time.Second
	cfg.dir = t.TempDir()
	cfg.progressEvery = 100 * time.Millisecond
	return cfg
}

// jsonDecodeStrict decodes the one JSON value r holds into v, refusing unknown
// fields and anything after it.
func jsonDecodeStrict(r *bytes.Buffer, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more after the JSON value")
	}
	return nil
}
