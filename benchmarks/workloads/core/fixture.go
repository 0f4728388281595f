package core

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/freshcache/fresh"
)

// A fixture is the cache of one case, filled and ready to be measured.
type fixture struct {
	op    func(k uint64) bool // a read that must hit, or a write that must succeed
	what  string              // what op returning false means, for the error
	churn *fresh.Hub          // when set, invalidate unrelated tags in it while measured
	close func()              // stops the cache
}

// measure runs f.op on the keys of stream, each goroutine from a random start:
// from goroutines goroutines with RunParallel, or with 1 from the benchmark's own.
func (f *fixture) measure(b *testing.B, goroutines int, stream []uint64) {
	if f.churn != nil {
		defer churn(f.churn)()
	}
	b.ReportAllocs()
	mask := len(stream) - 1
	if goroutines == 1 {
		i := rand.IntN(len(stream))
		failed := 0
		for b.Loop() {
			if !f.op(stream[i&mask]) {
				failed++
			}
			i++
		}
		if failed > 0 {
			b.Errorf("%d %s", failed, f.what)
		}
		return
	}
	p := runtime.GOMAXPROCS(0)
	b.SetParallelism(max(1, (goroutines+p-1)/p))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(stream))
		failed := 0
		for pb.Next() {
			if !f.op(stream[i&mask]) {
				failed++
			}
			i++
		}
		if failed > 0 {
			b.Errorf("%d %s", failed, f.what)
		}
	})
	b.StopTimer() // stopping the churn and closing the cache are not part of the measure
}

// reused returns the benchmark functions of n cases for Run, case i measured from
// goroutines(i) goroutines. Case i's fixture is built by build(i) when a measure of
// it starts (the first call testing.Benchmark makes, with b.N = 1) and kept for the
// calls that follow, which raise b.N, rather than refilled at each call; only one
// fixture is alive at a time. done closes the last one.
func reused(n int, goroutines func(i int) int, stream []uint64, build func(i int) (*fixture, error)) (fs []func(*testing.B), done func()) {
	cur, curCase := (*fixture)(nil), -1
	done = func() {
		if cur != nil {
			cur.close()
			cur, curCase = nil, -1
		}
	}
	for i := range n {
		fs = append(fs, func(b *testing.B) {
			if b.N == 1 || curCase != i {
				done()
				f, err := build(i)
				if err != nil {
					b.Fatal(err)
				}
				cur, curCase = f, i
			}
			cur.measure(b, goroutines(i), stream)
		})
	}
	return fs, done
}
