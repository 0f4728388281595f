package hitratio

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
)

func TestProbe(t *testing.T) {
	dir, _ := findTraces()
	all := traces()
	for _, tc := range []struct {
		name string
		caps []int
	}{{"OLTP", []int{500}}, {"Mixed", []int{750}}, {"Zipf", []int{1000}}} {
		tr := all[slices.IndexFunc(all, func(x trace) bool { return x.name == tc.name })]
		st := time.Now()
		keys, err := tr.load(dir)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s load %v\n", tc.name, time.Since(st))
		st = time.Now()
		next, _ := nextUses(keys)
		fmt.Printf("%s nextUses %v\n", tc.name, time.Since(st))
		for _, c := range tc.caps {
			st = time.Now()
			h := optHits(next, c, bypass)
			fmt.Printf("%s %d OPT %.2f%% %v\n", tc.name, c, pct(h, len(keys)), time.Since(st))
			st = time.Now()
			h = lruHits(keys, c)
			fmt.Printf("%s %d LRU %.2f%% %v\n", tc.name, c, pct(h, len(keys)), time.Since(st))
			specs, _ := caches.Lookup(caches.Fresh, caches.Otter, caches.Theine, caches.Ristretto, caches.Sturdyc, caches.Ttlcache)
			for _, sp := range specs {
				for _, sync := range []bool{true, false} {
					if !sync && sp.NewSync == nil {
						continue
					}
					cc, _ := sp.Build(c, sync)
					st = time.Now()
					cpu0 := cpuTime()
					h, held := replay(cc, keys)
					d := time.Since(st)
					cpu := cpuTime() - cpu0
					cc.Close()
					fmt.Printf("%s %d %s sync=%v %.2f%% held %d %v (%.0f ns/access, cpu %.0f ns/access)\n", tc.name, c, sp.Name, sync, pct(h, len(keys)), held, d, float64(d.Nanoseconds())/float64(len(keys)), float64(cpu.Nanoseconds())/float64(len(keys)))
				}
			}
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
