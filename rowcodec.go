package fresh

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/freshcache/fresh/internal/wire"
)

// A row change travels to other processes as one string, because each process
// computes the dependencies it dirties with its own table schemes: the sender cannot
// know which scopes the receivers registered. The form reuses the escaping and the
// typed values of the dependency strings:
//
//	row:TABLE:OLD:NEW
//
// where OLD and NEW are each - for an absent row (an insert has no old row, a delete
// no new one), or + followed by the row's COL=VALUE pairs joined by commas, columns
// sorted and each at most once (a bare + is an empty row). Every value is in its
// canonical form, so the dependencies a receiver computes from the decoded values are
// the ones the sender's own values give, whatever their Go types.

// rowChangePrefix starts every encoded row change, so that it is never mistaken for a
// dependency string, whose kinds are other words.
const rowChangePrefix = "row:"

// encodeRowChange returns the canonical string of rc. An empty table, a change with
// neither row, a value of a type that has no canonical form, or a result longer than a
// bus item may be are errors.
func encodeRowChange(rc RowChange) (string, error) {
	if rc.Table == "" {
		return "", errors.New("fresh: encode row change: empty table name")
	}
	if rc.Old == nil && rc.New == nil {
		return "", fmt.Errorf("fresh: encode row change of %s: neither old nor new row", rc.Table)
	}
	b := make([]byte, 0, 128)
	b = append(b, rowChangePrefix...)
	b = appendEscaped(b, rc.Table)
	for _, row := range []Row{rc.Old, rc.New} {
		b = append(b, ':')
		var err error
		if b, err = appendRow(b, row); err != nil {
			return "", fmt.Errorf("fresh: encode row change of %s: %w", rc.Table, err)
		}
	}
	if len(b) > wire.MaxItemLen {
		return "", fmt.Errorf("fresh: encode row change of %.80q: %d bytes is too long (the limit is %d)", rc.Table, len(b), wire.MaxItemLen)
	}
	return string(b), nil
}

// appendRow appends - for a nil row, else + and the row's sorted columns. It stops at
// the first column that makes the encoding too long, rather than printing a wide row
// whole to refuse it at the end.
func appendRow(b []byte, row Row) ([]byte, error) {
	if row == nil {
		return append(b, '-'), nil
	}
	b = append(b, '+')
	for i, col := range slices.Sorted(maps.Keys(row)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEscaped(b, col)
		b = append(b, '=')
		var err error
		if b, err = appendValue(b, row[col]); err != nil {
			return b, fmt.Errorf("column %s: %w", col, err)
		}
		if len(b) > wire.MaxItemLen {
			return b, fmt.Errorf("longer than the limit of %d bytes", wire.MaxItemLen)
		}
	}
	return b, nil
}

// decodeRowChange parses the string of encodeRowChange. Values come back as the Go
// values the dependency parser gives (int64, uint64, float64, string, time.Time or
// nil), which print as the values they were encoded from. Only canonical strings are
// accepted, so that decoding and encoding are inverse; any other input is an error,
// never a panic.
func decodeRowChange(s string) (RowChange, error) {
	fail := func(why string) (RowChange, error) {
		// The input may be 64 KiB long: quote only its start.
		return RowChange{}, fmt.Errorf("fresh: decode row change %.80q: %s", s, why)
	}
	if len(s) > wire.MaxItemLen {
		return fail("too long")
	}
	rest, ok := strings.CutPrefix(s, rowChangePrefix)
	if !ok {
		return fail("no row: prefix")
	}
	p := parser{s: rest}
	table, ok := p.name()
	if !ok || table == "" || !p.expect(':') {
		return fail("bad table")
	}
	oldRow, ok := parseRow(&p)
	if !ok || !p.expect(':') {
		return fail("bad old row")
	}
	newRow, ok := parseRow(&p)
	if !ok || !p.done() {
		return fail("bad new row")
	}
	rc := RowChange{Table: table, Old: oldRow, New: newRow}
	again, err := encodeRowChange(rc)
	if err != nil {
		return fail(err.Error())
	}
	if again != s {
		// Accept only the canonical spelling (sorted columns, canonical values), so
		// that a row change has one string, as a dependency has.
		return fail("not in canonical form")
	}
	return rc, nil
}

// parseRow reads a row: - for none, or + and COL=VALUE pairs joined by commas.
func parseRow(p *parser) (Row, bool) {
	if p.expect('-') {
		return nil, true
	}
	if !p.expect('+') {
		return nil, false
	}
	row := Row{}
	if p.done() || p.s[p.i] == ':' {
		return row, true
	}
	for {
		col, ok := p.name()
		if !ok || !p.expect('=') {
			return nil, false
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		if _, dup := row[col]; dup {
			return nil, false
		}
		row[col] = v
		if !p.expect(',') {
			return row, true
		}
	}
}
