package buses

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/bgload"
	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// fanoutWait is how long a round waits for every peer to refuse the old value.
const fanoutWait = 2 * time.Second

// fanoutResult is one bus at one background rate.
type fanoutResult struct {
	rate       int
	achieved   float64         // background dependencies invalidated per second
	calls      float64         // background Invalidate calls per second
	last       []time.Duration // per round: the last peer's refusal, from Invalidate's return
	invalidate []time.Duration // per round: the Invalidate call
	timeouts   int             // rounds in which a peer had not refused after fanoutWait
	early      int             // rounds in which a peer refused before Invalidate was called
	failed     int             // rounds that could not be armed
	byPoll     int             // refusals first seen by the 1ms poll, not right after a delivery
	firstErr   string
}

// fanoutBus measures one bus at every background rate of o, with one writer hub and
// one background hub in this process, each on a bus of its own, and o.Peers peer
// processes.
func fanoutBus(ctx context.Context, o Options, c busConfig) ([]fanoutResult, error) {
	writer, err := newNode(c, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = writer.close() }() // a failure to close is not a result
	bg, err := newNode(c, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = bg.close() }()
	cfgs := make([]childConfig, o.Peers)
	deadline := time.Now().Add(10 * time.Minute).UnixNano()
	for i := range cfgs {
		cfgs[i] = childConfig{Role: rolePeer, Name: c.Kind + "/peer" + strconv.Itoa(i+1), Bus: c, Deadline: deadline}
	}
	peers, err := startProcs(ctx, cfgs)
	if err != nil {
		return nil, err
	}
	defer childproc.Stop(peers)
	var out []fanoutResult
	round := 0
	for _, rate := range o.Rates {
		res := fanoutResult{rate: rate}
		load := bgload.Start(bg.hub, rate)
		time.Sleep(pick(o.Short, 150*time.Millisecond, 400*time.Millisecond)) // let the load settle
		for i := 0; i < o.Rounds && err == nil; i++ {
			round++
			err = fanoutRound(ctx, writer.hub, peers, round, &res)
		}
		res.achieved, res.calls = load.Stop()
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// fanoutRound arms round r in every peer, invalidates its dependency from the
// writer, and collects when each peer refused the value.
func fanoutRound(ctx context.Context, writer *fresh.Hub, peers []*proc, r int, res *fanoutResult) error {
	for _, p := range peers {
		if err := p.Send(command{Op: "arm", Round: r}); err != nil {
			return err
		}
	}
	armErr := ""
	for _, p := range peers {
		m, err := p.Recv(ctx, 15*time.Second, func(m childMsg) bool { return m.Op == "armed" && m.Round == r })
		if err != nil {
			return err
		}
		if m.Err != "" && armErr == "" {
			armErr = p.Name() + ": " + m.Err
		}
	}
	if armErr != "" {
		res.failed++
		if res.firstErr == "" {
			res.firstErr = armErr
		}
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	t0 := time.Now()
	err := writer.Invalidate(ictx, fanoutDep(r))
	ret := time.Now()
	cancel()
	if err != nil {
		return fmt.Errorf("the writer's Invalidate: %w", err)
	}
	var last time.Duration
	early := false
	for i, p := range peers {
		m, err := p.Recv(ctx, fanoutWait, func(m childMsg) bool { return m.Op == "refused" && m.Round == r })
		if errors.Is(err, childproc.ErrTimeout) {
			res.timeouts++
			return nil
		}
		if err != nil {
			return err
		}
		if m.At < t0.UnixNano() {
			early = true
		}
		if m.By == "poll" {
			res.byPoll++
		}
		if d := time.Duration(m.At - ret.UnixNano()); i == 0 || d > last {
			last = d
		}
	}
	if early {
		res.early++
		return nil
	}
	res.last = append(res.last, last)
	res.invalidate = append(res.invalidate, ret.Sub(t0))
	return nil
}
