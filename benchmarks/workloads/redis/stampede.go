package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/freshcache/fresh/benchmarks/report"
)

// stampedeLead is how far ahead of its start a round is announced to the processes.
const stampedeLead = 200 * time.Millisecond

// stampedeRound is what one round of one subject gave.
type stampedeRound struct {
	calls    int
	p50, p99 time.Duration
	callers  int
	errs     int
	firstErr string
}

func runStampede(ctx context.Context, e *env, o Options, sec *report.Section) error {
	ns := e.ns("stampede")
	cfgs := make([]childConfig, o.StampedeProcs)
	deadline := time.Now().Add(10 * time.Minute).UnixNano()
	for i := range cfgs {
		cfgs[i] = childConfig{
			Role: roleStampede, Name: "stampede" + strconv.Itoa(i+1), URL: e.url, Run: e.run, Namespace: ns,
			Goroutines: o.StampedeGoroutines, Load: o.StampedeLoad, Deadline: deadline,
		}
	}
	procs, err := startProcs(ctx, cfgs)
	if err != nil {
		return err
	}
	defer stopProcs(procs)

	subjects := []string{subjectFresh, subjectGoRedisCa}
	rounds := map[string][]stampedeRound{}
	// Round 0 of each subject warms the connections up and is not reported.
	for r := 0; r <= o.StampedeRounds; r++ {
		for _, s := range subjects {
			rd, err := stampedeOnce(ctx, e, o, procs, s, r)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s, r, err)
			}
			if r > 0 {
				rounds[s] = append(rounds[s], rd)
			}
		}
	}
	addStampedeSection(sec, o, subjects, rounds)
	return nil
}

// stampedeOnce runs round r of subject s in every process and counts the origin
// calls.
func stampedeOnce(ctx context.Context, e *env, o Options, procs []*proc, s string, r int) (stampedeRound, error) {
	at := time.Now().Add(stampedeLead).UnixNano()
	for _, p := range procs {
		if err := p.Send(command{Op: "stampede", Round: r, Subject: s, At: at}); err != nil {
			return stampedeRound{}, err
		}
	}
	var rd stampedeRound
	var lat []time.Duration
	for _, p := range procs {
		m, err := p.Recv(ctx, stampedeLead+20*o.StampedeLoad+30*time.Second,
			func(m childMsg) bool { return m.Op == "stampede" && m.Round == r })
		if err != nil {
			return rd, err
		}
		for _, ns := range m.Lat {
			lat = append(lat, time.Duration(ns))
		}
		rd.errs += m.Errs
		if rd.firstErr == "" && m.Err != "" {
			rd.firstErr = p.Name() + ": " + m.Err
		}
	}
	calls, err := e.client.Get(ctx, originKey(e.run, s, r)).Int()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return rd, fmt.Errorf("reading the origin count: %w", err)
	}
	slices.Sort(lat)
	rd.calls, rd.callers = calls, len(lat)
	rd.p50, rd.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	return rd, nil
}

func addStampedeSection(sec *report.Section, o Options, subjects []string, rounds map[string][]stampedeRound) {
	total := o.StampedeProcs * o.StampedeGoroutines
	tab := report.Table{
		Title: fmt.Sprintf("Stampede across %d processes: %d concurrent misses of one key, %v loader", o.StampedeProcs, total, o.StampedeLoad),
		Columns: []string{"library", "origin calls per key (max)", "origin calls per key (median)",
			"rounds with more than one origin call", "p50", "p99", "fresh origin calls ÷ this", "fresh p99 ÷ this", "errors"},
	}
	type sum struct {
		maxCalls, medCalls int
		multi, rounds      int
		p50, p99           time.Duration
		errs               int
		firstErr           string
	}
	sums := map[string]sum{}
	for _, s := range subjects {
		var calls []int
		var p50s, p99s []time.Duration
		var sm sum
		for _, rd := range rounds[s] {
			calls = append(calls, rd.calls)
			if rd.calls > 1 {
				sm.multi++
			}
			p50s = append(p50s, rd.p50)
			p99s = append(p99s, rd.p99)
			sm.errs += rd.errs
			if sm.firstErr == "" {
				sm.firstErr = rd.firstErr
			}
		}
		if len(calls) == 0 {
			continue
		}
		sm.maxCalls, sm.medCalls, sm.rounds = slices.Max(calls), median(calls), len(calls)
		sm.p50, sm.p99 = median(p50s), median(p99s)
		sums[s] = sm
	}
	fr := sums[subjectFresh]
	for _, s := range subjects {
		sm, ok := sums[s]
		if !ok {
			continue
		}
		tab.Rows = append(tab.Rows, []string{
			s, strconv.Itoa(sm.maxCalls), strconv.Itoa(sm.medCalls), fmt.Sprintf("%d of %d", sm.multi, sm.rounds),
			fmtDur(sm.p50), fmtDur(sm.p99),
			ratio(float64(fr.medCalls), float64(sm.medCalls)), ratio(float64(fr.p99), float64(sm.p99)), strconv.Itoa(sm.errs),
		})
	}
	sec.Tables = append(sec.Tables, tab)
	sec.Notes = append(sec.Notes, fmt.Sprintf("**Stampede.** %d child processes, each with %d goroutines waiting at a barrier "+
		"set %v ahead on the wall clock; at that moment every goroutine reads the same new key and times its own call. The "+
		"loader counts its calls in Redis (INCR) and sleeps %v. %d rounds per library, a new key each, after an unreported "+
		"warm-up round; *origin calls* is the headline (1 is ideal); p50 and p99 are over all %d callers of a round, the "+
		"median over rounds. fresh: `GetOrLoad` on a hub with the Redis Store and a StreamBus: in-process single flight, "+
		"then a lease in the Store so that one process loads while the others wait for its value (default `LeaseTTL`). "+
		"go-redis/cache: `Once`, whose single flight is in-process only, on `cache.New(&cache.Options{Redis: client})`.",
		o.StampedeProcs, o.StampedeGoroutines, stampedeLead, o.StampedeLoad, o.StampedeRounds, total))
	for _, s := range subjects {
		if sm := sums[s]; sm.firstErr != "" {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %d reads failed, the first with: %s", s, sm.errs, sm.firstErr))
		}
	}
	if fr.maxCalls > 1 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("**fresh called the origin more than once for one cold key across %d "+
			"processes, in %d of %d rounds (up to %d calls); with a Store that leases it should call it once.** A process "+
			"whose Store read missed just before the lease holder filled the Store, and whose lease request came just after "+
			"the holder released the lease is, most likely, granted the lease and loads again: the Store is not read again "+
			"once a lease is granted.", o.StampedeProcs, fr.multi, fr.rounds, fr.maxCalls))
	}
}
