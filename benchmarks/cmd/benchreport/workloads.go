package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/freshcache/fresh/benchmarks/report"
	"github.com/freshcache/fresh/benchmarks/workloads/buses"
	"github.com/freshcache/fresh/benchmarks/workloads/core"
	"github.com/freshcache/fresh/benchmarks/workloads/freshsql"
	"github.com/freshcache/fresh/benchmarks/workloads/hitratio"
	"github.com/freshcache/fresh/benchmarks/workloads/memory"
	"github.com/freshcache/fresh/benchmarks/workloads/race"
	"github.com/freshcache/fresh/benchmarks/workloads/redis"
	"github.com/freshcache/fresh/benchmarks/workloads/stampede"
	"github.com/freshcache/fresh/benchmarks/workloads/storm"
	"github.com/freshcache/fresh/benchmarks/workloads/tags"
	"github.com/freshcache/fresh/benchmarks/workloads/throughput"
)

// A workload is one entry of the registry: an ID (file-safe, used by -only, in
// chart and JSON file names) and a function that runs it.
type workload struct {
	id  string
	run func(ctx context.Context, short bool) (report.Section, error)
}

// registry lists the workloads in the order they run and appear in
// BENCHMARKS.md: core, throughput, hitratio, storm, memory, tags, race,
// stampede, redis, buses, freshsql. Adding a workload is one line here.
var registry = []workload{
	newWorkload("core", core.Run),
	newWorkload("throughput", throughput.Run),
	newWorkload("hitratio", hitratio.Run),
	newWorkload("storm", storm.Run),
	newWorkload("memory", memory.Run),
	newWorkload("tags", tags.Run),
	newWorkload("race", race.Run),
	newWorkload("stampede", stampede.Run),
	newWorkload("redis", redis.Run),
	newWorkload("buses", buses.Run),
	newWorkload("freshsql", freshsql.Run),
}

// newWorkload adapts the Run function of a workload package to the registry.
// Options is the package's own struct: the command sets its Short field and
// leaves the others at their zero values, which each package documents as its
// defaults. An Options without a Short bool is a programming error, found as
// soon as the program (or its tests) starts.
func newWorkload[O any](id string, run func(context.Context, O) (report.Section, error)) workload {
	t := reflect.TypeFor[O]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("benchreport: workload %s: options type %v is not a struct", id, t))
	}
	if f, ok := t.FieldByName("Short"); !ok || f.Type.Kind() != reflect.Bool || !f.IsExported() || len(f.Index) != 1 {
		panic(fmt.Sprintf("benchreport: workload %s: %v has no Short bool field", id, t))
	}
	return workload{id: id, run: func(ctx context.Context, short bool) (report.Section, error) {
		var o O
		reflect.ValueOf(&o).Elem().FieldByName("Short").SetBool(short)
		return run(ctx, o)
	}}
}

// A result is what one workload produced, ready to be rendered.
type result struct {
	ID      string
	Section report.Section
	Err     error // the workload failed; Section may be partial
	Elapsed time.Duration
	Charts  []chartFile
}

// failure returns the workload's error joined with those of its charts.
func (r result) failure() error {
	errs := []error{r.Err}
	for _, c := range r.Charts {
		errs = append(errs, c.Err)
	}
	return errors.Join(errs...)
}

func workloadIDs(ws []workload) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.id
	}
	return ids
}

func hasWorkload(ws []workload, id string) bool {
	for _, w := range ws {
		if w.id == id {
			return true
		}
	}
	return false
}
