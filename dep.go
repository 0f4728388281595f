package fresh

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshcache/fresh/internal/wire"
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
	id  uint64 // depID(s), computed once by makeDep or schemeDep, the only makers of a valid Dep
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
// A VALUE is typed, and values that a database or JSON may hand over in different Go
// types but that are the same SQL value print alike, so that a row change coming from
// a driver reaches the dependencies declared at fill time:
//
//   - i<decimal> for every Go integer; for a float holding an integer (42.0, a JSON
//     number) that fits an int64 or a uint64; for a bool (true is i1, false i0, as SQL
//     stores them); and for the strings "true" and "false" (in any case) and "t" and
//     "f" (PostgreSQL's text form of booleans).
//   - f<float> for other finite floats, in the shortest form that reads back the same
//     float64 (a float32 in the shortest form that reads back the same float32); -0 is
//     0, and NaN and infinities are errors.
//   - A string whose whole text is a plain decimal number (an optional '-', digits,
//     optionally '.' and digits: "42", "042", "-4.50"; no exponent, sign '+' or spaces)
//     prints as that number: "42" is i42 and "4.50" is f4.5.
//   - t<RFC 3339 time in UTC, with nanoseconds> for a time.Time, and for a string that
//     spells a time as databases return it: "2006-01-02 15:04:05", with a 'T' for the
//     space, an optional fraction of up to nine digits and an optional zone (Z or an
//     offset such as -07, +05:30 or -07:00:00; without one the time is UTC), or a
//     date "2006-01-02" (midnight UTC). Times outside the years 0 to 9999 in UTC are
//     errors (strings that spell one stay strings).
//   - s<string> for other strings, lowercased when the string is a UUID in the form
//     8-4-4-4-12 hex digits. A [16]byte, or any array of 16 bytes such as a UUID type,
//     prints as that lowercase UUID string.
//   - []byte and other byte slices and arrays print as the string they hold, by the
//     rules above (drivers return numbers and times as text in []byte).
//   - n for nil and for a nil pointer; another pointer prints as what it points to.
//   - A database/sql/driver.Valuer (sql.NullInt64, a UUID type of a driver...) prints
//     as the value its Value method returns; an error from Value is an error.
//
// Other types are errors. Treating a string and a number as one value can only make
// an invalidation reach more than needed (a column holds values of one SQL type),
// never less.
//
// A Dep whose canonical form is longer than 64 KiB is invalid, because it could not
// travel on a bus to other processes.
func (d Dep) String() string { return d.s }

// Err reports why d is invalid (an unsupported value type, an empty name, a repeated
// scope column, a canonical form too long for a bus), or nil. Calls that take an
// invalid Dep return this error.
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
	return makeDep(kindTag + ":" + escape(name))
}

// Table returns the dependency on a whole table: it is invalidated by every row change
// of the table (InvalidateRows). Use it for values such as counts and aggregates.
func Table(table string) Dep {
	if table == "" {
		return Dep{err: errors.New("fresh: empty table name")}
	}
	return makeDep(kindTable + ":" + escape(table))
}

// Entity returns the dependency on one row or object, identified by its table and
// primary key, for example Entity("articles", 42). Keys that are the same SQL value are
// the same Entity whatever their Go type, so that the rows a driver returns find it:
// Entity("a", 42) == Entity("a", int64(42)) == Entity("a", float64(42)) ==
// Entity("a", "42") == Entity("a", []byte("42")), and a UUID is the same as a [16]byte,
// a string in any case or a driver.Valuer. Dep.String lists the rules.
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
	return makeDep(string(b))
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
// The order of the conditions does not matter, and values compare as in Entity: a
// condition on true matches a row whose column holds 1 or "t", and one on 42 a row
// holding "42". A row change invalidates the scope when its old or its new row
// matches, provided the scope's set of columns (its scheme) was registered for the
// table (see TableSchema). A Scope with no conditions is Table(table).
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
	return makeDep(string(b))
}

// makeDep returns the Dep of canonical form s, or an invalid Dep when s is longer than
// a bus item may be: an invalidation that other processes could never receive is
// refused where it is made, rather than applied in this process alone.
func makeDep(s string) Dep {
	if len(s) > wire.MaxItemLen {
		kind, _, _ := strings.Cut(s, ":")
		return Dep{err: fmt.Errorf("fresh: %s dependency of %d bytes is too long (the limit is %d)", kind, len(s), wire.MaxItemLen)}
	}
	return Dep{s: s, id: depID(s)}
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
	return Dep{s: string(b), id: depID(string(b))}
}

// ParseDep parses the canonical form printed by Dep.String. ParseDep(d.String()) == d
// for every valid d, and every string ParseDep accepts is the canonical form of the Dep
// it returns.
func ParseDep(s string) (Dep, error) {
	if len(s) > wire.MaxItemLen {
		// Refused before parsing, and quoted only in part: it may be any size.
		return Dep{}, fmt.Errorf("fresh: parse dep %.80q: %d bytes is too long (the limit is %d)", s, len(s), wire.MaxItemLen)
	}
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

// maxValueDepth bounds how many pointers and driver.Valuer results appendValue follows,
// so that a Valuer returning itself (or a pointer type pointing to itself) is an error
// instead of an endless loop.
const maxValueDepth = 16

// appendValue appends the typed canonical form of v (the rules are in Dep.String). It
// follows pointers and Valuers in a loop rather than by recursion, which would make
// the buffer escape to the heap.
func appendValue(b []byte, v any) ([]byte, error) {
	for range maxValueDepth {
		if nb, ok, err := appendCommon(b, v); ok {
			return nb, err
		}
		inner, ok, err := underlying(v)
		if err != nil {
			return b, err
		}
		if !ok {
			return appendByKind(b, v)
		}
		v = inner
	}
	return b, fmt.Errorf("value of type %T: more than %d pointers or driver.Valuer results deep", v, maxValueDepth)
}

// appendCommon appends a value of one of the common types, without reflection, and
// reports whether v was of one.
func appendCommon(b []byte, v any) ([]byte, bool, error) {
	var err error
	switch x := v.(type) {
	case nil:
		b = append(b, 'n')
	case string:
		b = appendText(b, x)
	case []byte:
		b = appendText(b, string(x))
	case int:
		b = appendInt(b, int64(x))
	case int64:
		b = appendInt(b, x)
	case int32:
		b = appendInt(b, int64(x))
	case uint64:
		b = strconv.AppendUint(append(b, 'i'), x, 10)
	case bool:
		b = appendBool(b, x)
	case time.Time:
		b, err = appendTime(b, x)
	case float64:
		b, err = appendFloat(b, x)
	case float32:
		b, err = appendFloat32(b, x)
	case [16]byte:
		b = appendUUID(b, x)
	default:
		return b, false, nil
	}
	return b, true, err
}

// underlying returns the value that v stands for when v is a driver.Valuer (asked
// first: its Value is what the database stores, whatever the kind of its Go type) or a
// pointer, and reports whether it is one of those.
func underlying(v any) (any, bool, error) {
	if vr, ok := v.(driver.Valuer); ok {
		// Value methods with a value receiver panic on a nil pointer; database/sql
		// stores such a pointer as NULL, and so does this.
		if rv := reflect.ValueOf(vr); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, true, nil
		}
		inner, err := vr.Value()
		if err != nil {
			return nil, false, fmt.Errorf("value of type %T: %w", vr, err)
		}
		return inner, true, nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, true, nil
		}
		return rv.Elem().Interface(), true, nil
	}
	return nil, false, nil
}

// appendByKind appends a value of a named or less common type, by its kind.
func appendByKind(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(append(b, 'i'), rv.Uint(), 10), nil
	case reflect.Float32:
		return appendFloat32(b, float32(rv.Float()))
	case reflect.Float64:
		return appendFloat(b, rv.Float())
	case reflect.String:
		return appendText(b, rv.String()), nil
	case reflect.Bool:
		return appendBool(b, rv.Bool()), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return appendText(b, string(rv.Bytes())), nil
		}
	case reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return appendByteArray(b, rv), nil
		}
	}
	return b, fmt.Errorf("unsupported value type %T", v)
}

// appendByteArray appends an array of bytes: a 16-byte one is a UUID (the type UUID
// packages use), any other is the string of its bytes.
func appendByteArray(b []byte, rv reflect.Value) []byte {
	buf := make([]byte, rv.Len())
	for i := range buf {
		buf[i] = byte(rv.Index(i).Uint())
	}
	if len(buf) == 16 {
		return appendUUID(b, [16]byte(buf))
	}
	return appendText(b, string(buf))
}

func appendInt(b []byte, n int64) []byte {
	return strconv.AppendInt(append(b, 'i'), n, 10)
}

// appendBool appends a boolean as the integer SQL stores it as, so that a boolean
// column read by a driver that returns integers (MySQL, SQLite) matches.
func appendBool(b []byte, x bool) []byte {
	if x {
		return append(b, 'i', '1')
	}
	return append(b, 'i', '0')
}

// appendFloat appends a float as an integer when it holds one that an int64 or a
// uint64 can hold (JSON decodes every number to a float64), else in the shortest form
// that reads back the same float.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("unsupported float value %v", f)
	}
	if f == math.Trunc(f) {
		// The bounds are powers of two, exact as float64; -0 becomes 0.
		if f >= math.MinInt64 && f < math.MaxInt64+1 {
			return appendInt(b, int64(f)), nil
		}
		if f > 0 && f < math.MaxUint64+1 {
			return strconv.AppendUint(append(b, 'i'), uint64(f), 10), nil
		}
	}
	return strconv.AppendFloat(append(b, 'f'), f, 'g', -1, 64), nil
}

// appendFloat32 appends a float32 as the float64 of its shortest decimal form, which is
// what a driver returning the column as text gives: float32(0.1) is f0.1, not the
// float64 0.10000000149011612 that it converts to.
func appendFloat32(b []byte, f float32) ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return b, fmt.Errorf("unsupported float value %v", f)
	}
	f64, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return b, err
	}
	return appendFloat(b, f64)
}

// appendTime appends a time in UTC. Years outside 0 to 9999 are refused because RFC
// 3339 cannot spell them, and ParseDep could not read them back.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("time %v: year outside 0 to 9999", t)
	}
	return appendEscaped(append(b, 't'), t.Format(time.RFC3339Nano)), nil
}

const hexDigits = "0123456789abcdef"

// appendUUID appends the 16 bytes u as a lowercase 8-4-4-4-12 UUID string.
func appendUUID(b []byte, u [16]byte) []byte {
	b = append(b, 's')
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendText appends a string value, which drivers and JSON also use for numbers,
// booleans, UUIDs and times: when the text spells one of those, it is printed as that
// value would be. The first byte tells which parsers can match, so that most strings
// are printed after a single comparison.
func appendText(b []byte, s string) []byte {
	if s == "" {
		return append(b, 's')
	}
	switch c := s[0]; {
	case c == '-' || isDigit(c):
		if nb, ok := appendNumberText(b, s); ok {
			return nb
		}
		if t, ok := parseTimeText(s); ok {
			if nb, err := appendTime(b, t); err == nil {
				return nb
			}
		}
	case c == 't' || c == 'T' || c == 'f' || c == 'F':
		if x, ok := parseBoolText(s); ok {
			return appendBool(b, x)
		}
	}
	if len(s) == 36 && isHex(s[0]) && isUUIDText(s) {
		return appendLowerUUID(b, s)
	}
	return appendEscaped(append(b, 's'), s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// parseBoolText reads the texts of a boolean: true and false in any case (JSON, MySQL
// and SQLite spellings) and t and f (PostgreSQL's text format).
func parseBoolText(s string) (x, ok bool) {
	switch {
	case s == "t" || strings.EqualFold(s, "true"):
		return true, true
	case s == "f" || strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// isUUIDText reports whether s is a UUID in the 8-4-4-4-12 hex form.
func isUUIDText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// appendLowerUUID appends a UUID text in lowercase: it is hexadecimal, its case
// carries no meaning. It has no separator to escape.
func appendLowerUUID(b []byte, s string) []byte {
	b = append(b, 's')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// appendNumberText appends s as a number when it is a plain decimal: an optional '-',
// digits, and optionally '.' and digits. An integer is read exactly, beyond the 53
// bits a float64 keeps; a number that does not fit a float64 stays a string.
func appendNumberText(b []byte, s string) ([]byte, bool) {
	intPart, frac, ok := splitDecimal(s)
	if !ok {
		return b, false
	}
	if strings.Trim(frac, "0") == "" {
		if n, err := strconv.ParseInt(intPart, 10, 64); err == nil {
			return appendInt(b, n), true
		}
		if n, err := strconv.ParseUint(intPart, 10, 64); err == nil {
			return strconv.AppendUint(append(b, 'i'), n, 10), true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return b, false
	}
	nb, err := appendFloat(b, f)
	return nb, err == nil
}

// splitDecimal splits a plain decimal number into its signed integer part and the
// digits after its point, or reports that s is not one.
func splitDecimal(s string) (intPart, frac string, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return "", "", false
	}
	intPart = s[:i]
	if i == len(s) {
		return intPart, "", true
	}
	if s[i] != '.' || i+1 == len(s) {
		return "", "", false
	}
	frac = s[i+1:]
	for j := 0; j < len(frac); j++ {
		if !isDigit(frac[j]) {
			return "", "", false
		}
	}
	return intPart, frac, true
}

// parseTimeText reads the texts of a time that databases return: a date
// "2006-01-02" (midnight UTC), or "2006-01-02 15:04:05" with a 'T' or a space, an
// optional fraction of 1 to 9 digits and an optional zone Z, ±07, ±07:00 or
// ±07:00:00 (UTC when absent). Fields out of range (a 13th month, a 31st of April)
// make it not a time. Only fixed byte positions are checked before any field is read,
// so that an ordinary string is rejected at once.
func parseTimeText(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	if len(s) > 10 && (len(s) < 19 || s[10] != ' ' && s[10] != 'T' || s[13] != ':' || s[16] != ':') {
		return time.Time{}, false
	}
	year, ok1 := atoiFixed(s[0:4])
	month, ok2 := atoiFixed(s[5:7])
	day, ok3 := atoiFixed(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	var hour, minute, sec, nsec, offset int
	if len(s) > 10 {
		var ok4, ok5, ok6, ok7 bool
		hour, ok4 = atoiFixed(s[11:13])
		minute, ok5 = atoiFixed(s[14:16])
		sec, ok6 = atoiFixed(s[17:19])
		nsec, offset, ok7 = parseTimeTail(s[19:])
		if !ok4 || !ok5 || !ok6 || !ok7 || hour > 23 || minute > 59 || sec > 59 {
			return time.Time{}, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Month() != time.Month(month) || t.Day() != day {
		return time.Time{}, false // time.Date normalised an impossible date
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// parseTimeTail reads what may follow the seconds of a time: a fraction, then a zone.
// It returns the nanoseconds and the zone's offset east of UTC in seconds.
func parseTimeTail(s string) (nsec, offset int, ok bool) {
	if s != "" && s[0] == '.' {
		i := 1
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		digits := i - 1
		if digits == 0 || digits > 9 {
			return 0, 0, false
		}
		nsec, _ = atoiFixed(s[1:i])
		for ; digits < 9; digits++ {
			nsec *= 10
		}
		s = s[i:]
	}
	offset, ok = parseZone(s)
	return nsec, offset, ok
}

// parseZone reads a zone: empty (UTC), Z, or a sign and hh, hh:mm or hh:mm:ss
// (PostgreSQL prints the seconds of historical offsets), as seconds east of UTC.
func parseZone(s string) (int, bool) {
	if s == "" || s == "Z" {
		return 0, true
	}
	if (s[0] != '+' && s[0] != '-') || (len(s) != 3 && len(s) != 6 && len(s) != 9) {
		return 0, false
	}
	secs, unit, limit := 0, 3600, 23
	for i := 1; i < len(s); i += 3 {
		if i > 1 && s[i-1] != ':' {
			return 0, false
		}
		n, ok := atoiFixed(s[i : i+2])
		if !ok || n > limit {
			return 0, false
		}
		secs += n * unit
		unit, limit = unit/60, 59
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs, true
}

// atoiFixed reads a string of 1 to 9 ASCII digits, and nothing else.
func atoiFixed(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
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

// value reads a typed value as the Go value that prints it back: nil, an int64 (or a
// uint64 beyond the int64 range), a float64, a string or a time.Time in UTC. Whether
// the spelling was canonical is left to the caller, which prints the result again.
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
	}
	return nil, false
}
