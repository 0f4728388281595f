package fresh

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Dep is something cached values depend on: a tag, an entity (one row), a table, or
// a scope (the rows of a table matching an equality conjunction). Invalidating a Dep
// stops every value that depends on it from being served, in this process and, through
// a Bus, in every other.
//
// Each Dep has one canonical string form (String), and two different Deps never have
// the same form. Deps are comparable values; the zero Dep is invalid.
type Dep struct {
	s   string
	err error
}

// String returns the canonical form of d, the form that travels on a bus and that
// ParseDep reads. The grammar, with each name and string value escaped so that the
// separators \ : , = never appear unescaped:
//
//	tag:NAME
//	table:TABLE
//	entity:TABLE:VALUE
//	scope:TABLE:COL=VALUE,COL=VALUE...   (columns sorted, each at most once)
//
// A VALUE is typed: i<decimal> for every Go integer type, f<float> for floats,
// s<string> for strings and []byte, b0 or b1 for booleans, t<RFC 3339 time in UTC>
// for time.Time, n for nil.
func (d Dep) String() string { return d.s }

// Err reports why d is invalid (an unsupported value type, an empty name, a repeated
// scope column), or nil. Calls that take an invalid Dep return this error.
func (d Dep) Err() error {
	if d.err == nil && d.s == "" {
		return errZeroDep
	}
	return d.err
}

// Kind reports the kind of d: "tag", "table", "entity", "scope" or "" for an invalid Dep.
func (d Dep) Kind() string {
	if d.err != nil {
		return ""
	}
	k, _, _ := strings.Cut(d.s, ":")
	return k
}

var errZeroDep = errors.New("fresh: zero Dep")

const (
	kindTag    = "tag"
	kindTable  = "table"
	kindEntity = "entity"
	kindScope  = "scope"
	// kindScheme is internal: every value that depends on a scope also depends on its
	// scheme, so that a row change that cannot say which scopes it touches (a column of
	// the scheme is missing from the row) invalidates all of them rather than none.
	kindScheme = "scheme"
)

// Tag returns a free-form dependency, for example Tag("homepage").
func Tag(name string) Dep {
	if name == "" {
		return Dep{err: errors.New("fresh: empty tag")}
	}
	return Dep{s: kindTag + ":" + escape(name)}
}

// Table returns the dependency on a whole table: it is invalidated by every row change
// of the table (InvalidateRows). Use it for values such as counts and aggregates.
func Table(table string) Dep {
	if table == "" {
		return Dep{err: errors.New("fresh: empty table name")}
	}
	return Dep{s: kindTable + ":" + escape(table)}
}

// Entity returns the dependency on one row or object, identified by its table and
// primary key, for example Entity("articles", 42). Integer keys of any Go integer type
// are the same Entity: Entity("a", 42) == Entity("a", int64(42)).
func Entity(table string, id any) Dep {
	if table == "" {
		return Dep{err: errors.New("fresh: empty table name")}
	}
	b := make([]byte, 0, len(kindEntity)+len(table)+16)
	b = append(b, kindEntity...)
	b = append(b, ':')
	b = appendEscaped(b, table)
	b = append(b, ':')
	b, err := appendValue(b, id)
	if err != nil {
		return Dep{err: fmt.Errorf("fresh: entity %s: %w", table, err)}
	}
	return Dep{s: string(b)}
}

// A Cond is one column = value condition of a Scope.
type Cond struct {
	Col string
	Val any
}

// Eq returns the condition col = val.
func Eq(col string, val any) Cond { return Cond{Col: col, Val: val} }

// Scope returns the dependency on the rows of table matching every condition, for
// example the list of published Go articles:
//
//	fresh.Scope("articles", fresh.Eq("published", true), fresh.Eq("category", "go"))
//
// The order of the conditions does not matter. A row change invalidates the scope when
// its old or its new row matches, provided the scope's set of columns (its scheme) was
// registered for the table (see TableSchema). A Scope with no conditions is Table(table).
func Scope(table string, conds ...Cond) Dep {
	if len(conds) == 0 {
		return Table(table)
	}
	if table == "" {
		return Dep{err: errors.New("fresh: empty table name")}
	}
	sorted := slices.Clone(conds)
	slices.SortFunc(sorted, func(a, b Cond) int { return strings.Compare(a.Col, b.Col) })
	b := make([]byte, 0, 64)
	b = append(b, kindScope...)
	b = append(b, ':')
	b = appendEscaped(b, table)
	b = append(b, ':')
	for i, c := range sorted {
		if c.Col == "" {
			return Dep{err: fmt.Errorf("fresh: scope %s: empty column name", table)}
		}
		if i > 0 {
			if sorted[i-1].Col == c.Col {
				return Dep{err: fmt.Errorf("fresh: scope %s: column %q given twice", table, c.Col)}
			}
			b = append(b, ',')
		}
		b = appendEscaped(b, c.Col)
		b = append(b, '=')
		var err error
		if b, err = appendValue(b, c.Val); err != nil {
			return Dep{err: fmt.Errorf("fresh: scope %s column %s: %w", table, c.Col, err)}
		}
	}
	return Dep{s: string(b)}
}

// schemeDep returns the internal dependency shared by every scope of table over the
// sorted columns cols.
func schemeDep(table string, cols []string) Dep {
	b := make([]byte, 0, 64)
	b = append(b, kindScheme...)
	b = append(b, ':')
	b = appendEscaped(b, table)
	b = append(b, ':')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEscaped(b, c)
	}
	return Dep{s: string(b)}
}

// ParseDep parses the canonical form printed by Dep.String. ParseDep(d.String()) == d
// for every valid d, and every string ParseDep accepts is the canonical form of the Dep
// it returns.
func ParseDep(s string) (Dep, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Dep{}, fmt.Errorf("fresh: parse dep %q: no kind", s)
	}
	fail := func(why string) (Dep, error) {
		return Dep{}, fmt.Errorf("fresh: parse dep %q: %s", s, why)
	}
	p := parser{s: rest}
	var d Dep
	switch kind {
	case kindTag:
		name, ok := p.name()
		if !ok || !p.done() {
			return fail("bad tag")
		}
		d = Tag(name)
	case kindTable:
		name, ok := p.name()
		if !ok || !p.done() {
			return fail("bad table")
		}
		d = Table(name)
	case kindEntity:
		table, ok := p.name()
		if !ok || !p.expect(':') {
			return fail("bad entity table")
		}
		v, ok := p.value()
		if !ok || !p.done() {
			return fail("bad entity value")
		}
		d = Entity(table, v)
	case kindScope:
		table, ok := p.name()
		if !ok || !p.expect(':') {
			return fail("bad scope table")
		}
		var conds []Cond
		for {
			col, ok := p.name()
			if !ok || !p.expect('=') {
				return fail("bad scope column")
			}
			v, ok := p.value()
			if !ok {
				return fail("bad scope value")
			}
			conds = append(conds, Eq(col, v))
			if p.done() {
				break
			}
			if !p.expect(',') {
				return fail("bad scope separator")
			}
		}
		d = Scope(table, conds...)
	default:
		return fail("unknown kind")
	}
	if d.err != nil {
		return Dep{}, fmt.Errorf("fresh: parse dep %q: %w", s, d.err)
	}
	if d.s != s {
		// Accept only the canonical spelling (sorted columns, canonical numbers), so
		// that parsing and printing are inverse.
		return fail("not in canonical form")
	}
	return d, nil
}

const specials = `\:,=`

func escape(s string) string {
	if !strings.ContainsAny(s, specials) {
		return s
	}
	return string(appendEscaped(nil, s))
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(specials, s[i]) >= 0 {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return b
}

// appendValue appends the typed canonical form of v.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), nil
	case string:
		return appendEscaped(append(b, 's'), x), nil
	case []byte:
		return appendEscaped(append(b, 's'), string(x)), nil
	case int:
		return strconv.AppendInt(append(b, 'i'), int64(x), 10), nil
	case int64:
		return strconv.AppendInt(append(b, 'i'), x, 10), nil
	case int32:
		return strconv.AppendInt(append(b, 'i'), int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(append(b, 'i'), x, 10), nil
	case bool:
		if x {
			return append(b, 'b', '1'), nil
		}
		return append(b, 'b', '0'), nil
	case time.Time:
		return appendEscaped(append(b, 't'), x.UTC().Format(time.RFC3339Nano)), nil
	case float64:
		return appendFloat(b, x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(append(b, 'i'), rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(append(b, 'i'), rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(b, rv.Float())
	case reflect.String:
		return appendEscaped(append(b, 's'), rv.String()), nil
	case reflect.Bool:
		return appendValue(b, rv.Bool())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return appendEscaped(append(b, 's'), string(rv.Bytes())), nil
		}
	case reflect.Pointer:
		if rv.IsNil() {
			return append(b, 'n'), nil
		}
		return appendValue(b, rv.Elem().Interface())
	}
	return b, fmt.Errorf("unsupported value type %T", v)
}

func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("unsupported float value %v", f)
	}
	if f == 0 {
		f = 0 // -0 and +0 are the same value
	}
	return strconv.AppendFloat(append(b, 'f'), f, 'g', -1, 64), nil
}

// parser reads the escaped names and typed values of a canonical dep string.
type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i == len(p.s) }

func (p *parser) expect(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// name reads an escaped string up to the next unescaped separator.
func (p *parser) name() (string, bool) {
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '\\' {
			if p.i+1 >= len(p.s) || strings.IndexByte(specials, p.s[p.i+1]) < 0 {
				return "", false
			}
			b = append(b, p.s[p.i+1])
			p.i += 2
			continue
		}
		if strings.IndexByte(specials, c) >= 0 {
			break
		}
		b = append(b, c)
		p.i++
	}
	return string(b), true
}

func (p *parser) value() (any, bool) {
	if p.i >= len(p.s) {
		return nil, false
	}
	tag := p.s[p.i]
	p.i++
	switch tag {
	case 'n':
		return nil, true
	case 's':
		return p.name()
	case 't':
		raw, ok := p.name()
		if !ok {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, raw)
		return t, err == nil
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(specials, p.s[p.i]) < 0 {
		p.i++
	}
	raw := p.s[start:p.i]
	switch tag {
	case 'i':
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			return n, true
		}
		n, err := strconv.ParseUint(raw, 10, 64)
		return n, err == nil
	case 'f':
		f, err := strconv.ParseFloat(raw, 64)
		return f, err == nil
	case 'b':
		switch raw {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	}
	return nil, false
}
