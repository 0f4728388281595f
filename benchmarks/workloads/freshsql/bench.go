package freshsql

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// benchmark runs f under testing.Benchmark for about d, with -test.benchtime set
// for the call and restored afterwards (testing.Benchmark reads no other setting).
// f returns the first error of its loop, which fails the measurement. Not safe for
// concurrent use with other callers of testing.Benchmark.
func benchmark(d time.Duration, f func(b *testing.B) error) (testing.BenchmarkResult, error) {
	testing.Init() // registers the flags outside `go test`; no effect inside it
	fl := flag.Lookup("test.benchtime")
	if fl == nil {
		return testing.BenchmarkResult{}, errors.New("no -test.benchtime flag")
	}
	old := fl.Value.String()
	if err := fl.Value.Set(d.String()); err != nil {
		return testing.BenchmarkResult{}, fmt.Errorf("benchtime %v: %w", d, err)
	}
	defer func() { _ = fl.Value.Set(old) }()
	var ferr error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		if err := f(b); err != nil {
			ferr = err
			b.FailNow()
		}
	})
	if ferr != nil {
		return r, ferr
	}
	if r.N == 0 {
		return r, errors.New("benchmark failed")
	}
	return r, nil
}

func nsPerOp(r testing.BenchmarkResult) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

// series is the repetitions of one measurement.
type series []testing.BenchmarkResult

func (s series) ns() []float64 {
	out := make([]float64, len(s))
	for i, r := range s {
		out[i] = nsPerOp(r)
	}
	return out
}

func (s series) allocs() []float64 {
	out := make([]float64, len(s))
	for i, r := range s {
		out[i] = float64(r.AllocsPerOp())
	}
	return out
}

func (s series) bytes() []float64 {
	out := make([]float64, len(s))
	for i, r := range s {
		out[i] = float64(r.AllocedBytesPerOp())
	}
	return out
}

// quantile returns the q-quantile of xs (linear interpolation between the closest
// ranks); NaN for no values.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// fmtNs formats nanoseconds with three significant digits.
func fmtNs(ns float64) string {
	switch {
	case math.IsNaN(ns) || ns <= 0:
		return "n/a"
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		return fmt.Sprintf("%.3g ns", ns)
	}
}

// fmtUs formats nanoseconds as microseconds with one decimal.
func fmtUs(ns float64) string {
	if math.IsNaN(ns) || ns <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", ns/1e3)
}

// fmtRatio formats a ratio with two significant decimals, or as a whole number
// from 100 up.
func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0) || r <= 0:
		return "n/a"
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}

// fmtPct formats a percentage with a sign.
func fmtPct(p float64) string {
	if math.IsNaN(p) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", p)
}

// fmtShare formats a share of a whole as a percentage.
func fmtShare(part, whole int) string {
	if whole <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

func fmtNum(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}
