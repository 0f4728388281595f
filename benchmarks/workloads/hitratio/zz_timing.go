package hitratio

// TEMPORARY: timing instrumentation, to be removed.

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

var jobDone func(p *plan, j job, d time.Duration)
var jobsDone func()

func init() {
	if os.Getenv("HITRATIO_TIMES") == "" {
		return
	}
	var mu sync.Mutex
	acc := map[string]time.Duration{}
	jobDone = func(p *plan, j job, d time.Duration) {
		name := []string{"policy", "deployed", "opt", "lru", "churn"}[j.kind]
		if j.kind <= deployedReplay {
			name += " " + p.specs[j.cache].Name
		}
		small := "large"
		if j.capacity <= 1000 {
			small = "le1000"
		} else if j.capacity <= 2000 {
			small = "le2000"
		}
		key := p.traces[j.trace].name + " " + small + " " + name
		mu.Lock()
		acc[key] += d
		mu.Unlock()
	}
	jobsDone = func() {
		var ks []string
		for k := range acc {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			fmt.Fprintf(os.Stderr, "TIME %s %.2f\n", k, acc[k].Seconds())
		}
	}
}
