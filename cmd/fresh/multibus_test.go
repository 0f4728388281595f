package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// busURL returns the URL of a bus server of the integration tests: the value of
// the environment variable env, or def. It skips the test when the bus cannot be
// opened there, and fails it instead when CI is set (STYLE.md item 9).
func busURL(t *testing.T, env, def string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		u = def
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := openDemoBus(ctx, u, "demo-test", warnLogger(&bytes.Buffer{}))
	if err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("CI is set, so this test cannot be skipped: %s %s: %v", env, redactURL(u), err)
		}
		t.Skipf("cannot open the bus at %s: %v; set %s to run this test", redactURL(u), err, env)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return u
}

// runBusDemo runs demo -bus url over 3 processes for 3s, without Redis, and
// checks its summary: no stale read, a fan-out latency measured, no L2, and the
// source's directory removed.
func runBusDemo(t *testing.T, url string) {
	t.Helper()
	args := []string{"demo", "-bus", url, "-procs", "3", "-duration", "3s"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, line := range []string{
		`(?m)^reads +[1-9]\d* cached \(\d+/s\), [1-9]\d* uncached \(\d+/s\)$`,
		`(?m)^writes +[1-9]\d*$`,
		`(?m)^stale reads +0 \(`,
		`(?m)^store \(L2\) +none `,
		`(?m)^fan-out latency +p50 \S+, p99 \S+, max \S+ \([1-9]\d* refusals of [1-9]\d* markers, `,
		`(?m)^processes +3 sharing the bus \S+ \(namespace demo-[0-9a-f]+\) and the source in \S+, removed at the end:$`,
		`(?m)^  writer +\d+ +0 +[1-9]\d* `,
		`(?m)^  reader1 +\d+ +[1-9]\d* +0 .* \S+/\S+/\S+$`,
		`(?m)^  reader2 +\d+ +[1-9]\d* +0 .* \S+/\S+/\S+$`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("stdout has no line matching %s:\n%s", line, out)
		}
	}
	errs := stderr.String()
	if !strings.HasPrefix(errs, "fresh demo: articles 1000, 3 processes sharing the bus ") {
		t.Errorf("stderr = %q; want it to begin with the settings", errs)
	}
	m := regexp.MustCompile(`(?m)^fresh demo: removed the source in (\S+)$`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("stderr does not say that the source was removed:\n%s", errs)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the source's directory %s is still there (%v)", m[1], err)
	}
}

// TestMultiDemoBusSQLite needs no server: the bus is a SQLite file.
func TestMultiDemoBusSQLite(t *testing.T) {
	runBusDemo(t, "sqlite:"+filepath.Join(t.TempDir(), "bus.db"))
}

func TestMultiDemoBusPostgres(t *testing.T) {
	runBusDemo(t, busURL(t, "FRESH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
}

func TestMultiDemoBusNATS(t *testing.T) {
	runBusDemo(t, busURL(t, "FRESH_NATS_URL", "nats://127.0.0.1:4222"))
}

// TestMultiDemoBusWithRedis runs the bus beside Redis, which is then the L2 and
// the source.
func TestMultiDemoBusWithRedis(t *testing.T) {
	rurl := redisURL(t)
	args := []string{"demo", "-bus", "sqlite:" + filepath.Join(t.TempDir(), "bus.db"), "-redis", rurl,
		"-procs", "2", "-duration", "1500ms", "-articles", "100", "-readers", "2", "-json"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; want nil\nstderr:\n%s", args, err, stderr.String())
	}
	var s demoSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s", err, stdout.String())
	}
	if s.StaleReads != 0 || s.Multi == nil || s.Multi.StoreFills == 0 || s.Multi.SourceDir != "" || !strings.HasPrefix(s.Multi.Bus, "sqlite:") {
		t.Errorf("summary = %+v %+v; want no stale read, L2 fills, no source directory, the sqlite bus", s, s.Multi)
	}
	checkDeleted(t, rurl, stderr.String())
}

// TestMultiDemoBusUnreachable checks the failure to open a bus: an error that
// names it, without its password, before any worker starts.
func TestMultiDemoBusUnreachable(t *testing.T) {
	args := []string{"demo", "-bus", "nats://u:hunter2@127.0.0.1:1", "-procs", "2"}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	want := "demo: cannot open the bus at nats://u:xxxxx@127.0.0.1:1: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("run(%q) = %v; want an error beginning %q", args, err, want)
	}
	if strings.Contains(err.Error()+stderr.String()+stdout.String(), "hunter2") {
		t.Errorf("the password shows: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}
