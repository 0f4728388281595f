package main

import (
	"context"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/freshcache/fresh/benchmarks/report"
)

// fakeSection is a small but complete workload result.
func fakeSection(id string) report.Section {
	return report.Section{
		ID:    id,
		Title: "Fake " + id,
		Intro: "Measures nothing, quickly.",
		Tables: []report.Table{{
			Title:   "Results",
			Columns: []string{"cache", "ns/op", "fresh/otter"},
			Rows:    [][]string{{"fresh", "10", "0.50"}, {"otter", "20", "1.00"}},
		}},
		Charts: []report.Chart{{
			Name: "ops", Title: "Ops", Kind: "bar", YLabel: "ns/op",
			Categories: []string{"get"},
			Series:     []report.Series{{Name: "fresh", Y: []float64{10}}, {Name: "otter", Y: []float64{20}}},
		}},
		Notes: []string{"A note."},
	}
}

func fakeWorkloads(calls *[]string) []workload {
	record := func(id string, short bool) {
		if calls != nil {
			s := id
			if short {
				s += " short"
			}
			*calls = append(*calls, s)
		}
	}
	return []workload{
		{"alpha", func(_ context.Context, short bool) (report.Section, error) {
			record("alpha", short)
			return fakeSection("alpha"), nil
		}},
		{"broken", func(_ context.Context, short bool) (report.Section, error) {
			record("broken", short)
			return report.Section{}, errors.New("broken: origin unreachable | retry later")
		}},
		{"panicky", func(_ context.Context, short bool) (report.Section, error) {
			record("panicky", short)
			panic("boom")
		}},
		{"omega", func(_ context.Context, short bool) (report.Section, error) {
			record("omega", short)
			return fakeSection("omega"), nil
		}},
	}
}

func TestParseFlags(t *testing.T) {
	ws := fakeWorkloads(nil)
	mod := filepath.FromSlash("/repo/benchmarks")
	tests := []struct {
		name    string
		args    []string
		module  string
		want    config
		wantErr string
	}{
		{
			name:   "defaults",
			module: mod,
			want: config{
				out:    filepath.FromSlash("/repo/BENCHMARKS.md"),
				charts: filepath.FromSlash("/repo/docs/bench"),
			},
		},
		{
			name:   "all flags",
			args:   []string{"-short", "-only", "omega, alpha,alpha", "-out", "x.md", "-charts", "c", "-json", "j", "-command", "make bench"},
			module: mod,
			want:   config{short: true, only: []string{"alpha", "omega"}, out: "x.md", charts: "c", json: "j", command: "make bench"},
		},
		{
			name: "outside the module with both paths",
			args: []string{"-out", "-", "-charts", "c"},
			want: config{out: "-", charts: "c"},
		},
		{name: "outside the module", args: []string{"-out", "x.md"}, wantErr: "cannot find the benchmarks module"},
		{name: "unknown workload", args: []string{"-only", "alpha,gamma"}, module: mod, wantErr: `unknown workload "gamma" (known: alpha, broken, panicky, omega)`},
		{name: "empty ID", args: []string{"-only", "alpha,,omega"}, module: mod, wantErr: "empty workload ID"},
		{name: "empty only", args: []string{"-only", ""}, module: mod, wantErr: "empty workload ID"},
		{name: "empty out", args: []string{"-out", ""}, module: mod, wantErr: "-out must not be empty"},
		{name: "empty charts", args: []string{"-charts", " "}, module: mod, wantErr: "-charts must not be empty"},
		{name: "empty json", args: []string{"-json="}, module: mod, wantErr: "-json must not be empty"},
		{name: "positional", args: []string{"-short", "throughput"}, module: mod, wantErr: `unexpected argument "throughput"`},
		{name: "unknown flag", args: []string{"-fast"}, module: mod, wantErr: "flag provided but not defined: -fast"},
		{name: "bad bool", args: []string{"-short=maybe"}, module: mod, wantErr: "invalid boolean value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			got, err := parseFlags(tt.args, &stderr, ws, tt.module)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tt.wantErr)
				}
				if !errors.As(err, new(usageError)) {
					t.Errorf("got %T; want a usageError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var stderr strings.Builder
	_, err := parseFlags([]string{"-h"}, &stderr, fakeWorkloads(nil), "/m")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v; want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "alpha, broken, panicky, omega") {
		t.Errorf("usage does not list the workloads:\n%s", stderr.String())
	}
}

func TestRunReportsFailuresAndContinues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "BENCHMARKS.md")
	charts := filepath.Join(dir, "docs", "bench")
	jsonDir := filepath.Join(dir, "json")
	var calls []string
	var stdout, stderr strings.Builder
	err := runWith(context.Background(),
		[]string{"-short", "-out", out, "-charts", charts, "-json", jsonDir, "-command", "make bench"},
		&stdout, &stderr, fakeWorkloads(&calls))
	if err == nil {
		t.Fatal("got no error; want one for the failed workloads")
	}
	if want := "2 of 4 workloads failed: broken, panicky"; !strings.Contains(err.Error(), want) {
		t.Errorf("got error %q; want it to contain %q", err, want)
	}
	if want := []string{"alpha short", "broken short", "panicky short", "omega short"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("got calls %q; want %q", calls, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("got stdout %q; want nothing (progress goes to stderr)", stdout.String())
	}
	for _, want := range []string{"[1/4] alpha: running", "[2/4] broken: FAILED: broken: origin unreachable", "[3/4] panicky: FAILED: panic: boom", "[4/4] omega: done in"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"## Fake alpha\n",
		"## broken\n\n**This workload failed** after ",
		"```text\nbroken: origin unreachable | retry later\n```",
		"## panicky\n\n**This workload failed**",
		"panic: boom",
		"## Fake omega\n",
		"2. [broken](#broken) (",
		", **failed**)",
		"- **Command:** `make bench` (short mode)",
		"![Ops](docs/bench/alpha-ops.png)",
		"![Ops](docs/bench/omega-ops.png)",
		"2 failed and are reported under their heading",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md)
		}
	}
	for _, id := range []string{"alpha", "omega"} {
		checkPNG(t, filepath.Join(charts, id+"-ops.png"))
		s, err := report.Load(filepath.Join(jsonDir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Title != "Fake "+id || s.Elapsed <= 0 {
			t.Errorf("JSON %s: got title %q, elapsed %v; want %q and a positive time", id, s.Title, s.Elapsed, "Fake "+id)
		}
	}
	if _, err := os.Stat(filepath.Join(jsonDir, "broken.json")); !os.IsNotExist(err) {
		t.Errorf("failed workload saved as JSON (stat error %v)", err)
	}
}

func TestRunOnlyToStdout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var calls []string
	var stdout, stderr strings.Builder
	err := runWith(context.Background(),
		[]string{"-only", "omega,alpha", "-out", "-", "-charts", dir},
		&stdout, &stderr, fakeWorkloads(&calls))
	if err != nil {
		t.Fatalf("got %v; want no error\n%s", err, stderr.String())
	}
	if want := []string{"alpha", "omega"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("got calls %q; want %q (registry order)", calls, want)
	}
	md := stdout.String()
	if !strings.HasPrefix(md, "# Benchmarks\n") || !strings.Contains(md, "(full mode)") {
		t.Errorf("unexpected report on stdout:\n%s", md)
	}
	if strings.Contains(md, "broken") {
		t.Errorf("report mentions a workload that was not selected:\n%s", md)
	}
}

func TestRunBadSectionID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ws := []workload{{"alpha", func(context.Context, bool) (report.Section, error) {
		return fakeSection("other"), nil
	}}}
	var stdout, stderr strings.Builder
	err := runWith(context.Background(), []string{"-out", filepath.Join(dir, "b.md"), "-charts", dir}, &stdout, &stderr, ws)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 workloads failed") {
		t.Fatalf("got %v; want the workload reported as failed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "alpha-ops.png")); err != nil {
		t.Errorf("chart not named after the registry ID: %v", err)
	}
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "b.md")
	ctx, cancel := context.WithCancel(context.Background())
	ws := []workload{
		{"alpha", func(context.Context, bool) (report.Section, error) { cancel(); return fakeSection("alpha"), nil }},
		{"omega", func(context.Context, bool) (report.Section, error) {
			t.Error("ran after the interrupt")
			return report.Section{}, nil
		}},
	}
	var stdout, stderr strings.Builder
	err := runWith(ctx, []string{"-out", out, "-charts", dir}, &stdout, &stderr, ws)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote the report (stat error %v)", err)
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"core", "throughput", "hitratio", "storm", "memory", "tags", "race", "stampede", "redis", "buses", "freshsql"}
	if got := workloadIDs(registry); !reflect.DeepEqual(got, want) {
		t.Errorf("got registry %q; want %q", got, want)
	}
}

func TestReconstructCommand(t *testing.T) {
	mod := filepath.FromSlash("/repo/benchmarks")
	tests := []struct {
		argv0, wd string
		args      []string
		want      string
	}{
		{"/tmp/go-build123/b001/exe/benchreport", mod, []string{"-short"}, "cd benchmarks && go run ./cmd/benchreport -short"},
		{"/tmp/go-build123/b001/exe/benchreport", filepath.Join(mod, "cmd", "benchreport"), nil, "cd benchmarks/cmd/benchreport && go run ."},
		{"./benchreport", mod, []string{"-only", "a,b", "-out", "my file.md"}, "cd benchmarks && ./benchreport -only a,b -out 'my file.md'"},
		{"benchreport", "/elsewhere", []string{"-out", "it's.md"}, `benchreport -out 'it'\''s.md'`},
	}
	for _, tt := range tests {
		moduleDir := mod
		if tt.wd == "/elsewhere" {
			moduleDir = ""
		}
		if got := reconstructCommand(filepath.FromSlash(tt.argv0), tt.args, filepath.FromSlash(tt.wd), moduleDir); got != tt.want {
			t.Errorf("reconstructCommand(%q, %q, %q) = %q; want %q", tt.argv0, tt.args, tt.wd, got, tt.want)
		}
	}
}

func TestFindModuleDir(t *testing.T) {
	root := t.TempDir()
	mod := filepath.Join(root, "benchmarks")
	deep := filepath.Join(mod, "cmd", "benchreport")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/freshcache/fresh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("// x\nmodule github.com/freshcache/fresh/benchmarks\n\ngo 1.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{deep: mod, mod: mod, root: ""} {
		if got := findModuleDir(dir); got != want {
			t.Errorf("findModuleDir(%q) = %q; want %q", dir, got, want)
		}
	}
}

// checkPNG fails unless path is a PNG of the chart size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := img.Bounds().Size(); got.X != chartWidthPx || got.Y != chartHeightPx {
		t.Errorf("%s: got %dx%d pixels; want %dx%d", path, got.X, got.Y, chartWidthPx, chartHeightPx)
	}
}

func TestNewWorkload(t *testing.T) {
	type opts struct {
		Short bool
		N     int
	}
	var got []opts
	w := newWorkload("x", func(_ context.Context, o opts) (report.Section, error) {
		got = append(got, o)
		return report.Section{}, nil
	})
	for _, short := range []bool{true, false} {
		if _, err := w.run(context.Background(), short); err != nil {
			t.Fatal(err)
		}
	}
	if want := []opts{{Short: true}, {Short: false}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got options %+v; want %+v", got, want)
	}

	type noShort struct{ Quick bool }
	type wrongType struct{ Short int }
	for name, f := range map[string]func(){
		"no Short": func() {
			newWorkload("a", func(context.Context, noShort) (report.Section, error) { return report.Section{}, nil })
		},
		"wrong type": func() {
			newWorkload("b", func(context.Context, wrongType) (report.Section, error) { return report.Section{}, nil })
		},
		"not struct": func() {
			newWorkload("c", func(context.Context, *opts) (report.Section, error) { return report.Section{}, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: newWorkload did not panic", name)
				}
			}()
			f()
		}()
	}
}
