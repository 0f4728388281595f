package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
)

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, report.Table{
		Title:   "Get/Set mix",
		Columns: []string{"cache", "ops/s", "fresh/otter", "note"},
		Rows: [][]string{
			{"fresh", "12.5M", "1.02x", "a | b"},
			{"otter", "12.3M", "—", "line one\nline two"},
			{"ristretto", "n/a", "", "drops | inserts", "extra"},
			{"xsync"},
		},
	})
	want := "### Get/Set mix\n\n" +
		"| cache     | ops/s | fresh/otter | note                 |       |\n" +
		"| --------- | ----: | ----------: | -------------------- | ----- |\n" +
		"| fresh     | 12.5M |       1.02x | a \\| b               |       |\n" +
		"| otter     | 12.3M |           — | line one<br>line two |       |\n" +
		"| ristretto |   n/a |             | drops \\| inserts     | extra |\n" +
		"| xsync     |       |             |                      |       |\n\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteTableEmpty(t *testing.T) {
	var b strings.Builder
	writeTable(&b, report.Table{Title: "nothing"})
	if b.Len() != 0 {
		t.Errorf("got %q; want nothing for a table without columns or rows", b.String())
	}
}

func TestNumericCell(t *testing.T) {
	for s, want := range map[string]bool{
		"12": true, "1.2M": true, "-3%": true, "≈0.98x": true, "**1.05×**": true, ".5": true,
		"+12 ns": true, "fresh": false, "x2": false, "": false, "p99": false, "1k entries": true,
	} {
		if got := numericCell(s); got != want {
			t.Errorf("numericCell(%q) = %v; want %v", s, got, want)
		}
	}
}

func TestWriteSection(t *testing.T) {
	r := result{
		ID:      "alpha",
		Section: fakeSection("alpha"),
		Elapsed: 1500 * time.Millisecond,
		Charts: []chartFile{
			{Title: "Ops [ns]", Link: "docs/bench/alpha-ops.png"},
			{Title: "Broken", Err: errors.New("series \"x\": 2 X values but 1 Y values")},
		},
	}
	r.Section.Notes = append(r.Section.Notes, "two\nlines", "  ")
	var b strings.Builder
	writeSection(&b, r)
	want := "## Fake alpha\n\n" +
		"Measures nothing, quickly.\n\n" +
		"### Results\n\n" +
		"| cache | ns/op | fresh/otter |\n" +
		"| ----- | ----: | ----------: |\n" +
		"| fresh |    10 |        0.50 |\n" +
		"| otter |    20 |        1.00 |\n\n" +
		"![Ops \\[ns\\]](docs/bench/alpha-ops.png)\n\n" +
		"*Chart \"Broken\" could not be drawn: series \"x\": 2 X values but 1 Y values*\n\n" +
		"Notes:\n\n" +
		"- A note.\n" +
		"- two\n  lines\n\n" +
		"*Run time: 1.5s.*\n\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteSectionFailed(t *testing.T) {
	r := result{ID: "storm", Err: fmt.Errorf("storm: ```odd``` failure\nsecond line%s", "\n"), Elapsed: 2 * time.Second}
	var b strings.Builder
	writeSection(&b, r)
	want := "## storm\n\n" +
		"**This workload failed** after 2s:\n\n" +
		"````text\nstorm: ```odd``` failure\nsecond line\n````\n\n" +
		"*Run time: 2s.*\n\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderMarkdownHeader(t *testing.T) {
	d := document{
		Machine: machine{CPU: "Test CPU 9000", Cores: 2, MaxProcs: 2, GoVersion: "go1.99", OS: "linux", Arch: "amd64", MemTotal: 3 << 30},
		Date:    time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Command: "make bench",
		Versions: []version{
			{Name: "otter", Module: "github.com/maypok86/otter/v2@v2.4.0"},
			{Name: "xsync", Module: "github.com/puzpuzpuz/xsync (not linked into this binary)", Missing: true},
		},
		Fresh: "commit 0123456789ab",
		Total: 754 * time.Second,
		Results: []result{
			{ID: "alpha", Section: fakeSection("alpha"), Elapsed: time.Minute},
			{ID: "workloads", Err: errors.New("x"), Elapsed: time.Second},
		},
	}
	var b strings.Builder
	renderMarkdown(&b, d)
	md := b.String()
	for _, want := range []string{
		"# Benchmarks\n\n",
		"This run covered 2 workloads in 12m34s; 1 failed and is reported under its heading.\n\n",
		"**Every ratio in this file is fresh divided by otter, both measured in the same run on the same machine.**\n",
		"- **Machine:** Test CPU 9000, 2 cores (GOMAXPROCS 2), 3.0 GiB RAM, linux/amd64\n",
		"- **Go:** go1.99\n",
		"- **Date:** 2025-03-04 05:06 UTC\n",
		"- **Command:** `make bench` (full mode)\n",
		"- **fresh:** this checkout, commit 0123456789ab\n",
		"- **Competitors:** `github.com/maypok86/otter/v2@v2.4.0`, xsync github.com/puzpuzpuz/xsync (not linked into this binary)\n",
		"- **Total run time:** 12m34s\n",
		"## Workloads\n\n1. [Fake alpha](#fake-alpha) (1m0s)\n2. [workloads](#workloads-1) (1s, **failed**)\n",
		"## Fake alpha\n",
		"## workloads\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "short run") {
		t.Error("a full run is described as short")
	}
}

// TestRenderMarkdownRedis checks that a report with the Redis section says what its
// ratios divide by, and that one without it does not mention it.
func TestRenderMarkdownRedis(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{{"redis", true}, {"alpha", false}} {
		var b strings.Builder
		renderMarkdown(&b, document{Results: []result{{ID: tc.id, Section: fakeSection(tc.id)}}})
		md := b.String()
		for _, s := range []string{"The Redis section weighs fresh's Redis tier", "(in the Redis section, by the Redis client or cache"} {
			if got := strings.Contains(md, s); got != tc.want {
				t.Errorf("report with a %s section: contains %q = %v; want %v", tc.id, s, got, tc.want)
			}
		}
	}
}

func TestSlug(t *testing.T) {
	seen := map[string]int{}
	for _, tt := range []struct{ title, want string }{
		{"Insert storm", "insert-storm"},
		{"Hit ratio (traces & Zipf)", "hit-ratio-traces--zipf"},
		{"Insert storm", "insert-storm-1"},
		{"Load/invalidate race: v0 → v1", "loadinvalidate-race-v0--v1"},
	} {
		if got := slug(tt.title, seen); got != tt.want {
			t.Errorf("slug(%q) = %q; want %q", tt.title, got, tt.want)
		}
	}
}

func TestCode(t *testing.T) {
	for s, want := range map[string]string{
		"make bench":  "`make bench`",
		"a `b` c":     "``a `b` c``",
		"`x":          "`` `x ``",
		"go run ./x ": "`go run ./x `",
	} {
		if got := code(s); got != want {
			t.Errorf("code(%q) = %q; want %q", s, got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1234567 * time.Nanosecond:   "1ms",
		12345 * time.Millisecond:    "12.3s",
		125400 * time.Millisecond:   "2m5s",
		1000 * 1000 * 1000 * 60 * 3: "3m0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q; want %q", d, got, want)
		}
	}
}
