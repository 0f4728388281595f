// Command benchreport runs the benchmark workloads of this module side by side
// and writes BENCHMARKS.md with Markdown tables and PNG charts.
//
// `make bench` runs it from the benchmarks directory:
//
//	cd benchmarks && go run ./cmd/benchreport            # full run, about 20 minutes on 2 cores
//	cd benchmarks && go run ./cmd/benchreport -short     # quick look
//	cd benchmarks && go run ./cmd/benchreport -only throughput,race -out /tmp/b.md
//
// Progress goes to stderr. A workload that fails is reported under its heading in
// BENCHMARKS.md, the others still run, and the command exits non-zero at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
	"github.com/freshcache/fresh/benchmarks/workloads/buses"
	"github.com/freshcache/fresh/benchmarks/workloads/memory"
	"github.com/freshcache/fresh/benchmarks/workloads/redis"
)

func main() {
	// The memory workload measures each case in a fresh process by re-executing
	// this binary; such a child does its one measurement and nothing else.
	if memory.IsChild() {
		memory.Child()
		return
	}
	// So does the Redis workload, for its peer and stampede processes.
	if redis.IsChild() {
		redis.Child()
		return
	}
	// And the buses workload, for its peer and idle follower processes.
	if buses.IsChild() {
		buses.Child()
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run is the whole command; main only wires it to the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, registry)
}

// A usageError is a bad command line; main exits with status 2 for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// config is the parsed command line.
type config struct {
	short   bool
	only    []string // workload IDs in registry order; empty means all
	out     string   // Markdown file, or "-" for stdout
	charts  string   // directory for the PNG charts
	json    string   // directory for the JSON sections; empty means none
	command string   // command line printed in BENCHMARKS.md
}

// Defaults of -out and -charts, relative to the benchmarks module directory.
const (
	defaultOut    = "../BENCHMARKS.md"
	defaultCharts = "../docs/bench"
)

// parseFlags parses args against the workload IDs of ws. moduleDir is the
// benchmarks module directory, against which the defaults of -out and -charts
// are resolved; it may be empty when both flags are given.
func parseFlags(args []string, stderr io.Writer, ws []workload, moduleDir string) (config, error) {
	var c config
	var only string
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.short, "short", false, "quick look: smaller sizes and shorter runs; the numbers are noisier")
	fs.StringVar(&only, "only", "", "comma-separated workload `IDs` to run (default all)")
	fs.StringVar(&c.out, "out", "", "Markdown `file` to write, - for stdout (default "+defaultOut+" from the benchmarks module)")
	fs.StringVar(&c.charts, "charts", "", "`directory` for the PNG charts (default "+defaultCharts+" from the benchmarks module)")
	fs.StringVar(&c.json, "json", "", "also save each workload's results as JSON into `directory`")
	fs.StringVar(&c.command, "command", "", "command line to print in the report (default: this one, reconstructed)")
	fs.Usage = func() {
		logf(fs.Output(), "usage: benchreport [flags]\n\nRuns the benchmark workloads side by side and writes BENCHMARKS.md.\nWorkloads, in run order: %s\n\nFlags:\n", strings.Join(workloadIDs(ws), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Sprintf("unexpected argument %q (flags only)", fs.Arg(0))}
	}

	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for _, name := range []string{"out", "charts", "json", "command"} {
		if explicit[name] && strings.TrimSpace(fs.Lookup(name).Value.String()) == "" {
			return c, usageError{fmt.Sprintf("-%s must not be empty", name)}
		}
	}
	if !explicit["out"] || !explicit["charts"] {
		if moduleDir == "" {
			return c, usageError{"cannot find the benchmarks module from the working directory: run from benchmarks/ or pass both -out and -charts"}
		}
		if !explicit["out"] {
			c.out = filepath.Join(moduleDir, filepath.FromSlash(defaultOut))
		}
		if !explicit["charts"] {
			c.charts = filepath.Join(moduleDir, filepath.FromSlash(defaultCharts))
		}
	}

	if explicit["only"] {
		ids, err := parseOnly(only, ws)
		if err != nil {
			return c, err
		}
		c.only = ids
	}
	return c, nil
}

// parseOnly checks a -only list against the registry and returns its IDs in
// registry order, without duplicates.
func parseOnly(list string, ws []workload) ([]string, error) {
	want := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, usageError{fmt.Sprintf("-only %q: empty workload ID", list)}
		}
		if !hasWorkload(ws, id) {
			return nil, usageError{fmt.Sprintf("-only: unknown workload %q (known: %s)", id, strings.Join(workloadIDs(ws), ", "))}
		}
		want[id] = true
	}
	var ids []string
	for _, w := range ws {
		if want[w.id] {
			ids = append(ids, w.id)
		}
	}
	return ids, nil
}

// runWith is run with the workload registry as a parameter, so that tests can
// use fake workloads.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, ws []workload) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	moduleDir := findModuleDir(wd)
	cfg, err := parseFlags(args, stderr, ws, moduleDir)
	if err != nil {
		return err
	}
	if cfg.command == "" {
		cfg.command = reconstructCommand(os.Args[0], args, wd, moduleDir)
	}
	selected := ws
	if cfg.only != nil {
		selected = nil
		for _, w := range ws {
			if slices.Contains(cfg.only, w.id) {
				selected = append(selected, w)
			}
		}
	}
	if len(selected) == 0 {
		return errors.New("no workloads to run")
	}

	doc := document{
		Machine:  readMachine(),
		Date:     time.Now().UTC(),
		Command:  cfg.command,
		Short:    cfg.short,
		Versions: competitorVersions(),
		Fresh:    freshVersion(ctx, moduleDir),
	}
	mode := "full"
	if cfg.short {
		mode = "short"
	}
	logf(stderr, "benchreport: %s, %s mode, on %s (%d cores, GOMAXPROCS %d)\n",
		plural(len(selected), "workload"), mode, doc.Machine.CPU, doc.Machine.Cores, doc.Machine.MaxProcs)

	linkBase := "."
	if cfg.out != "-" {
		linkBase = filepath.Dir(cfg.out)
	}
	var failed []string
	start := time.Now()
	for i, w := range selected {
		if ctx.Err() != nil {
			break
		}
		logf(stderr, "[%d/%d] %s: running\n", i+1, len(selected), w.id)
		res := runWorkload(ctx, w, cfg.short)
		if res.Err == nil && cfg.json != "" {
			if err := report.Save(cfg.json, res.Section); err != nil {
				res.Err = fmt.Errorf("saving JSON: %w", err)
			}
		}
		res.Charts = renderCharts(res.Section, cfg.charts, linkBase)
		status := "done"
		if err := res.failure(); err != nil {
			status = "FAILED: " + firstLine(err.Error())
			failed = append(failed, w.id)
		}
		logf(stderr, "[%d/%d] %s: %s in %s (total %s)\n",
			i+1, len(selected), w.id, status, formatDuration(res.Elapsed), formatDuration(time.Since(start)))
		doc.Results = append(doc.Results, res)
	}
	doc.Total = time.Since(start)
	if err := ctx.Err(); err != nil {
		// An interrupted run is not worth a report: keep the previous file.
		return fmt.Errorf("interrupted after %s, %s not written: %w", formatDuration(doc.Total), cfg.out, err)
	}

	if err := writeReport(cfg.out, stdout, doc); err != nil {
		return err
	}
	if cfg.out != "-" {
		logf(stderr, "benchreport: wrote %s and charts in %s in %s\n", cfg.out, cfg.charts, formatDuration(doc.Total))
	}
	if !cfg.short && doc.Total > 20*time.Minute {
		logf(stderr, "benchreport: warning: the run took %s, over the 20-minute budget\n", formatDuration(doc.Total))
	}
	if len(failed) > 0 {
		where := cfg.out
		if where == "-" {
			where = "the report"
		}
		return fmt.Errorf("%d of %d workloads failed: %s (see %s)", len(failed), len(selected), strings.Join(failed, ", "), where)
	}
	return nil
}

// runWorkload runs one workload, turning a panic into an error so that the
// other workloads still run.
func runWorkload(ctx context.Context, w workload, short bool) (res result) {
	res.ID = w.id
	start := time.Now()
	defer func() {
		res.Elapsed = time.Since(start)
		if v := recover(); v != nil {
			res.Err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
		if res.Section.ID == "" {
			res.Section.ID = w.id
		}
		if res.Section.Elapsed == 0 {
			res.Section.Elapsed = res.Elapsed.Seconds()
		}
	}()
	res.Section, res.Err = w.run(ctx, short)
	if res.Section.ID != "" && res.Section.ID != w.id {
		// Chart and JSON files are named after the ID: keep them apart.
		res.Err = errors.Join(res.Err, fmt.Errorf("workload returned section ID %q; want %q", res.Section.ID, w.id))
		res.Section.ID = w.id
	}
	return res
}

// writeReport renders doc to path, or to stdout for "-". A file is replaced
// only once it is complete.
func writeReport(path string, stdout io.Writer, doc document) error {
	var b strings.Builder
	renderMarkdown(&b, doc)
	if path == "-" {
		_, err := io.WriteString(stdout, b.String())
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchreport-*.md")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(b.String())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err = errors.Join(err, tmp.Close()); err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort; the error to report is err
	}
	return err
}

// findModuleDir returns the directory of the benchmarks module containing dir,
// or "" when dir is not inside it.
func findModuleDir(dir string) string {
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if modulePath(b) == "github.com/freshcache/fresh/benchmarks" {
				return dir
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// modulePath returns the path of the module directive in a go.mod file.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// reconstructCommand returns a command line that reproduces this run from the
// repository root, for example `cd benchmarks && go run ./cmd/benchreport -short`.
func reconstructCommand(argv0 string, args []string, wd, moduleDir string) string {
	prog := argv0
	// go run builds into a temporary go-build directory.
	if strings.Contains(filepath.ToSlash(argv0), "/go-build") {
		prog = "go run ./cmd/benchreport"
		if moduleDir != "" {
			if rel, err := filepath.Rel(wd, filepath.Join(moduleDir, "cmd", "benchreport")); err == nil {
				prog = "go run " + shellQuote(dotSlash(filepath.ToSlash(rel)))
			}
		}
	}
	parts := []string{prog}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	cmd := strings.Join(parts, " ")
	if moduleDir != "" {
		if rel, err := filepath.Rel(filepath.Dir(moduleDir), wd); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			cmd = "cd " + shellQuote(filepath.ToSlash(rel)) + " && " + cmd
		}
	}
	return cmd
}

// dotSlash makes a relative package path explicit: "cmd/x" becomes "./cmd/x".
func dotSlash(p string) string {
	if p == "." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return p
	}
	return "./" + p
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// logf writes progress to w. Progress is best effort: a failing stderr must
// not stop a 20-minute run.
func logf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
