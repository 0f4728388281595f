package hitratio

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh/benchmarks/caches"
	"github.com/freshcache/fresh/benchmarks/report"
)

// targetPoints is the project's target: fresh within this many percentage points
// of the best peer in every cell of the policy table.
const targetPoints = 0.5

// noiseFactor is the tie rule: a shortfall beyond targetPoints is a tie when it is
// less than noiseFactor times the combined standard error of the two means.
const noiseFactor = 2

func pct(hits, accesses int) float64 { return 100 * float64(hits) / float64(accesses) }

func fmtPct(p float64) string { return strconv.FormatFloat(p, 'f', 2, 64) }

func fmtPoints(p float64) string {
	if math.Abs(p) < 0.005 {
		return "0.00"
	}
	return fmt.Sprintf("%+.2f", p)
}

func fmtCapacity(c int) string {
	switch {
	case c >= 1000 && c%1000 == 0:
		return strconv.Itoa(c/1000) + "k"
	default:
		return strconv.Itoa(c)
	}
}

// An estimate is a hit ratio, in percent, over one run or several: their mean and
// its standard error (the standard deviation of the runs over √runs; 0 for one
// run).
type estimate struct {
	mean, se float64
	runs     int
}

func estimateOf(xs []float64) estimate {
	e := estimate{runs: len(xs)}
	for _, x := range xs {
		e.mean += x
	}
	e.mean /= float64(len(xs))
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - e.mean) * (x - e.mean)
		}
		e.se = math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
	}
	return e
}

func (e estimate) String() string {
	if e.runs > 1 {
		return fmt.Sprintf("%.2f ± %.2f", e.mean, e.se)
	}
	return fmtPct(e.mean)
}

// A verdict compares a configuration of fresh with the best peer at one capacity of
// the policy table.
type verdict struct {
	peer  int     // the best peer: the one with the highest mean (index into specs)
	diff  float64 // fresh − best peer, in points
	se    float64 // the standard error of diff: √(se(fresh)² + se(peer)²)
	label string  // within, tie or loss
}

// Labels of verdicts.
const (
	within = "within 0.5"
	tie    = "tie"
	loss   = "loss"
)

// judge applies the rule of the report: fresh is within the target when it is at
// most targetPoints below the best peer; below that, the shortfall is a tie when it
// is less than noiseFactor standard errors of the difference, a loss otherwise.
func judge(fresh, best estimate) (diff, se float64, label string) {
	diff = fresh.mean - best.mean
	se = math.Hypot(fresh.se, best.se)
	switch {
	case diff >= -targetPoints:
		return diff, se, within
	case -diff < noiseFactor*se:
		return diff, se, tie
	default:
		return diff, se, loss
	}
}

// runs returns the hit ratios of the runs of job kind k of cache si on trace ti at
// capacity c (si is ignored for OPT and LRU).
func (p *plan) runs(res map[job]outcome, k kind, ti, c, si int) []float64 {
	n := 1
	switch k {
	case policyReplay:
		n = p.policyRuns(ti, c, si)
	case deployedReplay:
		n = p.o.DeployedRuns
	default:
		si = 0
	}
	out := make([]float64, n)
	for run := range n {
		out[run] = pct(res[job{kind: k, trace: ti, capacity: c, cache: si, run: run}].hits, len(p.streams[ti]))
	}
	return out
}

func (p *plan) estimate(res map[job]outcome, k kind, ti, c, si int) estimate {
	return estimateOf(p.runs(res, k, ti, c, si))
}

// held returns the most entries cache si held over its runs of kind k on trace ti
// at capacity c, or -1 when it cannot tell.
func (p *plan) held(res map[job]outcome, k kind, ti, c, si int) int {
	n := p.o.DeployedRuns
	if k == policyReplay {
		n = p.policyRuns(ti, c, si)
	}
	most := -1
	for run := range n {
		most = max(most, res[job{kind: k, trace: ti, capacity: c, cache: si, run: run}].held)
	}
	return most
}

// peers returns the indexes of the caches fresh is compared with: the bounded
// caches other than fresh.
func (p *plan) peers() []int {
	var out []int
	for si, sp := range p.specs {
		if sp.Bounded && !sp.Fresh {
			out = append(out, si)
		}
	}
	return out
}

// verdict compares fresh configuration fi with the best peer on trace ti at
// capacity c, in the policy table.
func (p *plan) verdict(res map[job]outcome, ti, c, fi int) (verdict, bool) {
	best, bestEst := -1, estimate{}
	for _, si := range p.peers() {
		if e := p.estimate(res, policyReplay, ti, c, si); best < 0 || e.mean > bestEst.mean {
			best, bestEst = si, e
		}
	}
	if best < 0 {
		return verdict{}, false
	}
	v := verdict{peer: best}
	v.diff, v.se, v.label = judge(p.estimate(res, policyReplay, ti, c, fi), bestEst)
	return v, true
}

// columnName is the heading of cache si: its name, and what it is when it is no
// competitor (the unbounded ceiling).
func (p *plan) columnName(si int) string {
	if !p.specs[si].Bounded {
		return p.specs[si].Name + " (unbounded)"
	}
	return p.specs[si].Name
}

func (p *plan) freshSpecs() []int {
	var out []int
	for si, sp := range p.specs {
		if sp.Fresh {
			out = append(out, si)
		}
	}
	return out
}

func section(p *plan, res map[job]outcome, elapsed time.Duration) report.Section {
	o, ts := p.o, p.traces
	s := report.Section{
		ID:    "hitratio",
		Title: "Hit ratio",
		Intro: "Each trace is replayed by one goroutine against one cache: every access is a Get, and a miss is followed by a Set of the same key; " +
			"hit ratio = hits / accesses, in percent, at the capacities the anchor projects report. Each trace has two tables.\n\n" +
			"- **Policy hit ratio**: every cache is configured so that its bookkeeping is synchronous: each access has reached its eviction policy, and the evictions it causes are made, before the next access (how, cache by cache, in the notes). " +
			"The figures then measure the policies, not the race between the replay and a background goroutine, and no cache holds more than its capacity; replays of different caches run side by side. " +
			"Caches that seed their hashing or admission at random (fresh, otter, theine, ristretto) are replayed several times: their figures are the mean ± its standard error. " +
			"**OPT** is Bélády's optimum: a cache that knows the future and keeps, of the resident keys and the one just missed, those used soonest; no cache of that capacity can have more hits. **LRU** is a plain least-recently-used list, the floor a policy should clear. " +
			"xsync.Map (unbounded) keeps every key: it misses only the first access to each, the ceiling of any cache of any capacity.\n" +
			"- **Hit ratio as deployed**: the caches that do their bookkeeping in background goroutines, as configured by default and never waited for, one replay at a time. " +
			"A replay outruns those goroutines: reads reach the policy late or never, and the cache holds more entries than its capacity until they catch up, so these figures can exceed OPT and are not a comparison of policies; the last columns give the most entries each cache held. " +
			"The other caches do all their work inside each call, so their figures as deployed are those of the policy table.\n\n" +
			fmt.Sprintf("The project's target is for fresh to be within %.1f points of the best peer (the best of %s) in every cell of the policy table. "+
				"A cell where fresh is further below is a *tie* when the shortfall is less than %d × the standard error of the difference (√(se(fresh)² + se(peer)²)), the noise of the runs, and a *loss* otherwise.",
				targetPoints, strings.Join(p.peerNames(), ", "), noiseFactor),
		Elapsed: elapsed.Seconds(),
	}

	fresh := p.freshSpecs()
	summary := report.Table{
		Title: "fresh against the best peer, policy hit ratio, per trace",
		Columns: []string{"trace", "accesses", "capacities", "runs per seeded cache",
			"largest shortfall to the best peer (points)", fmt.Sprintf("within %.1f points everywhere", targetPoints),
			fmt.Sprintf("cells more than %.1f points below the best peer", targetPoints), "policy runs of a bounded cache above OPT"},
	}
	heldOver := map[int]int{} // cache → largest excess over capacity in the policy replays
	aboveOPT := 0
	var empty []string // deployed cells where a cache held nothing
	for ti, t := range ts {
		n := len(p.streams[ti])
		pol := report.Table{
			Title:   fmt.Sprintf("%s (%d accesses): policy hit ratio %%, bookkeeping synchronous", t.name, n),
			Columns: []string{"capacity"},
		}
		for si := range p.specs {
			pol.Columns = append(pol.Columns, p.columnName(si))
		}
		pol.Columns = append(pol.Columns, "OPT", "LRU")
		for _, fi := range fresh {
			name := p.specs[fi].Name
			pol.Columns = append(pol.Columns, "best peer", name+" − best peer (points)", name+": verdict")
		}
		pol.Columns = append(pol.Columns, "held more than capacity")

		chart := report.Chart{
			Name:   strings.ToLower(t.name),
			Title:  fmt.Sprintf("%s: policy hit ratio", t.name),
			Kind:   "line",
			XLabel: "capacity (entries)",
			YLabel: "hit ratio (%)",
		}
		series := make([]report.Series, len(p.specs)+2)
		for si := range p.specs {
			series[si].Name = p.columnName(si)
		}
		series[len(p.specs)].Name, series[len(p.specs)+1].Name = "OPT", "LRU"
		addPoint := func(i, c int, y float64) {
			series[i].X = append(series[i].X, float64(c))
			series[i].Y = append(series[i].Y, y)
		}

		worst := make([]float64, len(fresh))
		worstAt := make([]string, len(fresh))
		var off [][]string = make([][]string, len(fresh))
		traceAboveOPT := 0
		for _, c := range t.capacities {
			row := []string{fmtCapacity(c)}
			opt := res[job{kind: optRun, trace: ti, capacity: c}].hits
			var over []string
			for si, sp := range p.specs {
				e := p.estimate(res, policyReplay, ti, c, si)
				row = append(row, e.String())
				addPoint(si, c, e.mean)
				for run := range p.policyRuns(ti, c, si) {
					if sp.Bounded && res[job{kind: policyReplay, trace: ti, capacity: c, cache: si, run: run}].hits > opt {
						traceAboveOPT++
					}
				}
				if h := p.held(res, policyReplay, ti, c, si); sp.Bounded && h > c {
					over = append(over, fmt.Sprintf("%s %d (+%d)", sp.Name, h, h-c))
					heldOver[si] = max(heldOver[si], h-c)
				}
			}
			optPct, lruPct := pct(opt, n), pct(res[job{kind: lruRun, trace: ti, capacity: c}].hits, n)
			row = append(row, fmtPct(optPct), fmtPct(lruPct))
			addPoint(len(p.specs), c, optPct)
			addPoint(len(p.specs)+1, c, lruPct)
			for k, fi := range fresh {
				v, ok := p.verdict(res, ti, c, fi)
				if !ok {
					row = append(row, "–", "–", "–")
					continue
				}
				label := v.label
				if label == loss {
					label = "**loss**"
				}
				row = append(row, p.specs[v.peer].Name, fmt.Sprintf("%s ± %.2f", fmtPoints(v.diff), v.se), label)
				if -v.diff > worst[k] {
					worst[k], worstAt[k] = -v.diff, fmt.Sprintf("%s (%s)", fmtCapacity(c), p.specs[v.peer].Name)
				}
				if v.label != within {
					off[k] = append(off[k], fmt.Sprintf("%s: %s ± %.2f vs %s, %s", fmtCapacity(c), fmtPoints(v.diff), v.se, p.specs[v.peer].Name, v.label))
				}
			}
			if len(over) == 0 {
				row = append(row, "none")
			} else {
				row = append(row, strings.Join(over, ", "))
			}
			pol.Rows = append(pol.Rows, row)
		}
		aboveOPT += traceAboveOPT
		chart.Series = series
		dep, none := p.deployedTable(res, ti)
		s.Tables = append(s.Tables, pol, dep)
		for _, e := range none {
			empty = append(empty, t.name+", "+e)
		}
		s.Charts = append(s.Charts, chart)

		runs := strconv.Itoa(o.Runs)
		if large := slices.IndexFunc(t.capacities, func(c int) bool { return c > SmallCapacity }); large >= 0 {
			lr := o.LargeRuns
			if t.largeRuns > 0 {
				lr = min(lr, t.largeRuns)
			}
			if large == 0 {
				runs = strconv.Itoa(lr)
			} else {
				runs = fmt.Sprintf("%d up to %s, %d above", o.Runs, fmtCapacity(SmallCapacity), lr)
			}
		}
		for k, fi := range fresh {
			name := t.name
			if len(fresh) > 1 {
				name += " (" + p.specs[fi].Name + ")"
			}
			shortfall := "none"
			if worst[k] > 0 {
				shortfall = fmt.Sprintf("%.2f at %s", worst[k], worstAt[k])
			}
			ok := "yes"
			cells := "–"
			if len(off[k]) > 0 {
				ok = "**no**"
				cells = strings.Join(off[k], "; ")
			}
			summary.Rows = append(summary.Rows, []string{
				name, strconv.Itoa(n), strings.Join(capacityNames(t.capacities), ", "), runs,
				shortfall, ok, cells, strconv.Itoa(traceAboveOPT),
			})
		}
	}
	if len(fresh) > 0 && len(p.peers()) > 0 {
		s.Tables = append([]report.Table{summary}, s.Tables...)
	}
	if slices.ContainsFunc(ts, func(t trace) bool { return t.churn }) {
		s.Tables = append(s.Tables, churnTable(p, res))
	}
	s.Notes = p.notes(res, heldOver, aboveOPT, empty)
	return s
}

func (p *plan) peerNames() []string {
	var out []string
	for _, si := range p.peers() {
		out = append(out, p.specs[si].Name)
	}
	return out
}

// deployedTable is the table of trace ti as deployed. It also returns the cells
// where a cache held no entry at any sample, as "cache at capacity".
func (p *plan) deployedTable(res map[job]outcome, ti int) (report.Table, []string) {
	var empty []string
	t := p.traces[ti]
	n := len(p.streams[ti])
	tab := report.Table{
		Title:   fmt.Sprintf("%s: hit ratio %% as deployed, default configurations, one replay at a time", t.name),
		Columns: []string{"capacity"},
	}
	var dep []int
	for si := range p.specs {
		if p.deployed(si) {
			dep = append(dep, si)
			tab.Columns = append(tab.Columns, p.specs[si].Name)
		}
	}
	tab.Columns = append(tab.Columns, "OPT")
	for _, si := range dep {
		tab.Columns = append(tab.Columns, p.specs[si].Name+": most entries held")
	}
	for _, c := range t.deployedCapacities() {
		row := []string{fmtCapacity(c)}
		opt := pct(res[job{kind: optRun, trace: ti, capacity: c}].hits, n)
		for _, si := range dep {
			e := p.estimate(res, deployedReplay, ti, c, si)
			cell := e.String()
			if e.mean > opt {
				cell += " (above OPT)"
			}
			row = append(row, cell)
		}
		row = append(row, fmtPct(opt))
		for _, si := range dep {
			h := p.held(res, deployedReplay, ti, c, si)
			switch {
			case h < 0:
				row = append(row, "–")
			case h > c:
				row = append(row, fmt.Sprintf("%d (+%d)", h, h-c))
			default:
				row = append(row, strconv.Itoa(h))
				if h == 0 {
					empty = append(empty, fmt.Sprintf("%s at %s, hit ratio %s %%", p.specs[si].Name, fmtCapacity(c), p.estimate(res, deployedReplay, ti, c, si)))
				}
			}
		}
		tab.Rows = append(tab.Rows, row)
	}
	return tab, empty
}

func capacityNames(cs []int) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmtCapacity(c)
	}
	return out
}

func churnTable(p *plan, res map[job]outcome) report.Table {
	o, ts, streams := p.o, p.traces, p.streams
	tab := report.Table{
		Title: fmt.Sprintf("fresh with invalidation churn (tags of %d keys), hit ratio %%", o.ChurnGroup),
		Columns: []string{
			"trace", "capacity", "invalidating accesses", "invalidations",
			"no churn", "with churn", "invalidated misses", "with churn + invalidated misses", "residual (points)",
		},
	}
	for ti, t := range ts {
		if !t.churn {
			continue
		}
		n := len(streams[ti])
		c := churnCapacity(t)
		rs := res[job{kind: churnRun, trace: ti, capacity: c}].churn
		if len(rs) == 0 {
			continue
		}
		base := pct(rs[0].hits, n)
		for _, r := range rs[1:] {
			with := pct(r.hits, n)
			inv := pct(r.invalidatedMisses, n)
			tab.Rows = append(tab.Rows, []string{
				t.name, fmtCapacity(c), fmt.Sprintf("%g%%", 100*r.rate), strconv.Itoa(r.invalidations),
				fmtPct(base), fmtPct(with), fmtPct(inv), fmtPct(with + inv), fmtPoints(with + inv - base),
			})
		}
	}
	return tab
}

// notes are the notes of the section: how the tables were made, and the checks the
// numbers pass or fail.
func (p *plan) notes(res map[job]outcome, heldOver map[int]int, aboveOPT int, empty []string) []string {
	o := p.o
	var notes []string
	var seeded []string
	for _, sp := range p.specs {
		if sp.Seeded {
			seeded = append(seeded, sp.Name)
		}
	}
	if len(seeded) > 0 {
		n := fmt.Sprintf("Runs: in the policy table each seeded cache (%s) replays a trace %d times at capacities up to %s entries and %d times above",
			strings.Join(seeded, ", "), o.Runs, fmtCapacity(SmallCapacity), o.LargeRuns)
		for _, t := range p.traces {
			if t.largeRuns > 0 && t.largeRuns < o.LargeRuns && slices.ContainsFunc(t.capacities, func(c int) bool { return c > SmallCapacity }) {
				n += fmt.Sprintf(" (%s: %d, to keep the workload within its time budget; the standard error of %d runs is itself rough, so the tie rule is weakest there)", t.name, t.largeRuns, t.largeRuns)
			}
		}
		n += "; a figure with ± is the mean of the runs and its standard error (their standard deviation / √runs). " +
			"The other caches, OPT and LRU do not depend on a seed and run once."
		notes = append(notes, n)
	}
	notes = append(notes, fmt.Sprintf("Verdicts: best peer = the peer with the highest mean in the cell; fresh − best peer is shown ± √(se(fresh)² + se(peer)²). "+
		"*within 0.5*: fresh is at most %.1f points below (or above); *tie*: further below, but by less than %d × that standard error; *loss*: by more.", targetPoints, noiseFactor))
	if len(heldOver) == 0 {
		notes = append(notes, fmt.Sprintf("Check of the policy configurations: no bounded cache held more entries than its capacity in any policy replay (sampled every %d accesses and at the end), as the column *held more than capacity* shows.", sampleEvery))
	} else {
		var over []string
		for si, d := range heldOver {
			over = append(over, fmt.Sprintf("%s by up to %d", p.specs[si].Name, d))
		}
		slices.Sort(over)
		notes = append(notes, fmt.Sprintf("**Check of the policy configurations failed**: in the policy replays %s held more entries than its capacity (sampled every %d accesses), so its configuration is not fully synchronous and its figures there are not comparable.",
			strings.Join(over, ", "), sampleEvery))
	}
	if aboveOPT == 0 {
		notes = append(notes, "Check of the harness: no policy run of a bounded cache hit more often than OPT (the summary's last column counts such runs).")
	} else {
		notes = append(notes, fmt.Sprintf("**Check of the harness failed**: %d policy runs of bounded caches hit more often than OPT, which no cache of that capacity can do (the summary's last column counts them per trace).", aboveOPT))
	}
	if si := slices.IndexFunc(p.specs, func(sp caches.Spec) bool { return sp.Name == caches.Ttlcache }); si >= 0 {
		same, cells := 0, 0
		for ti, t := range p.traces {
			for _, c := range t.capacities {
				cells++
				if res[job{kind: policyReplay, trace: ti, capacity: c, cache: si}].hits == res[job{kind: lruRun, trace: ti, capacity: c}].hits {
					same++
				}
			}
		}
		if same == cells {
			notes = append(notes, "ttlcache is an LRU: its hits equal those of the LRU column in every cell, to the access, a check of both.")
		} else {
			notes = append(notes, fmt.Sprintf("ttlcache is an LRU, yet its hits equal those of the LRU column in only %d of %d cells.", same, cells))
		}
	}
	var dep []string
	for si, sp := range p.specs {
		if p.deployed(si) {
			dep = append(dep, sp.Name)
		}
	}
	if len(dep) > 0 {
		n := fmt.Sprintf("As deployed: %s, each built by its spec's default constructor (the configuration notes below), with no Wait after a Set: none needs one to be usable, "+
			"though a Set to ristretto is invisible until its goroutine applies it and may be dropped, so a re-read soon after misses (what an application reading a key again at once gets). "+
			"Each capacity is replayed %s, one replay at a time with nothing else running", strings.Join(dep, ", "), plural(o.DeployedRuns, "time"))
		if o.DeployedRuns == 1 {
			n += "; a single run depends on how far the background goroutines lagged in it, which varies with the machine's load"
		}
		n += fmt.Sprintf(". *Most entries held*: the cache's own count (EstimatedSize, Len, or the cost in use for ristretto) sampled every %d accesses and at the end, the largest over the runs. "+
			"sturdyc and ttlcache evict inside each Set and xsync.Map never does, so they have no deployed column: their figures are those of the policy table.", sampleEvery)
		notes = append(notes, n)
	}
	if len(empty) > 0 {
		notes = append(notes, fmt.Sprintf("As deployed, some caches held no entry at any sample of a replay, their background goroutine having applied none of the Sets yet: %s.",
			strings.Join(empty, "; ")))
	}
	for _, t := range p.traces {
		all := traces()[slices.IndexFunc(traces(), func(u trace) bool { return u.name == t.name })].capacities
		if !o.Short && len(t.capacities) < len(all) {
			notes = append(notes, fmt.Sprintf("%s is measured at %s of the README's capacities, to keep the workload within its time budget (Options.AllCapacities measures them all).",
				t.name, strings.Join(capacityNames(t.capacities), ", ")))
		}
		if len(t.deployedCapacities()) < len(t.capacities) {
			notes = append(notes, fmt.Sprintf("%s is replayed as deployed at %s only: its replays are the longest, and the deployed ones cannot run side by side.",
				t.name, strings.Join(capacityNames(t.deployedCapacities()), ", ")))
		}
	}
	for _, sp := range p.specs {
		if sp.SyncNote != "" {
			notes = append(notes, fmt.Sprintf("**%s**, policy table: %s", sp.Name, sp.SyncNote))
		}
	}
	if !slices.Contains(o.Caches, caches.Gocache) {
		notes = append(notes, "gocache is not replayed: its store is ristretto, whose figures it would repeat.")
	}
	notes = append(notes,
		fmt.Sprintf("Churn (fresh only, at the middle capacity of each trace but P3, one run each): fresh in the policy configuration (its store's maintenance inline). Key k depends on tag k/%d, so each tag covers %d consecutive keys. After an access, with the given probability, the tag of the key just accessed is invalidated (writes follow the popularity of reads). "+
			"*No churn* is the same replay, dependencies and all, with no invalidation. "+
			"*Invalidated misses* counts, during the replay, the misses on keys whose tag was invalidated after they were last loaded, at accesses that hit in the replay without churn: the hits the invalidations took away. "+
			"With churn + invalidated misses ≈ no churn; the residual is the rest, negative when invalidated entries (which fresh drops lazily) still take room until read again or evicted, or when reloads change what the policy keeps.",
			o.ChurnGroup, o.ChurnGroup))
	for _, sp := range p.specs {
		notes = append(notes, fmt.Sprintf("**%s**: %s", sp.Name, sp.Note))
	}
	return notes
}

func plural(n int, word string) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d %ss", n, word)
}
