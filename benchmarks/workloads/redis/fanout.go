package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/benchmarks/internal/bgload"
	"github.com/freshcache/fresh/benchmarks/report"
)

// fanoutTarget is the p99 the fan-out should stay under on loopback.
const fanoutTarget = 300 * time.Microsecond

// fanoutWait is how long a round waits for every peer to refuse the old value.
const fanoutWait = 2 * time.Second

// The buses measured, and their names in the report.
var fanoutBuses = []struct{ kind, name string }{
	{"stream", "StreamBus (Streams)"},
	{"pubsub", "PubSubBus (Pub/Sub)"},
}

// fanoutResult is one bus at one background rate.
type fanoutResult struct {
	bus        string
	rate       int
	achieved   float64         // background dependencies invalidated per second
	calls      float64         // background Invalidate calls per second
	last       []time.Duration // per round: the last peer's refusal, from Invalidate's return
	each       []time.Duration // per round and peer
	invalidate []time.Duration // per round: the Invalidate call
	raw        []time.Duration // per raw round: the last peer's receipt of a bare PUBLISH, from its return
	rawLost    int             // raw rounds in which a peer received nothing in fanoutWait
	timeouts   int             // rounds in which a peer had not refused after fanoutWait
	early      int             // rounds in which a peer refused before Invalidate was called
	failed     int             // rounds that could not be armed
	byPoll     int             // refusals first seen by the 1ms poll, not right after a delivery
	firstErr   string
}

func runFanout(ctx context.Context, e *env, o Options, sec *report.Section) error {
	var all []fanoutResult
	for _, b := range fanoutBuses {
		rs, err := fanoutBus(ctx, e, o, b.kind, b.name)
		all = append(all, rs...)
		if err != nil {
			addFanoutSection(sec, o, all)
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	addFanoutSection(sec, o, all)
	return nil
}

// fanoutBus measures one bus at every background rate of o, with one writer hub and
// one background hub in this process and o.Peers peer processes.
func fanoutBus(ctx context.Context, e *env, o Options, kind, name string) ([]fanoutResult, error) {
	ns := e.ns("fan-" + kind)
	writer, err := newFreshTier(e, ns, kind, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = writer.close() }() // a failure to close is not a result
	bg, err := newFreshTier(e, ns, kind, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = bg.close() }()
	cfgs := make([]childConfig, o.Peers)
	deadline := time.Now().Add(10 * time.Minute).UnixNano()
	for i := range cfgs {
		cfgs[i] = childConfig{Role: rolePeer, Name: "peer" + strconv.Itoa(i+1), URL: e.url, Run: e.run, Namespace: ns, Bus: kind, Deadline: deadline}
	}
	peers, err := startProcs(ctx, cfgs)
	if err != nil {
		return nil, err
	}
	defer stopProcs(peers)
	var out []fanoutResult
	round := 0
	for _, rate := range o.FanoutRates {
		res := fanoutResult{bus: name, rate: rate}
		load := bgload.Start(bg.hub, rate)
		time.Sleep(pick(o.Short, 150*time.Millisecond, 400*time.Millisecond)) // let the load settle
		for i := 0; i < o.FanoutRounds && err == nil; i++ {
			round++
			err = fanoutRound(ctx, writer.hub, peers, round, &res)
			if err == nil {
				err = rawRound(ctx, e, ns, peers, round, &res)
			}
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
	each := make([]time.Duration, 0, len(peers))
	early := false
	for _, p := range peers {
		m, err := p.Recv(ctx, fanoutWait, func(m childMsg) bool { return m.Op == "refused" && m.Round == r })
		if errors.Is(err, errTimeout) {
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
		d := time.Duration(m.At - ret.UnixNano())
		each = append(each, d)
		if len(each) == 1 || d > last {
			last = d
		}
	}
	if early {
		res.early++
		return nil
	}
	res.last = append(res.last, last)
	res.each = append(res.each, each...)
	res.invalidate = append(res.invalidate, ret.Sub(t0))
	return nil
}

// rawRound publishes round r on the run's raw channel, to which every peer
// subscribed with a bare go-redis subscription, and adds when the last peer
// received it, from the moment PUBLISH returned: the transport's own fan-out,
// measured as fresh's is.
func rawRound(ctx context.Context, e *env, ns string, peers []*proc, r int, res *fanoutResult) error {
	if err := e.client.Publish(ctx, rawChannel(e.run, ns), strconv.Itoa(r)).Err(); err != nil {
		return fmt.Errorf("PUBLISH: %w", err)
	}
	ret := time.Now()
	var last time.Duration
	for i, p := range peers {
		m, err := p.Recv(ctx, fanoutWait, func(m childMsg) bool { return m.Op == "raw" && m.Round == r })
		if errors.Is(err, errTimeout) {
			res.rawLost++
			return nil
		}
		if err != nil {
			return err
		}
		if d := time.Duration(m.At - ret.UnixNano()); i == 0 || d > last {
			last = d
		}
	}
	res.raw = append(res.raw, last)
	return nil
}

func addFanoutSection(sec *report.Section, o Options, rs []fanoutResult) {
	if len(rs) == 0 {
		return
	}
	tab := report.Table{
		Title: fmt.Sprintf("Fan-out: from Invalidate's return until all %d peer processes refuse the old value", o.Peers),
		Columns: []string{"bus", "background invalidations/s: target → made (calls/s)", "rounds", "p50", "p99", "max",
			"target: p99 ≤ " + fmtDur(fanoutTarget), "Invalidate call p50", "bare Redis PUBLISH, same measure: p50 / p99", "incomplete rounds"},
	}
	chart := report.Chart{
		Name: "fanout", Title: "Redis tier: fan-out p99, Invalidate returned → every peer refuses", Kind: "bar",
		XLabel: "background invalidations per second", YLabel: "p99 (ms)",
	}
	series := map[string]*report.Series{}
	var order []string
	for _, r := range rs {
		last := slices.Clone(r.last)
		slices.Sort(last)
		inv := slices.Clone(r.invalidate)
		slices.Sort(inv)
		raw := slices.Clone(r.raw)
		slices.Sort(raw)
		p50, p99, worst := percentile(last, 0.5), percentile(last, 0.99), percentile(last, 1)
		target := "–"
		if len(last) > 0 {
			target = pick(p99 <= fanoutTarget, "met", "**not met**")
		}
		incomplete := []string{}
		if r.timeouts > 0 {
			incomplete = append(incomplete, fmt.Sprintf("%d not refused in %v", r.timeouts, fanoutWait))
		}
		if r.early > 0 {
			incomplete = append(incomplete, fmt.Sprintf("%d refused before Invalidate", r.early))
		}
		if r.failed > 0 {
			incomplete = append(incomplete, fmt.Sprintf("%d not armed", r.failed))
		}
		if r.rawLost > 0 {
			incomplete = append(incomplete, fmt.Sprintf("%d bare PUBLISH not received", r.rawLost))
		}
		inc := "0"
		if len(incomplete) > 0 {
			inc = strings.Join(incomplete, "; ")
		}
		tab.Rows = append(tab.Rows, []string{
			r.bus, fmt.Sprintf("%s → %s (%s)", fmtRate(float64(r.rate)), fmtRate(r.achieved), fmtRate(r.calls)), strconv.Itoa(len(last)),
			fmtDur(p50), fmtDur(p99), fmtDur(worst), target, fmtDur(percentile(inv, 0.5)),
			fmtDur(percentile(raw, 0.5)) + " / " + fmtDur(percentile(raw, 0.99)), inc,
		})
		s, ok := series[r.bus]
		if !ok {
			s = &report.Series{Name: r.bus}
			series[r.bus] = s
			order = append(order, r.bus)
		}
		s.Y = append(s.Y, float64(p99)/float64(time.Millisecond))
		cat := fmtRate(float64(r.rate))
		if !slices.Contains(chart.Categories, cat) {
			chart.Categories = append(chart.Categories, cat)
		}
	}
	for _, name := range order {
		if len(series[name].Y) == len(chart.Categories) {
			chart.Series = append(chart.Series, *series[name])
		}
	}
	sec.Tables = append(sec.Tables, tab)
	if len(chart.Series) > 0 {
		sec.Charts = append(sec.Charts, chart)
	}
	byPoll, firstErr := 0, ""
	for _, r := range rs {
		byPoll += r.byPoll
		if firstErr == "" {
			firstErr = r.firstErr
		}
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("**Fan-out.** A writer hub in this process and %d peer hubs, each in a child "+
		"OS process of its own with its own Redis connections, share one namespace: the Redis Store and the bus under test. "+
		"Each round, every peer reads a new key whose value depends on an `Entity` and holds it in its in-process tier; the "+
		"writer then calls `Invalidate` on that entity. A peer looks at the value (`Get`) right after each message its bus "+
		"delivers to the hub, which applies an invalidation before its handler returns, and every millisecond besides; it "+
		"stamps the first miss with the wall clock (CLOCK_REALTIME, shared by the processes of one host). The latency of a "+
		"round is the last peer's stamp minus the moment `Invalidate` returned: negative when every peer refused before the "+
		"writer saw Redis acknowledge its publish. %d rounds per bus and rate; %d refusal(s) were stamped by the "+
		"1 ms poll, which runs alongside the deliveries and can see a miss first.", o.Peers, o.FanoutRounds, byPoll))
	sec.Notes = append(sec.Notes, fmt.Sprintf("The background load invalidates tags that no cached value depends on, through a "+
		"second hub in this process (its own connections), from %d goroutines that each keep a share of the rate. Each "+
		"`Invalidate` call (the hub's tombstones, one Lua call on the Store, one message on the bus) carries one tag, or, when "+
		"its goroutine has fallen behind, every tag due, up to %d: *made* is the tags invalidated per second, and the calls "+
		"(messages) per second follow in brackets. *Invalidate call* is the writer's call: hub, then Store, then bus. *Bare "+
		"Redis PUBLISH* is the transport's own fan-out, for context: after each round the parent PUBLISHes on a channel "+
		"of its own, to which each peer process also subscribed with a plain go-redis subscription, and the same clock "+
		"measures from PUBLISH's return to the last peer's receipt, under the same load.", bgload.Workers, bgload.Batch))
	if firstErr != "" {
		sec.Notes = append(sec.Notes, "A round that could not be armed: "+firstErr)
	}
}
