package fresh_test

import (
	"testing"
	"time"

	"github.com/freshcache/fresh"
)

func TestDepString(t *testing.T) {
	when := time.Date(2026, 11, 21, 10, 30, 0, 5, time.FixedZone("x", 3600))
	type status string
	cases := []struct {
		d    fresh.Dep
		want string
	}{
		{fresh.Tag("homepage"), "tag:homepage"},
		{fresh.Tag(`a:b,c=d\e`), `tag:a\:b\,c\=d\\e`},
		{fresh.Table("articles"), "table:articles"},
		{fresh.Entity("articles", 42), "entity:articles:i42"},
		{fresh.Entity("articles", uint8(42)), "entity:articles:i42"},
		{fresh.Entity("articles", "42"), "entity:articles:s42"},
		{fresh.Entity("articles", []byte("42")), "entity:articles:s42"},
		{fresh.Entity("t", 1.5), "entity:t:f1.5"},
		{fresh.Entity("t", nil), "entity:t:n"},
		{fresh.Entity("t", when), `entity:t:t2026-11-21T09\:30\:00.000000005Z`},
		{fresh.Entity("t", status("open")), "entity:t:sopen"},
		{fresh.Scope("articles", fresh.Eq("published", true), fresh.Eq("category", "go")), "scope:articles:category=sgo,published=b1"},
		{fresh.Scope("articles", fresh.Eq("category", "go"), fresh.Eq("published", true)), "scope:articles:category=sgo,published=b1"},
		{fresh.Scope("articles"), "table:articles"},
	}
	for _, tc := range cases {
		if err := tc.d.Err(); err != nil {
			t.Errorf("%q: %v", tc.want, err)
			continue
		}
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
		back, err := fresh.ParseDep(tc.d.String())
		if err != nil || back != tc.d {
			t.Errorf("ParseDep(%q) = %v, %v; want the same Dep", tc.d.String(), back, err)
		}
	}
}

func TestDepErrors(t *testing.T) {
	bad := map[string]fresh.Dep{
		"empty tag":        fresh.Tag(""),
		"empty table":      fresh.Table(""),
		"unsupported id":   fresh.Entity("t", struct{}{}),
		"NaN":              fresh.Entity("t", nanValue()),
		"repeated column":  fresh.Scope("t", fresh.Eq("a", 1), fresh.Eq("a", 2)),
		"empty column":     fresh.Scope("t", fresh.Eq("", 1)),
		"zero Dep":         {},
		"slice id":         fresh.Entity("t", []int{1}),
		"empty scope name": fresh.Scope("", fresh.Eq("a", 1)),
	}
	for name, d := range bad {
		if d.Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, s := range []string{"", "tag", "tag:", "nope:x", "entity:t", "entity:t:q1", "entity:t:i1x", "scope:t:b=i2,a=i1",
		"scope:t:a=i1,a=i2", `tag:a\`, `tag:a\x`, "entity:t:f1.50", "entity:t:i01", "table:a:b", "scope:t:", "entity:t:b2"} {
		if d, err := fresh.ParseDep(s); err == nil {
			t.Errorf("ParseDep(%q) = %v; want an error", s, d)
		}
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

// FuzzDep checks that the canonical form is collision-free: two Deps built from
// different parts never print alike, and parsing a printed Dep gives it back.
func FuzzDep(f *testing.F) {
	f.Add(uint8(0), "a", "b", "c", int64(1), uint8(1), "a", "b", "c", int64(1))
	f.Add(uint8(3), "t:1", "a,b", "x=y", int64(-5), uint8(3), "t", "1:a", "b,x", int64(5))
	f.Add(uint8(2), `a\`, `:`, `=`, int64(0), uint8(2), `a\:`, ``, `=`, int64(0))
	f.Fuzz(func(t *testing.T, k1 uint8, a1, b1, c1 string, n1 int64, k2 uint8, a2, b2, c2 string, n2 int64) {
		d1, parts1 := build(k1, a1, b1, c1, n1)
		d2, parts2 := build(k2, a2, b2, c2, n2)
		for _, d := range []fresh.Dep{d1, d2} {
			if d.Err() != nil {
				continue
			}
			back, err := fresh.ParseDep(d.String())
			if err != nil || back != d {
				t.Fatalf("ParseDep(%q) = %v, %v", d.String(), back, err)
			}
		}
		if d1.Err() != nil || d2.Err() != nil {
			return
		}
		if (d1.String() == d2.String()) != (parts1 == parts2) {
			t.Fatalf("%q from %v and %q from %v", d1.String(), parts1, d2.String(), parts2)
		}
	})
}

// depParts is a normalised description of a Dep's parts, to compare Deps built in
// different ways.
type depParts struct {
	kind            uint8
	table, c1, c2   string
	v1, v2          string
	n1, n2          int64
	v1isInt, v2Kind uint8
}

// build makes a Dep of one of several kinds from fuzz input, and its parts.
func build(kind uint8, a, b, c string, n int64) (fresh.Dep, depParts) {
	switch kind % 6 {
	case 0:
		return fresh.Tag(a), depParts{kind: 0, table: a}
	case 1:
		return fresh.Table(a), depParts{kind: 1, table: a}
	case 2:
		return fresh.Entity(a, b), depParts{kind: 2, table: a, v1: b}
	case 3:
		return fresh.Entity(a, n), depParts{kind: 2, table: a, n1: n, v1isInt: 1}
	case 4:
		return fresh.Scope(a, fresh.Eq(b, c)), depParts{kind: 4, table: a, c1: b, v1: c}
	default:
		// Two columns, in either order: the parts are normalised to sorted order.
		p := depParts{kind: 5, table: a, c1: b, c2: c, v1: c, n2: n, v2Kind: 1}
		d := fresh.Scope(a, fresh.Eq(b, c), fresh.Eq(c, n))
		if c < b {
			p = depParts{kind: 5, table: a, c1: c, c2: b, n1: n, v1isInt: 1, v2: c}
		}
		return d, p
	}
}

// FuzzParseDep: ParseDep never panics, and accepts only canonical forms.
func FuzzParseDep(f *testing.F) {
	for _, s := range []string{"tag:a", `tag:a\:b`, "entity:t:i1", "scope:t:a=b1,b=sx", "entity:t:t2026-01-02T03\\:04\\:05Z", "table:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := fresh.ParseDep(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDep(%q) accepted a non-canonical form of %q", s, d.String())
		}
	})
}
