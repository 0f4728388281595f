package fresh_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
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
		{fresh.Entity("articles", "42"), "entity:articles:i42"},
		{fresh.Entity("articles", []byte("42")), "entity:articles:i42"},
		{fresh.Entity("articles", "go"), "entity:articles:sgo"},
		{fresh.Entity("t", 1.5), "entity:t:f1.5"},
		{fresh.Entity("t", nil), "entity:t:n"},
		{fresh.Entity("t", when), `entity:t:t2026-11-21T09\:30\:00.000000005Z`},
		{fresh.Entity("t", status("open")), "entity:t:sopen"},
		{fresh.Scope("articles", fresh.Eq("published", true), fresh.Eq("category", "go")), "scope:articles:category=sgo,published=i1"},
		{fresh.Scope("articles", fresh.Eq("category", "go"), fresh.Eq("published", true)), "scope:articles:category=sgo,published=i1"},
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

// depUUID is the shape of github.com/google/uuid.UUID: a named array of 16 bytes.
type depUUID [16]byte

// depValuer is a driver.Valuer returning v and err, as sql.Null* and driver types do.
type depValuer struct {
	v   any
	err error
}

func (v depValuer) Value() (driver.Value, error) { return v.v, v.err }

// depSelfValuer is a broken driver.Valuer whose Value is itself.
type depSelfValuer struct{}

func (depSelfValuer) Value() (driver.Value, error) { return depSelfValuer{}, nil }

// depSelfPointer is a pointer type that can point to itself.
type depSelfPointer *depSelfPointer

// TestDepValueEquivalence checks that the Go values a database driver, JSON or the
// caller may give for one SQL value make the same Entity and Scope, and that each
// group of values differs from every other group.
func TestDepValueEquivalence(t *testing.T) {
	type myInt int16
	type myString string
	type myBytes []byte
	u := depUUID{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	const uuidText = "550e8400-e29b-41d4-a716-446655440000"
	when := time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC)
	var nilInt *int
	var nilNull *sql.NullInt64
	groups := []struct {
		want   string // the canonical value
		values []any
	}{
		{"i42", []any{42, int8(42), uint16(42), int64(42), uint64(42), myInt(42), float64(42), float32(42),
			"42", "042", "42.0", "42.000", []byte("42"), myBytes("42"), myString("42"), json.Number("42"),
			sql.RawBytes("42"), sql.NullInt64{Int64: 42, Valid: true}, depValuer{v: "42"}, depPtr(42), depPtr(depPtr("42")),
			depPtr(sql.NullInt64{Int64: 42, Valid: true}), [2]byte{'4', '2'}}},
		{"i-7", []any{-7, float64(-7), "-7", "-07.00", []byte("-7"), json.Number("-7")}},
		{"i0", []any{0, 0.0, depNegZero(), "0", "-0", "0.0", "-0.000", false, "false", "FALSE", "f", []byte("f"), []byte("0")}},
		{"i1", []any{1, 1.0, true, "true", "True", "TRUE", "t", []byte("t"), []byte("1"), myBytes("true"),
			sql.NullBool{Bool: true, Valid: true}, depValuer{v: true}, depPtr(true)}},
		{"i9007199254740993", []any{int64(9007199254740993), "9007199254740993"}},
		{"i18446744073709551615", []any{uint64(18446744073709551615), "18446744073709551615"}},
		{"i9223372036854775808", []any{uint64(1 << 63), float64(1 << 63), "9223372036854775808"}},
		{"f4.5", []any{4.5, float32(4.5), "4.5", "4.50", "04.5", []byte("4.50"), json.Number("4.50"), depValuer{v: 4.5}}},
		{"f0.1", []any{0.1, float32(0.1), "0.1", "0.10", sql.NullFloat64{Float64: 0.1, Valid: true}}},
		{"f-0.25", []any{-0.25, "-0.25", "-00.250"}},
		{"f1e+20", []any{1e20, "100000000000000000000", "100000000000000000000.0"}},
		{"s" + uuidText, []any{u, [16]byte(u), uuidText, strings.ToUpper(uuidText), []byte(uuidText),
			depValuer{v: uuidText}, depValuer{v: strings.ToUpper(uuidText)}, depPtr(u)}},
		{`t2026-01-02T03\:04\:05.12Z`, []any{when, when.In(time.FixedZone("x", -5*3600)), "2026-01-02 03:04:05.12",
			"2026-01-02 03:04:05.120000", []byte("2026-01-02 03:04:05.12"), "2026-01-02T03:04:05.12",
			"2026-01-02T03:04:05.12Z", "2026-01-02T05:04:05.12+02:00", "2026-01-02 05:04:05.12+02",
			"2026-01-01 22:04:05.120-05", "2026-01-02 03:34:05.12+00:30:00", sql.NullTime{Time: when, Valid: true},
			depValuer{v: "2026-01-02 03:04:05.12"}}},
		{`t2026-01-02T00\:00\:00Z`, []any{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "2026-01-02", []byte("2026-01-02"),
			"2026-01-02 00:00:00", "2026-01-02T00:00:00.000Z"}},
		{"n", []any{nil, nilInt, nilNull, sql.NullInt64{}, sql.NullString{}, depValuer{v: nil}}},
		{"sgo", []any{"go", []byte("go"), myString("go"), myBytes("go"), depValuer{v: "go"}, depPtr("go")}},
		{"s", []any{"", []byte{}, []byte(nil)}},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		if prev, dup := seen[g.want]; dup {
			t.Fatalf("groups %d and %d both want %q", prev, gi, g.want)
		}
		seen[g.want] = gi
		for _, v := range g.values {
			e := fresh.Entity("t", v)
			if err := e.Err(); err != nil {
				t.Errorf("Entity(%T %#v): %v", v, v, err)
				continue
			}
			if got, want := e.String(), "entity:t:"+g.want; got != want {
				t.Errorf("Entity(%T %#v) = %q; want %q", v, v, got, want)
			}
			sc := fresh.Scope("t", fresh.Eq("c", v))
			if got, want := sc.String(), "scope:t:c="+g.want; got != want {
				t.Errorf("Scope(Eq(c, %T %#v)) = %q; want %q", v, v, got, want)
			}
			for _, d := range []fresh.Dep{e, sc} {
				if back, err := fresh.ParseDep(d.String()); err != nil || back != d {
					t.Errorf("ParseDep(%q) = %v, %v", d.String(), back, err)
				}
			}
		}
	}
}

// TestDepValuesDiffer checks that different values stay different, including strings
// that only look like numbers, booleans, UUIDs or times.
func TestDepValuesDiffer(t *testing.T) {
	pairs := [][2]any{
		{42, 43}, {"42", "43"}, {42, "43"}, {42, 42.5}, {"4.5", "4.51"}, {4.5, "4.51"}, {"abc", "abd"},
		{"abc", "ABC"}, {true, false}, {true, 2}, {"t", "T"}, {0, nil}, {"", nil}, {"n", nil}, {"0", ""},
		{"42", "+42"}, {"42", " 42"}, {"42", "42 "}, {"42", "4.2e1"}, {"0.5", ".5"}, {"4", "4."}, {"16", "0x10"},
		{"9007199254740993", "9007199254740992"}, {uint64(18446744073709551615), float64(18446744073709551615)},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC)},
		{"2026-01-02 03:04:05", "2026-01-02 03:04:06"}, {"2026-01-02", "2026-01-03"},
		{"550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440001"},
		{[16]byte{1}, [16]byte{2}}, {[16]byte{}, [15]byte{}},
	}
	for _, p := range pairs {
		a, b := fresh.Entity("t", p[0]), fresh.Entity("t", p[1])
		if a.Err() != nil || b.Err() != nil {
			t.Errorf("%#v, %#v: %v, %v", p[0], p[1], a.Err(), b.Err())
			continue
		}
		if a == b {
			t.Errorf("Entity(%T %#v) == Entity(%T %#v) == %q", p[0], p[0], p[1], p[1], a)
		}
	}
}

// TestDepStringsStayStrings checks that strings which are not exactly a plain number,
// a boolean, a UUID or a time print as themselves.
func TestDepStringsStayStrings(t *testing.T) {
	for _, s := range []string{"+42", "4e2", "4E2", " 42", "42 ", "4.", ".5", "-", "--1", "0x10", "1_000", "1,5",
		"1e400", "Inf", "NaN", "yes", "tru", "truee", "F", "ff", "T", "2026-13-01", "2026-02-30", "2026-01-02 24:00:00",
		"2026-01-02 03:04:60", "2026-01-02X03:04:05", "2026-01-02 03:04:05.", "2026-01-02 03:04:05.1234567890",
		"2026-01-02 03:04:05+2", "2026-01-02 03:04:05+24", "2026-01-02 03:04:05+0200", "2026-01-02Z", "0000-01-01 00:00:00+01",
		"550e8400e29b41d4a716446655440000", "550e8400-e29b-41d4-a716-44665544000g", "{550e8400-e29b-41d4-a716-446655440000}",
		"2026/01/02", "1" + strings.Repeat("0", 400)} {
		want := "entity:t:s" + depEscape(s)
		if got := fresh.Entity("t", s).String(); got != want {
			t.Errorf("Entity(%q) = %q; want %q", s, got, want)
		}
	}
}

// depEscape escapes like the canonical form, independently of the package.
func depEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if strings.IndexByte(`\:,=`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

func depPtr[T any](v T) *T { return &v }

func depNegZero() float64 { return math.Copysign(0, -1) }

func TestDepErrors(t *testing.T) {
	bad := map[string]fresh.Dep{
		"empty tag":         fresh.Tag(""),
		"empty table":       fresh.Table(""),
		"unsupported id":    fresh.Entity("t", struct{}{}),
		"NaN":               fresh.Entity("t", nanValue()),
		"repeated column":   fresh.Scope("t", fresh.Eq("a", 1), fresh.Eq("a", 2)),
		"empty column":      fresh.Scope("t", fresh.Eq("", 1)),
		"zero Dep":          {},
		"slice id":          fresh.Entity("t", []int{1}),
		"empty scope name":  fresh.Scope("", fresh.Eq("a", 1)),
		"infinity":          fresh.Entity("t", math.Inf(1)),
		"float32 NaN":       fresh.Entity("t", float32(nanValue())),
		"year 10000":        fresh.Entity("t", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)),
		"year -1":           fresh.Entity("t", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)),
		"Value error":       fresh.Entity("t", depValuer{err: errors.New("boom")}),
		"Value unsupported": fresh.Entity("t", depValuer{v: struct{}{}}),
		"Valuer loop":       fresh.Entity("t", depSelfValuer{}),
		"pointer loop":      fresh.Entity("t", depSelfLoop()),
		"map id":            fresh.Entity("t", map[string]int{}),
		"long tag":          fresh.Tag(strings.Repeat("x", 64<<10)),
		"long table":        fresh.Table(strings.Repeat("x", 64<<10)),
		"long entity":       fresh.Entity("t", strings.Repeat("x", 64<<10)),
		"long scope":        fresh.Scope("t", fresh.Eq("a", strings.Repeat("x", 32<<10)), fresh.Eq("b", strings.Repeat("x", 32<<10))),
	}
	for name, d := range bad {
		if d.Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, s := range []string{"", "tag", "tag:", "nope:x", "entity:t", "entity:t:q1", "entity:t:i1x", "scope:t:b=i2,a=i1",
		"scope:t:a=i1,a=i2", `tag:a\`, `tag:a\x`, "entity:t:f1.50", "entity:t:i01", "table:a:b", "scope:t:", "entity:t:b2",
		// Spellings of values that print otherwise.
		"entity:t:b1", "entity:t:b0", "entity:t:s42", "entity:t:s4.5", "entity:t:f42", "entity:t:f-0", "entity:t:i-0",
		"entity:t:f1e1", "entity:t:strue", "entity:t:st", "entity:t:s550E8400-e29b-41d4-a716-446655440000",
		`entity:t:s2026-01-02`, `entity:t:t2026-01-02T03\:04\:05+01\:00`, `entity:t:t2026-01-02T03\:04\:05.10Z`,
		"entity:t:fInf", "entity:t:fNaN", "entity:t:f0x1p-2", "entity:t:i+1",
		"tag:" + strings.Repeat("x", 64<<10)} {
		if d, err := fresh.ParseDep(s); err == nil {
			t.Errorf("ParseDep(%q) = %v; want an error", s, d)
		}
	}
}

// TestDepTooLong checks the limit: a Dep is valid up to 64 KiB and refused beyond.
func TestDepTooLong(t *testing.T) {
	name := strings.Repeat("x", 64<<10-len("tag:"))
	if d := fresh.Tag(name); d.Err() != nil {
		t.Fatalf("a tag of 64 KiB: %v", d.Err())
	}
	d := fresh.Tag(name + "x")
	if d.Err() == nil || !strings.Contains(d.Err().Error(), "too long") {
		t.Fatalf("a tag of 64 KiB + 1: Err() = %v; want too long", d.Err())
	}
	if d.String() != "" || d.Kind() != "" {
		t.Fatalf("an invalid Dep has String %q, Kind %q", d.String(), d.Kind())
	}
	// Escaping counts: 32 KiB of colons is 64 KiB escaped.
	if d := fresh.Entity("t", strings.Repeat(":", 32<<10)); d.Err() == nil {
		t.Fatal("an entity escaped beyond 64 KiB is valid")
	}
}

func depSelfLoop() depSelfPointer {
	var p depSelfPointer
	p = &p
	return p
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
// different ways. Values are kept as their canonical spelling, which
// TestDepValueEquivalence checks: "5" and 5 are one value, so that the fuzz target
// tests how tables, columns and values are put together, not which values are equal.
type depParts struct {
	kind          uint8
	table, c1, c2 string
	v1, v2        string
}

// valuePart returns the canonical spelling of a value.
func valuePart(v any) string {
	return strings.TrimPrefix(fresh.Entity("v", v).String(), "entity:v:")
}

// build makes a Dep of one of several kinds from fuzz input, and its parts.
func build(kind uint8, a, b, c string, n int64) (fresh.Dep, depParts) {
	switch kind % 6 {
	case 0:
		return fresh.Tag(a), depParts{kind: 0, table: a}
	case 1:
		return fresh.Table(a), depParts{kind: 1, table: a}
	case 2:
		return fresh.Entity(a, b), depParts{kind: 2, table: a, v1: valuePart(b)}
	case 3:
		return fresh.Entity(a, n), depParts{kind: 2, table: a, v1: valuePart(n)}
	case 4:
		return fresh.Scope(a, fresh.Eq(b, c)), depParts{kind: 4, table: a, c1: b, v1: valuePart(c)}
	default:
		// Two columns, in either order: the parts are normalised to sorted order.
		p := depParts{kind: 5, table: a, c1: b, c2: c, v1: valuePart(c), v2: valuePart(n)}
		d := fresh.Scope(a, fresh.Eq(b, c), fresh.Eq(c, n))
		if c < b {
			p = depParts{kind: 5, table: a, c1: c, c2: b, v1: valuePart(n), v2: valuePart(c)}
		}
		return d, p
	}
}

// FuzzDepValue checks the canonical value of a string: a string and its bytes are
// the same value, a string that is an integer without a sign '+' is that integer, and
// every Entity reads back through ParseDep.
func FuzzDepValue(f *testing.F) {
	for _, s := range []string{"42", "-0", "4.50", "true", "t", "abc", "550E8400-e29b-41d4-a716-446655440000",
		"2026-01-02 03:04:05.123456+02", "2026-01-02", "1e5", "0000-01-01T00:00:00+01:00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := fresh.Entity("t", s)
		if err := d.Err(); err != nil {
			t.Fatalf("Entity(%q): %v", s, err)
		}
		if b := fresh.Entity("t", []byte(s)); b != d {
			t.Fatalf("Entity(%q) = %q but its bytes give %q", s, d, b)
		}
		// ParseInt also reads a leading '+', which the canonical form leaves a string.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && s[0] != '+' {
			if i := fresh.Entity("t", n); i != d {
				t.Fatalf("Entity(%q) = %q but Entity(%d) = %q", s, d, n, i)
			}
		}
		if back, err := fresh.ParseDep(d.String()); err != nil || back != d {
			t.Fatalf("ParseDep(%q) = %v, %v", d.String(), back, err)
		}
	})
}

// FuzzParseDep: ParseDep never panics, and accepts only canonical forms.
func FuzzParseDep(f *testing.F) {
	for _, s := range []string{"tag:a", `tag:a\:b`, "entity:t:i1", "scope:t:a=i1,b=sx", "entity:t:f4.5",
		"entity:t:s550e8400-e29b-41d4-a716-446655440000", "entity:t:t2026-01-02T03\\:04\\:05Z", "table:x",
		"entity:t:s2026-01-02", `entity:t:s0000-01-01 00\:00\:00+01`, "entity:t:sT"} {
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
