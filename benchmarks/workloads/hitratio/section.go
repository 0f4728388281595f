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

// estimate returns the hit ratio of c over its runs.
func (p *plan) estimate(res map[job]outcome, c cell) estimate {
	xs := make([]float64, p.runs[c])
	for run := range xs {
		xs[run] = pct(res[c.job(run)].hits, len(p.streams[c.trace]))
	}
	return estimateOf(xs)
}

// held returns the most entries the cache of c held over its runs, or -1 when it
// cannot tell.
func (p *plan) held(res map[job]outcome, c cell) int {
	most := -1
	for run := range p.runs[c] {
		most = max(most, res[c.job(run)].held)
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
		if e := p.estimate(res, cell{kind: policyReplay, trace: ti, capacity: c, cache: si}); best < 0 || e.mean > bestEst.mean {
			best, bestEst = si, e
		}
	}
	if best < 0 {
		return verdict{}, false
	}
	v := verdict{peer: best}
	v.diff, v.se, v.label = judge(p.estimate(res, cell{kind: policyReplay, trace: ti, capacity: c, cache: fi}), bestEst)
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
	ts := p.traces
	s := report.Section{
		ID:    "hitratio",
		Title: "Hit ratio",
		Intro: "Each trace is replayed by one goroutine against one cache: every access is a Get, and a miss is followed by a Set of the same key; " +
			"hit ratio = hits / accesses, in percent, at the capacities the anchor projects report. Each trace has two tables.\n\n" +
			"- **Policy hit ratio**: every cache is configured so that its bookkeeping is synchronous: each access has reached its eviction policy, and the evictions it causes are made, before the next access (how, cache by cache, in the notes; the column *held more than capacity* checks it). " +
			"The figures then measure the policies, not the race between the replay and a background goroutine, so replays of different caches run side by side. " +
			fmt.Sprintf("Caches that seed their hashing or admission at random (%s) are replayed several times: their figures are the mean ± its standard error. ", strings.Join(p.seededNames(), ", ")) +
			"**OPT** is Bélády's optimum: a cache that knows the future and keeps, of the resident keys and the one just missed, those used soonest; no cache of that capacity can have more hits. " +
			"**LRU** is a plain least-recently-used list, the floor a policy should clear. " +
			"xsync.Map (unbounded) keeps every key: it misses only the first access to each, the ceiling of a cache of any capacity.\n" +
			"- **Hit ratio as deployed**: the caches that do their bookkeeping in background goroutines, in their default configuration and never waited for, one replay at a time. " +
			"A replay can outrun those goroutines: depending on the cache, reads reach the policy late or not at all, Sets are applied late or dropped, and the cache may hold more entries than its capacity until they catch up (the last columns give the most entries each held). " +
			"These figures can therefore exceed OPT, and they do not compare policies. " +
			"The other caches do all their work inside each call, so their figures as deployed are those of the policy table.\n\n" +
			fmt.Sprintf("The project's target is for fresh to be within %.1f points of the best peer (the best of %s) in every cell of the policy table. "+
				"A cell where fresh is further below is a *tie* when the shortfall is less than %d × the standard error of the difference (√(se(fresh)² + se(peer)²)), the noise of the runs, and a *loss* otherwise.",
				targetPoints, strings.Join(p.peerNames(), ", "), noiseFactor),
		Elapsed: elapsed.Seconds(),
	}

	summary := report.Table{
		Title: "fresh against the best peer, policy hit ratio, per trace",
		Columns: []string{"trace", "accesses", "capacities",
			"largest shortfall to the best peer (points)", fmt.Sprintf("within %.1f points everywhere", targetPoints),
			fmt.Sprintf("cells more than %.1f points below the best peer", targetPoints), "policy runs of a bounded cache above OPT"},
	}
	var checks checks
	for ti := range ts {
		pol, chart, rows := p.policyTable(res, ti, &checks)
		s.Tables = append(s.Tables, pol)
		if slices.ContainsFunc(p.specs, func(sp caches.Spec) bool { return sp.NewSync != nil }) {
			s.Tables = append(s.Tables, p.deployedTable(res, ti, &checks))
		}
		s.Charts = append(s.Charts, chart)
		summary.Rows = append(summary.Rows, rows...)
	}
	if len(p.freshSpecs()) > 0 && len(p.peers()) > 0 {
		s.Tables = append([]report.Table{summary}, s.Tables...)
	}
	if slices.ContainsFunc(ts, func(t trace) bool { return t.churn }) {
		s.Tables = append(s.Tables, churnTable(p, res))
	}
	s.Notes = p.notes(res, checks)
	return s
}

// checks are what the tables found about the harness, for the notes.
type checks struct {
	heldOver map[int]int // bounded cache → its largest excess over capacity in a policy replay
	aboveOPT int         // policy runs of bounded caches with more hits than OPT
	empty    []string    // deployed replays in which a cache held no entry at any sample
}

// policyTable returns the policy table of trace ti, its chart, and its rows of the
// summary (one per configuration of fresh).
func (p *plan) policyTable(res map[job]outcome, ti int, ck *checks) (report.Table, report.Chart, [][]string) {
	t := p.traces[ti]
	n := len(p.streams[ti])
	fresh := p.freshSpecs()
	tab := report.Table{
		Title:   fmt.Sprintf("%s (%d accesses): policy hit ratio %%, bookkeeping synchronous", t.name, n),
		Columns: []string{"capacity"},
	}
	for si := range p.specs {
		tab.Columns = append(tab.Columns, p.columnName(si))
	}
	tab.Columns = append(tab.Columns, "OPT", "LRU")
	for _, fi := range fresh {
		name := p.specs[fi].Name
		tab.Columns = append(tab.Columns, "best peer", name+" − best peer (points)", name+": verdict")
	}
	seeded := p.seededNames()
	if len(seeded) > 0 {
		tab.Columns = append(tab.Columns, "runs ("+strings.Join(seeded, ", ")+")")
	}
	tab.Columns = append(tab.Columns, "held more than capacity")

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
	iOPT, iLRU := len(p.specs), len(p.specs)+1
	series[iOPT].Name, series[iLRU].Name = "OPT", "LRU"
	addPoint := func(i, c int, y float64) {
		series[i].X = append(series[i].X, float64(c))
		series[i].Y = append(series[i].Y, y)
	}

	worst := make([]float64, len(fresh))  // largest shortfall of each fresh configuration
	worstAt := make([]string, len(fresh)) // where
	off := make([][]string, len(fresh))   // its cells not within the target
	aboveOPT := 0
	for _, c := range t.capacities {
		row := []string{fmtCapacity(c)}
		opt := res[job{kind: optRun, trace: ti, capacity: c}].hits
		var over []string
		for si, sp := range p.specs {
			pc := cell{kind: policyReplay, trace: ti, capacity: c, cache: si}
			e := p.estimate(res, pc)
			row = append(row, e.String())
			addPoint(si, c, e.mean)
			if !sp.Bounded {
				continue
			}
			for run := range p.runs[pc] {
				if res[pc.job(run)].hits > opt {
					aboveOPT++
				}
			}
			if h := p.held(res, pc); h > c {
				over = append(over, fmt.Sprintf("%s %d (+%d)", sp.Name, h, h-c))
				if ck.heldOver == nil {
					ck.heldOver = map[int]int{}
				}
				ck.heldOver[si] = max(ck.heldOver[si], h-c)
			}
		}
		optPct, lruPct := pct(opt, n), pct(res[job{kind: lruRun, trace: ti, capacity: c}].hits, n)
		row = append(row, fmtPct(optPct), fmtPct(lruPct))
		addPoint(iOPT, c, optPct)
		addPoint(iLRU, c, lruPct)
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
			peer := p.specs[v.peer].Name
			row = append(row, peer, fmt.Sprintf("%s ± %.2f", fmtPoints(v.diff), v.se), label)
			if -v.diff > worst[k] {
				worst[k], worstAt[k] = -v.diff, fmt.Sprintf("%s (%s)", fmtCapacity(c), peer)
			}
			if v.label != within {
				off[k] = append(off[k], fmt.Sprintf("%s: %s ± %.2f vs %s, %s", fmtCapacity(c), fmtPoints(v.diff), v.se, peer, v.label))
			}
		}
		if len(seeded) > 0 {
			var runs []string
			for si, sp := range p.specs {
				if sp.Seeded {
					runs = append(runs, strconv.Itoa(p.runs[cell{kind: policyReplay, trace: ti, capacity: c, cache: si}]))
				}
			}
			row = append(row, strings.Join(runs, ", "))
		}
		if len(over) == 0 {
			row = append(row, "none")
		} else {
			row = append(row, strings.Join(over, ", "))
		}
		tab.Rows = append(tab.Rows, row)
	}
	ck.aboveOPT += aboveOPT
	chart.Series = series

	var rows [][]string
	for k, fi := range fresh {
		name := t.name
		if len(fresh) > 1 {
			name += " (" + p.specs[fi].Name + ")"
		}
		shortfall := "none"
		if worst[k] > 0 {
			shortfall = fmt.Sprintf("%.2f at %s", worst[k], worstAt[k])
		}
		ok, cells := "yes", "–"
		if len(off[k]) > 0 {
			ok, cells = "**no**", strings.Join(off[k], "; ")
		}
		rows = append(rows, []string{
			name, strconv.Itoa(n), strings.Join(capacityNames(t.capacities), ", "),
			shortfall, ok, cells, strconv.Itoa(aboveOPT),
		})
	}
	return tab, chart, rows
}

func (p *plan) seededNames() []string {
	var out []string
	for _, sp := range p.specs {
		if sp.Seeded {
			out = append(out, sp.Name)
		}
	}
	return out
}

func (p *plan) peerNames() []string {
	var out []string
	for _, si := range p.peers() {
		out = append(out, p.specs[si].Name)
	}
	return out
}

// deployedTable is the table of trace ti as deployed.
func (p *plan) deployedTable(res map[job]outcome, ti int, ck *checks) report.Table {
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
			e := p.estimate(res, cell{kind: deployedReplay, trace: ti, capacity: c, cache: si})
			cell := e.String()
			if e.mean > opt {
				cell += " (above OPT)"
			}
			row = append(row, cell)
		}
		row = append(row, fmtPct(opt))
		for _, si := range dep {
			dc := cell{kind: deployedReplay, trace: ti, capacity: c, cache: si}
			h := p.held(res, dc)
			switch {
			case h < 0:
				row = append(row, "–")
			case h > c:
				row = append(row, fmt.Sprintf("%d (+%d)", h, h-c))
			default:
				row = append(row, strconv.Itoa(h))
				if h == 0 {
					ck.empty = append(ck.empty, fmt.Sprintf("%s, %s at %s, hit ratio %s %%", t.name, p.specs[si].Name, fmtCapacity(c), p.estimate(res, dc)))
				}
			}
		}
		tab.Rows = append(tab.Rows, row)
	}
	return tab
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
func (p *plan) notes(res map[job]outcome, ck checks) []string {
	o := p.o
	var notes []string
	if seeded := p.seededNames(); len(seeded) > 0 {
		notes = append(notes, fmt.Sprintf("Runs (policy table; the column *runs* gives them per cell): each seeded cache (%s) first replays each trace %s at each capacity up to %s entries, where runs differ the most, and once above. "+
			"Then fresh, and every seeded peer whose mean is within %.1f points of the best peer's, are replayed %s in all at those capacities and %s above: "+
			"a peer further behind cannot be the best peer, so its noise cannot change a verdict, and the time goes to the runs that can. "+
			"A figure with ± is the mean of the runs and its standard error (their standard deviation / √runs); the standard error of 2 runs is itself rough, so the tie rule is weakest where there are only 2. "+
			"A seeded figure without ± is a single run. The other caches, OPT and LRU do not depend on a seed and run once.",
			strings.Join(seeded, ", "), times(o.FirstRuns), fmtCapacity(SmallCapacity), contention, times(o.Runs), times(o.LargeRuns)))
	}
	notes = append(notes, fmt.Sprintf("Verdicts: best peer = the peer with the highest mean in the cell; fresh − best peer is shown ± √(se(fresh)² + se(peer)²). "+
		"*within 0.5*: fresh is at most %.1f points below (or above); *tie*: further below, but by less than %d × that standard error; *loss*: by more.", targetPoints, noiseFactor))
	if len(ck.heldOver) == 0 {
		notes = append(notes, fmt.Sprintf("Check of the policy configurations: no bounded cache held more entries than its capacity in any policy replay (sampled every %d accesses and at the end), as the column *held more than capacity* shows.", sampleEvery))
	} else {
		var over []string
		for si, d := range ck.heldOver {
			over = append(over, fmt.Sprintf("%s by up to %d", p.specs[si].Name, d))
		}
		slices.Sort(over)
		notes = append(notes, fmt.Sprintf("**Check of the policy configurations failed**: in the policy replays %s held more entries than its capacity (sampled every %d accesses), so its configuration is not fully synchronous and its figures there are not comparable.",
			strings.Join(over, ", "), sampleEvery))
	}
	seen, gets := map[int]int64{}, map[int]int64{}
	for j, out := range res {
		if j.kind == policyReplay && out.readsSeen >= 0 {
			seen[j.cache] += out.readsSeen
			gets[j.cache] += int64(len(p.streams[j.trace]))
		}
	}
	for si, sp := range p.specs {
		if gets[si] > 0 {
			notes = append(notes, fmt.Sprintf("Reads that reached the policy: over all its policy replays, %s's policy counted %d of its %d Gets (%.2f %%); the others were dropped, lost with a pooled batch, or left in a partial batch at the end.",
				sp.Name, seen[si], gets[si], 100*float64(seen[si])/float64(gets[si])))
		}
	}
	if ck.aboveOPT == 0 {
		notes = append(notes, "Check of the harness: no policy run of a bounded cache hit more often than OPT (the summary's last column counts such runs).")
	} else {
		notes = append(notes, fmt.Sprintf("**Check of the harness failed**: %d policy runs of bounded caches hit more often than OPT, which no cache of that capacity can do (the summary's last column counts them per trace).", ck.aboveOPT))
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
			"Each capacity is replayed %s, one replay at a time (no other replay of this workload running)", strings.Join(dep, ", "), times(o.DeployedRuns))
		if o.DeployedRuns == 1 {
			n += "; a single run depends on how far the background goroutines lagged in it, which varies with the machine's load"
		}
		n += fmt.Sprintf(". *Most entries held*: the cache's own count (EstimatedSize, Len, or the cost in use for ristretto) sampled every %d accesses and at the end, the largest over the runs. "+
			"sturdyc and ttlcache evict inside each Set and xsync.Map never does, so they have no deployed column: their figures are those of the policy table.", sampleEvery)
		notes = append(notes, n)
	}
	if len(ck.empty) > 0 {
		notes = append(notes, fmt.Sprintf("As deployed, some caches held no entry at any sample of a replay, their background goroutine having applied none of the Sets yet: %s.",
			strings.Join(ck.empty, "; ")))
	}
	for _, t := range p.traces {
		all := traces()[slices.IndexFunc(traces(), func(u trace) bool { return u.name == t.name })].capacities
		if !o.Short && len(t.capacities) < len(all) {
			notes = append(notes, fmt.Sprintf("%s is measured at %s of the README's capacities, to keep the workload within its time budget (Options.AllCapacities measures them all).",
				t.name, strings.Join(capacityNames(t.capacities), ", ")))
		}
		if len(t.deployedCapacities()) < len(t.capacities) {
			notes = append(notes, fmt.Sprintf("%s is replayed as deployed at %s only, to keep the workload within its time budget: deployed replays run one at a time, and an overshoot of a few hundred entries matters most at small capacities.",
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

// times says n times in words: once, twice, 3 times.
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}
