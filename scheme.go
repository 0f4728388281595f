package fresh

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A Row is a table row as column → value, for InvalidateRows.
type Row map[string]any

// A RowChange is a write seen as the old and new versions of one row: Old is nil for an
// insert, New is nil for a delete.
type RowChange struct {
	Table string
	Old   Row
	New   Row
}

func (ts TableSchema) check() error {
	if ts.Table == "" {
		return fmt.Errorf("fresh: table schema with an empty table name")
	}
	for _, cols := range ts.Scopes {
		if len(cols) == 0 {
			return fmt.Errorf("fresh: table %s: empty scope column set", ts.Table)
		}
		seen := map[string]bool{}
		for _, c := range cols {
			if c == "" || seen[c] {
				return fmt.Errorf("fresh: table %s: scope columns %q: empty or repeated column", ts.Table, cols)
			}
			seen[c] = true
		}
	}
	return nil
}

// schemes holds the registered tables: their key columns and scope schemes.
type schemes struct {
	mu     sync.RWMutex
	tables map[string]*tableInfo
}

type tableInfo struct {
	key     string
	schemes map[string][]string // scheme dep name → sorted columns
}

func (s *schemes) register(ts TableSchema) error {
	if err := ts.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = make(map[string]*tableInfo)
	}
	ti := s.tables[ts.Table]
	if ti == nil {
		ti = &tableInfo{key: "id", schemes: make(map[string][]string)}
		s.tables[ts.Table] = ti
	}
	if ts.Key != "" {
		ti.key = ts.Key
	}
	for _, cols := range ts.Scopes {
		sorted := slices.Clone(cols)
		slices.Sort(sorted)
		ti.schemes[schemeDep(ts.Table, sorted).s] = sorted
	}
	return nil
}

// schemeOf returns the internal scheme dependency of a scope dependency, or an error
// when the scope's scheme is not registered.
func (s *schemes) schemeOf(scope string) (string, error) {
	p := parser{s: strings.TrimPrefix(scope, kindScope+":")}
	table, _ := p.name()
	p.expect(':')
	var cols []string
	for !p.done() {
		col, _ := p.name()
		cols = append(cols, col)
		p.expect('=')
		p.value()
		p.expect(',')
	}
	name := schemeDep(table, cols).s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ti := s.tables[table]; ti != nil {
		if _, ok := ti.schemes[name]; ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("fresh: scope %s: columns %q of table %s are not a registered scope (see TableSchema)", scope, cols, table)
}

// deps returns the canonical names of the dependencies a row change dirties: the
// table, the entity of the old and new row, and for every registered scheme the scope
// of the old row and of the new row. When a row lacks a column of a scheme, the
// scheme itself is dirtied, which reaches every scope of that scheme. When a row lacks
// the key column, the names are returned with an error.
func (s *schemes) deps(rc RowChange) ([]string, error) {
	if rc.Table == "" {
		return nil, fmt.Errorf("fresh: row change with an empty table name")
	}
	if rc.Old == nil && rc.New == nil {
		return nil, fmt.Errorf("fresh: row change of %s with neither old nor new row", rc.Table)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ti := s.tables[rc.Table]
	key := "id"
	if ti != nil {
		key = ti.key
	}
	td := Table(rc.Table)
	if td.err != nil {
		return nil, td.err
	}
	out := []string{td.s}
	missingKey := false
	var errs []error
	add := func(d Dep) error {
		if d.err != nil {
			return d.err
		}
		if !slices.Contains(out, d.s) {
			out = append(out, d.s)
		}
		return nil
	}
	for _, row := range []Row{rc.Old, rc.New} {
		if row == nil {
			continue
		}
		if id, ok := row[key]; ok {
			if err := add(Entity(rc.Table, id)); err != nil {
				errs = append(errs, err)
			}
		} else {
			missingKey = true
		}
		if ti == nil {
			continue
		}
		for name, cols := range ti.schemes {
			conds := make([]Cond, 0, len(cols))
			for _, c := range cols {
				v, ok := row[c]
				if !ok {
					break
				}
				conds = append(conds, Eq(c, v))
			}
			if len(conds) < len(cols) {
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
				continue
			}
			if err := add(Scope(rc.Table, conds...)); err != nil {
				// A value of a type scopes cannot hold: reach every scope of the scheme.
				errs = append(errs, err)
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	if missingKey {
		errs = append(errs, fmt.Errorf("fresh: row change of %s lacks key column %q: its entity was not invalidated", rc.Table, key))
	}
	// The caller applies out even with an error: everything that could be computed.
	return out, errors.Join(errs...)
}
