// Package measure runs benchmark functions in-process, for workloads that the
// report command calls directly rather than through go test, and formats their
// results for the report's tables.
package measure

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// mu serializes Benchmark: the benchmark time is a process-wide testing flag.
var mu sync.Mutex

// ErrFailed is returned when a benchmark function failed (b.Fatal, b.Error, or a
// skip), which testing.Benchmark reports only as an empty result.
var ErrFailed = errors.New("measure: benchmark failed")

// Benchmark runs f as testing.Benchmark does, for about d (the -test.benchtime of
// go test, set for this call only), and returns its result.
func Benchmark(d time.Duration, f func(b *testing.B)) (testing.BenchmarkResult, error) {
	mu.Lock()
	defer mu.Unlock()
	if flag.Lookup("test.benchtime") == nil {
		testing.Init() // outside go test: registers the flag Benchmark reads
	}
	fl := flag.Lookup("test.benchtime")
	old := fl.Value.String()
	if err := fl.Value.Set(d.String()); err != nil {
		return testing.BenchmarkResult{}, fmt.Errorf("measure: benchtime %v: %w", d, err)
	}
	defer func() { _ = fl.Value.Set(old) }() // old was valid: it was the flag's value
	r := testing.Benchmark(f)
	if r.N == 0 {
		return r, ErrFailed
	}
	return r, nil
}

// Interleaved measures each of fs count times, round-robin (all of fs once, then
// all again, ...), so that a slow spell of the machine is spread over the cases
// instead of falling on one, and returns for each the result with the median time
// per operation. Each f runs for about d.
func Interleaved(count int, d time.Duration, fs []func(b *testing.B)) ([]testing.BenchmarkResult, error) {
	runs := make([][]testing.BenchmarkResult, len(fs))
	for range max(count, 1) {
		for i, f := range fs {
			r, err := Benchmark(d, f)
			if err != nil {
				return nil, fmt.Errorf("case %d: %w", i, err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	out := make([]testing.BenchmarkResult, len(fs))
	for i, rs := range runs {
		slices.SortFunc(rs, func(a, b testing.BenchmarkResult) int { return cmp.Compare(NsPerOp(a), NsPerOp(b)) })
		out[i] = rs[len(rs)/2]
	}
	return out, nil
}

// NsPerOp returns the nanoseconds per operation of r, with fractions (the
// NsPerOp method rounds to whole nanoseconds).
func NsPerOp(r testing.BenchmarkResult) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

// Ns formats a duration in nanoseconds with three significant digits or so.
func Ns(ns float64) string {
	switch {
	case ns >= 100:
		return fmt.Sprintf("%.0f", ns)
	case ns >= 10:
		return fmt.Sprintf("%.1f", ns)
	default:
		return fmt.Sprintf("%.2f", ns)
	}
}

// Ratio formats num/den as "1.23×", or "–" when den is zero.
func Ratio(num, den float64) string {
	if den == 0 || math.IsNaN(num) || math.IsNaN(den) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", num/den)
}

// Mops formats operations per second in millions.
func Mops(opsPerSec float64) string {
	return fmt.Sprintf("%.2f", opsPerSec/1e6)
}
