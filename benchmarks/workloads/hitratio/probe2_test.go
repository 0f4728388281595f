package hitratio

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
)

func TestProbeSD(t *testing.T) {
	dir, _ := findTraces()
	all := traces()
	for _, tc := range []struct {
		name string
		caps []int
	}{{"OLTP", []int{250, 1000, 2000}}, {"Mixed", []int{750, 1250}}, {"Zipf", []int{500, 5000}}, {"Scarab", []int{1000, 10000}}} {
		tr := all[slices.IndexFunc(all, func(x trace) bool { return x.name == tc.name })]
		keys, err := tr.load(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tc.caps {
			specs, _ := caches.Lookup(caches.Otter, caches.Theine, caches.Ristretto)
			for _, sp := range specs {
				var xs []float64
				st := time.Now()
				for range 6 {
					cc, _ := sp.Build(c, true)
					h, _ := replay(cc, keys)
					cc.Close()
					xs = append(xs, pct(h, len(keys)))
				}
				m, sd := 0.0, 0.0
				for _, x := range xs {
					m += x
				}
				m /= float64(len(xs))
				for _, x := range xs {
					sd += (x - m) * (x - m)
				}
				sd = math.Sqrt(sd / float64(len(xs)-1))
				fmt.Printf("%s %d %s mean %.2f sd %.3f runs %.2f %v\n", tc.name, c, sp.Name, m, sd, xs, time.Since(st)/6)
			}
		}
	}
}
