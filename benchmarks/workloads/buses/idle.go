package buses

import (
	"context"
	"fmt"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// An idleResult is the CPU time one idle follower process used.
type idleResult struct {
	cpu, wall time.Duration
	err       string // why there is no measurement; "" when cpu and wall are set
}

func (r idleResult) String() string {
	switch {
	case r.err != "":
		return "failed: " + r.err
	case r.wall <= 0:
		return "–"
	}
	return fmt.Sprintf("%s (%.3f%%)", fmtDur(r.cpu), 100*r.cpu.Seconds()/r.wall.Seconds())
}

// An idleGroup is the followers of one bus (or the baseline) and where their
// results go.
type idleGroup struct {
	procs []*proc
	dst   []*idleResult
}

// measureIdle starts, for every bus that was reached, a follower process with a
// fresh hub on the bus and one with the bus alone, and a baseline process with no
// bus; then measures them all over the same o.IdleTime, while no other process of
// the run does anything: the buses' namespaces are the run's own, and the fan-out
// has not started. It returns the baseline. A bus whose followers fail to start
// gets the error in its results.
func measureIdle(ctx context.Context, o Options, runs []*busRun) (idleResult, error) {
	deadline := time.Now().Add(o.IdleTime + 5*time.Minute).UnixNano()
	var baseline idleResult
	var groups []idleGroup
	defer func() {
		for _, g := range groups {
			childproc.Stop(g.procs)
		}
	}()
	ps, err := startProcs(ctx, []childConfig{{Role: roleIdle, Name: "baseline/idle", Deadline: deadline}})
	if err != nil {
		return baseline, err
	}
	groups = append(groups, idleGroup{procs: ps, dst: []*idleResult{&baseline}})
	for _, r := range runs {
		if r.skipped != "" || r.failed != nil {
			continue
		}
		ps, err := startProcs(ctx, []childConfig{
			{Role: roleIdle, Name: r.kind.id + "/idle-hub", Bus: r.cfg, Hub: true, Deadline: deadline},
			{Role: roleIdle, Name: r.kind.id + "/idle-bus", Bus: r.cfg, Deadline: deadline},
		})
		if err != nil {
			r.idleHub.err, r.idleBus.err = firstLine(err.Error()), firstLine(err.Error())
			continue
		}
		groups = append(groups, idleGroup{procs: ps, dst: []*idleResult{&r.idleHub, &r.idleBus}})
	}
	// Let the followers settle (connections, first reads, the GC of start-up).
	time.Sleep(500 * time.Millisecond)
	for _, g := range groups {
		for i, p := range g.procs {
			if err := p.Send(command{Op: "idle", For: o.IdleTime}); err != nil {
				g.dst[i].err = firstLine(err.Error())
			}
		}
	}
	for _, g := range groups {
		for i, p := range g.procs {
			if g.dst[i].err != "" {
				continue
			}
			m, err := p.Recv(ctx, o.IdleTime+30*time.Second, func(m childMsg) bool { return m.Op == "idle" })
			switch {
			case err != nil:
				g.dst[i].err = firstLine(err.Error())
			case m.Err != "":
				g.dst[i].err = m.Err
			default:
				g.dst[i].cpu, g.dst[i].wall = time.Duration(m.CPU), time.Duration(m.Wall)
			}
		}
	}
	return baseline, ctx.Err()
}
