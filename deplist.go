package fresh

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// idSeed makes the ids of dependency names; one per process, so that the ids of
// caches of different hubs compare alike (request memos span hubs).
var idSeed = maphash.MakeSeed()

// depID returns the id of the dependency named name: the hash that selects its
// tombstone slots (tracker). It is never 0.
func depID(name string) uint64 {
	if h := maphash.String(idSeed, name); h != 0 {
		return h
	}
	return 1
}

// A depList collects the dependencies of a value, each once: their ids, which the
// tracker checks, and, when keepNames is set, their canonical names, which a hub's
// Store needs to carry them to other processes.
type depList struct {
	ids       []uint64
	names     []string
	keepNames bool
}

// add adds the dependency named name.
func (l *depList) add(name string) {
	l.addID(depID(name))
	if l.keepNames {
		l.addName(name)
	}
}

func (l *depList) addID(id uint64) {
	if !slices.Contains(l.ids, id) {
		l.ids = append(l.ids, id)
	}
}

func (l *depList) addName(name string) {
	if l.keepNames && !slices.Contains(l.names, name) {
		l.names = append(l.names, name)
	}
}

// addDeps adds the valid deps and the schemes of their scopes. It returns the first
// invalid dependency's error (or unregistered scope's) and still adds the valid ones.
func (l *depList) addDeps(deps []Dep, s *schemes) error {
	var err error
	l.ids, err = appendDepIDs(l.ids, deps, s)
	if l.keepNames {
		l.names = appendDepNames(l.names, deps, s)
	}
	return err
}

// appendDepIDs appends to ids, each once, the ids of the valid deps and of the
// schemes of their scopes. It returns the first invalid dependency's error (or
// unregistered scope's) and still appends the valid ones. It is a function of values,
// not a method, so that ids may live on the caller's stack (Set).
func appendDepIDs(ids []uint64, deps []Dep, s *schemes) ([]uint64, error) {
	var first error
	add := func(id uint64) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, d := range deps {
		if err := d.Err(); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		add(d.id) // valid, so made by makeDep or schemeDep, which set it
		if d.isScope() {
			scheme, err := s.schemeOf(d.s)
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			add(depID(scheme))
		}
	}
	return ids, first
}

// appendDepNames is appendDepIDs for names; it leaves errors to appendDepIDs.
func appendDepNames(names []string, deps []Dep, s *schemes) []string {
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, d := range deps {
		if d.Err() != nil {
			continue
		}
		add(d.s)
		if d.isScope() {
			if scheme, err := s.schemeOf(d.s); err == nil {
				add(scheme)
			}
		}
	}
	return names
}

func (l depList) clone() depList {
	return depList{ids: slices.Clone(l.ids), names: slices.Clone(l.names), keepNames: l.keepNames}
}

// isScope reports whether d is a scope, without parsing its kind.
func (d Dep) isScope() bool {
	return len(d.s) > len(kindScope) && d.s[len(kindScope)] == ':' && d.s[:len(kindScope)] == kindScope
}
