package main

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshcache/fresh/benchmarks/report"
)

func TestRenderChart(t *testing.T) {
	tests := []struct {
		name  string
		chart report.Chart
	}{
		{"line", report.Chart{
			Kind: "line", Title: "Hit ratio", XLabel: "capacity", YLabel: "hit ratio (%)",
			Series: []report.Series{
				{Name: "fresh", X: []float64{100, 200, 400}, Y: []float64{40, 50, 60}},
				{Name: "otter", X: []float64{100, 200, 400}, Y: []float64{41, 50.5, 59}},
			},
		}},
		{"log-line", report.Chart{
			Kind: "line", Title: "Invalidation latency", XLabel: "entries under the tag", YLabel: "ns",
			Series: []report.Series{
				{Name: "fresh", X: []float64{1, 1000, 100000}, Y: []float64{90, 95, 120}},
				{Name: "otter + map[tag][]key", X: []float64{1, 1000, 100000}, Y: []float64{80, 40000, 6e6}},
				{Name: "gocache", X: []float64{1, 1000, 100000}, Y: []float64{200, math.NaN(), 9e7}},
			},
		}},
		{"bar", report.Chart{
			Kind: "bar", Title: "Throughput", YLabel: "ops/s",
			Categories: []string{"100% reads", "75% reads", "50% reads", "25% reads", "100% writes"},
			Series: []report.Series{
				{Name: "fresh", Y: []float64{3e7, 2e7, 1.5e7, 1e7, 8e6}},
				{Name: "fresh (4 deps)", Y: []float64{2.5e7, 1.8e7, 1.3e7, 9e6, 7e6}},
				{Name: "otter", Y: []float64{3.1e7, 2.1e7, 1.4e7, 1e7, 8e6}},
				{Name: "ristretto", Y: []float64{2e7, 1e7, math.NaN(), 5e6, 4e6}},
				{Name: "xsync.Map (ceiling)", Y: []float64{5e7, 3e7, 2e7, 1.5e7, 1e7}},
			},
		}},
		{"single", report.Chart{
			Kind: "bar", Categories: []string{"a"}, Series: []report.Series{{Y: []float64{1}}},
		}},
		{"one-category", report.Chart{
			Kind: "bar", Title: "Cost of a hit", XLabel: "cache", YLabel: "ns per hit",
			Categories: []string{"hit"},
			Series: []report.Series{
				{Name: "otter", Y: []float64{85}}, {Name: "otter-expiry", Y: []float64{260}}, {Name: "fresh-0deps", Y: []float64{195}},
				{Name: "fresh-1deps", Y: []float64{214}}, {Name: "fresh-4deps-churn", Y: []float64{440}},
			},
		}},
		{"per-library", report.Chart{
			Kind: "bar", Title: "Stampede: p99 waiter latency", XLabel: "library", YLabel: "p99 latency (ms)",
			Categories: []string{"fresh", "otter", "theine", "sturdyc", "ttlcache (suppressed loader)", "gocache (loadable)", "xsync.Map"},
			Series:     []report.Series{{Name: "p99", Y: []float64{11.4, 13, 11.5, 11.4, 10.9, math.Inf(1), 11.1}}},
		}},
	}
	dir := t.TempDir()
	if d := os.Getenv("BENCHREPORT_CHART_DIR"); d != "" {
		dir = d // to look at the charts
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.name+".png")
			if err := renderChart(path, tt.chart); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path)
		})
	}
}

func TestRenderChartErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		chart   report.Chart
		wantErr string
	}{
		{"no series", report.Chart{Kind: "line"}, "no series"},
		{"kind", report.Chart{Kind: "pie", Series: []report.Series{{Name: "a"}}}, `unknown kind "pie"`},
		{"line lengths", report.Chart{Kind: "line", Series: []report.Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}}, `series "a": 2 X values but 1 Y values`},
		{"no points", report.Chart{Kind: "line", Series: []report.Series{{Name: "a", X: []float64{1}, Y: []float64{math.NaN()}}}}, "no finite data points"},
		{"no categories", report.Chart{Kind: "bar", Series: []report.Series{{Name: "a", Y: []float64{1}}}}, "without categories"},
		{"bar lengths", report.Chart{Kind: "bar", Categories: []string{"x", "y"}, Series: []report.Series{{Name: "a", Y: []float64{1}}}}, `series "a": 1 values for 2 categories`},
		{"one category", report.Chart{Kind: "bar", Categories: []string{"x"}, Series: []report.Series{{Name: "a", Y: []float64{1}}, {Name: "b"}}}, `series "b": 0 values for 1 category`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := renderChart(filepath.Join(t.TempDir(), "x.png"), tt.chart)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenderCharts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	charts := filepath.Join(dir, "docs", "bench")
	s := fakeSection("alpha")
	s.Charts = append(s.Charts, s.Charts[0]) // same file name
	s.Charts = append(s.Charts, report.Chart{Name: "Bad Name/1", Kind: "line", Series: []report.Series{{Name: "a", X: []float64{1}, Y: []float64{1}}}})
	files := renderCharts(s, charts, dir)
	if len(files) != 3 {
		t.Fatalf("got %d charts; want 3", len(files))
	}
	if files[0].Err != nil || files[0].Link != "docs/bench/alpha-ops.png" || files[0].Title != "Ops" {
		t.Errorf("got %+v; want docs/bench/alpha-ops.png titled Ops", files[0])
	}
	checkPNG(t, files[0].Path)
	if files[1].Err == nil || !strings.Contains(files[1].Err.Error(), "same file name") {
		t.Errorf("got %v; want a duplicate-name error", files[1].Err)
	}
	if files[2].Err != nil || files[2].Link != "docs/bench/alpha-bad-name-1.png" || files[2].Title != "Bad Name/1" {
		t.Errorf("got %+v; want a file-safe name", files[2])
	}
}

func TestSeriesColors(t *testing.T) {
	names := []string{"fresh", "fresh 1 dep", "otter", "otter + index", "theine", "ristretto", "sturdyc",
		"ttlcache", "eko/gocache", "xsync.Map", "mystery", "fresh 4 deps"}
	got := seriesColors(names)
	seen := map[color.Color]string{}
	for i, c := range got {
		if c == nil {
			t.Fatalf("%s: no colour", names[i])
		}
		if prev, ok := seen[c]; ok {
			t.Errorf("%s and %s share a colour", prev, names[i])
		}
		seen[c] = names[i]
	}
	if again := seriesColors([]string{"xsync", "otter"}); again[1] != got[2] {
		t.Error("otter changes colour from one chart to the next")
	}
	// More series than colours still get one each.
	many := make([]string, 40)
	for i, c := range seriesColors(many) {
		if c == nil {
			t.Fatalf("series %d: no colour", i)
		}
	}
}

func TestHumanNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.25: "0.25", 950: "950", 2500: "2.5k", 1000: "1k", 12500: "12.5k", 2e6: "2M", 1.25e7: "12.5M", 3e9: "3G", -4e6: "-4M",
	} {
		if got := humanNumber(v); got != want {
			t.Errorf("humanNumber(%v) = %q; want %q", v, got, want)
		}
	}
}

func TestFileSafe(t *testing.T) {
	for in, want := range map[string]string{"ops": "ops", "Hit Ratio/zipf": "hit-ratio-zipf", "..": "chart", "": "chart", "a_b.c": "a_b.c"} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q; want %q", in, got, want)
		}
	}
}
