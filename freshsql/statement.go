package freshsql

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// statement is what the wrapper knows of one SQL text: the analysis, memoised, and
// the counters of the per-statement report.
type statement struct {
	sql      string
	analysis *Analysis // nil when err is set
	err      error
	// kind is "read", "write", "session" or "unknown".
	kind string
	// why is why a read is never cached ("" when it can be).
	why string
	// tables is the set of tables the statement reads, for the rules.
	tables []string
	// txControl says whether a session statement begins or ends a transaction.
	txControl txControl
	// keyOnce and prefix hold the key hash's state after the text (keyPrefix).
	keyOnce sync.Once
	prefix  []byte

	hits, misses, bypassed, tooLarge, executions atomic.Int64
	uncacheableArgs                              atomic.Int64
	logged                                       atomic.Bool // an unknown write was logged
}

// StatementReport is what Report says about one SQL text.
type StatementReport struct {
	SQL  string // the text, cut to 200 bytes
	Kind string // "read", "write", "session" or "unknown"
	// Cacheable reports whether reads of this text can be cached (under Cached
	// or a rule); NotCached says why not when they cannot.
	Cacheable bool
	NotCached string
	Hits      int64 // reads served from the cache
	Misses    int64 // reads that ran and were cached (or fenced by an invalidation)
	Bypassed  int64 // reads that ran without the cache: no Cached context or rule, a transaction, NoCache
	TooLarge  int64 // reads whose result was over MaxResultBytes
	// BadArgs counts the Bypassed reads whose arguments had a type that cannot be
	// part of a key (a driver-specific type with no driver.Value form).
	BadArgs int64
	// Executions counts writes, session statements and unknown statements run.
	Executions int64
}

// statements memoises analyses per SQL text. When it holds too many texts (an
// application that builds SQL with literals inlined), it starts over: the
// analyses are recomputed, the counters of the texts dropped are lost.
type statements struct {
	a   Analyzer
	max int

	mu sync.RWMutex
	m  map[string]*statement
}

const maxStatements = 10_000

func (s *statements) get(sql string) *statement {
	s.mu.RLock()
	st := s.m[sql]
	s.mu.RUnlock()
	if st != nil {
		return st
	}
	st = analyse(s.a, sql)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[sql]; old != nil {
		return old
	}
	if s.m == nil || len(s.m) >= s.max {
		s.m = make(map[string]*statement)
	}
	s.m[sql] = st
	return st
}

// analyse runs the analyser on sql and classifies the text. A panic in the
// analyser is an error: the text is then unknown (never cached, and a write of
// unknown effect).
func analyse(a Analyzer, sql string) (st *statement) {
	st = &statement{sql: sql}
	defer func() {
		if r := recover(); r != nil {
			st.analysis, st.err = nil, panicError{r}
			st.kind, st.why = "unknown", "the analyser failed: "+st.err.Error()
		}
	}()
	an, err := a.Analyze(sql)
	if err == nil && an == nil {
		err = errNilAnalysis
	}
	st.analysis, st.err = an, err
	switch {
	case err != nil:
		st.kind, st.why = "unknown", "not understood: "+err.Error()
	case an.Unknown != "":
		st.kind, st.why = "unknown", an.Unknown
	case len(an.Writes) > 0:
		st.kind, st.why = "write", "it writes"
	case an.Session:
		st.kind, st.why = "session", "a session statement"
		st.txControl = txControlOf(sql)
	case !an.Returns:
		st.kind, st.why = "read", "it returns no rows"
	case an.Uncacheable != "":
		st.kind, st.why = "read", an.Uncacheable
	case len(an.Reads) == 0:
		st.kind, st.why = "read", "it reads no table"
	default:
		st.kind = "read"
	}
	if an != nil {
		seen := map[string]bool{}
		for _, r := range an.Reads {
			if !seen[r.Table] {
				seen[r.Table] = true
				st.tables = append(st.tables, r.Table)
			}
		}
		sort.Strings(st.tables)
	}
	return st
}

// report returns the per-statement report, the busiest texts first.
func (s *statements) report() []StatementReport {
	s.mu.RLock()
	out := make([]StatementReport, 0, len(s.m))
	for _, st := range s.m {
		sql := st.sql
		if len(sql) > 200 {
			sql = strings.ToValidUTF8(sql[:200], "") + "…"
		}
		out = append(out, StatementReport{
			SQL: sql, Kind: st.kind, Cacheable: st.why == "", NotCached: st.why,
			Hits: st.hits.Load(), Misses: st.misses.Load(), Bypassed: st.bypassed.Load(),
			TooLarge: st.tooLarge.Load(), BadArgs: st.uncacheableArgs.Load(), Executions: st.executions.Load(),
		})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		na, nb := a.Hits+a.Misses+a.Bypassed+a.Executions, b.Hits+b.Misses+b.Bypassed+b.Executions
		if na != nb {
			return na > nb
		}
		return a.SQL < b.SQL
	})
	return out
}
