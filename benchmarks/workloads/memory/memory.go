// Package memory is workload 4 of the benchmarks: the heap bytes each cache takes
// per entry, at 1k, 10k, 100k and 1M entries, for fresh with no dependencies, with
// two tags shared with other entries and with one or two entities of the entry's
// own, against otter, the ceiling and the other competitors.
//
// Every case runs in a process of its own, so that no other case's garbage, pools
// or caches are counted: Run starts the current executable again (os.Executable)
// with the environment variable FRESHBENCH_MEMORY_CASE naming the case. That child
// fills a cache, collects garbage, and prints the growth of the live heap as one
// line of JSON on stdout.
//
// For the author of a command that calls Run: the child starts at the top of your
// main, so main must hand over to Child before anything else (flag parsing, other
// workloads):
//
//	func main() {
//		if memory.IsChild() {
//			memory.Child()
//			return
//		}
//		...
//	}
//
// Tests that call Run need the same lines in TestMain (see memory_test.go).
package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// EnvCase is the environment variable that makes a process a child: its value
// names the case, "<cache>/<entries>".
const EnvCase = "FRESHBENCH_MEMORY_CASE"

// Options configure Run.
type Options struct {
	// Short measures 10k and 100k entries only.
	Short bool
	// Sizes are the numbers of entries. Default 1k, 10k, 100k and 1M.
	Sizes []int
	// Caches names the configurations to measure: those of caches.All, and
	// fresh-2tags (two tags per entry from a pool of 10k), fresh-1entity and
	// fresh-2entities (one and two entities per entry of its own). Default fresh,
	// fresh-2tags, fresh-1entity, fresh-2entities, fresh-ttl, otter, otter-expiry,
	// theine, ristretto, sturdyc, ttlcache, gocache and xsync.Map. The references
	// are always added (see caches.WithReferences).
	Caches []string
	// Timeout bounds each child process. Default 2 minutes.
	Timeout time.Duration
}

var defaultCaches = []string{
	caches.Fresh, Fresh2Tags, Fresh1Entity, Fresh2Entities, caches.FreshTTL, caches.Otter, caches.OtterExpiry,
	caches.Theine, caches.Ristretto, caches.Sturdyc, caches.Ttlcache, caches.Gocache, caches.Xsync,
}

func (o *Options) defaults() {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{1_000, 10_000, 100_000, 1_000_000}
		if o.Short {
			o.Sizes = []int{10_000, 100_000}
		}
	}
	if len(o.Caches) == 0 {
		o.Caches = slices.Clone(defaultCaches)
	}
	o.Caches = caches.WithReferences(o.Caches)
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
}

// A Result is what a child prints.
type Result struct {
	Cache    string  `json:"cache"`
	Entries  int     `json:"entries"`  // inserted
	Held     int     `json:"held"`     // held after the inserts (ristretto may drop some)
	Bytes    int64   `json:"bytes"`    // growth of the live heap
	PerEntry float64 `json:"perEntry"` // Bytes / Held
}

// Run measures every cache of o at every size, each in a child process, and
// returns the section for BENCHMARKS.md.
func Run(ctx context.Context, o Options) (report.Section, error) {
	start := time.Now()
	o.defaults()
	for _, name := range o.Caches {
		if _, err := builderFor(name); err != nil {
			return report.Section{}, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return report.Section{}, fmt.Errorf("memory: %w", err)
	}
	res := make(map[string]map[int]Result)
	for _, n := range o.Sizes {
		for _, name := range o.Caches {
			r, err := runChild(ctx, exe, name, n, o.Timeout)
			if err != nil {
				return report.Section{}, err
			}
			if res[name] == nil {
				res[name] = make(map[int]Result)
			}
			res[name][n] = r
		}
	}
	return section(o, res, time.Since(start)), nil
}

func runChild(ctx context.Context, exe, name string, n int, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), EnvCase+"="+name+"/"+strconv.Itoa(n))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("memory: %s at %d: %w: %s", name, n, err, strings.TrimSpace(stderr.String()))
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:] // a test binary may print before TestMain hands over
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil {
		return Result{}, fmt.Errorf("memory: %s at %d: the child printed %q: %w", name, n, out, err)
	}
	return r, nil
}

// IsChild reports whether this process was started by Run to measure one case.
func IsChild() bool { return os.Getenv(EnvCase) != "" }

// Child measures the case named by FRESHBENCH_MEMORY_CASE and prints its Result as
// JSON on stdout. On failure it prints the error on stderr and exits with status 1.
func Child() {
	r, err := child(os.Getenv(EnvCase))
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func child(spec string) (Result, error) {
	name, count, ok := strings.Cut(spec, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n <= 0 {
		return Result{}, fmt.Errorf("memory: %s=%q: want <cache>/<entries>", EnvCase, spec)
	}
	build, err := builderFor(name)
	if err != nil {
		return Result{}, err
	}
	return measure(name, n, build)
}

// errUnknown is returned for a cache name that is neither a Spec nor a variant of
// this package.
var errUnknown = errors.New("memory: unknown cache")
