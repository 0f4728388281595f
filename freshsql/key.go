package freshsql

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"time"
)

// cacheKey returns the key of a read: SHA-256 over the database's name, the
// dialect, the SQL text exactly as sent (no normalisation, so that the fill and
// the lookup can never disagree, P32) and every argument with its ordinal, its
// name, its Go type and its value. Two reads that differ in one bound value, or
// in the type of one (int64 1 and string "1" may select different rows), get
// different keys. It fails on an argument of a type a driver.Value cannot have.
//
// prefix, when not nil, is the hash's state after the name, the dialect and the
// text (keyPrefix), saved once per text so that a read hashes only its values.
func cacheKey(name, dialect, query string, prefix []byte, args []driver.NamedValue) (string, error) {
	h := newKeyHash()
	resumed := false
	if u, ok := h.(encoding.BinaryUnmarshaler); ok && prefix != nil {
		resumed = u.UnmarshalBinary(prefix) == nil
	}
	if !resumed {
		h.Reset()
	}
	var buf [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	num := func(u uint64) {
		binary.BigEndian.PutUint64(buf[:], u)
		h.Write(buf[:])
	}
	if !resumed {
		str(name)
		str(dialect)
		str(query)
	}
	num(uint64(len(args)))
	for _, a := range args {
		num(uint64(a.Ordinal))
		str(a.Name)
		switch v := a.Value.(type) {
		case nil:
			h.Write([]byte{0})
		case int64:
			h.Write([]byte{1})
			num(uint64(v))
		case float64:
			h.Write([]byte{2})
			num(math.Float64bits(v))
		case bool:
			h.Write([]byte{3})
			if v {
				num(1)
			} else {
				num(0)
			}
		case []byte:
			h.Write([]byte{4})
			str(string(v))
		case string:
			h.Write([]byte{5})
			str(v)
		case time.Time:
			h.Write([]byte{6})
			str(v.Format(time.RFC3339Nano))
			_, off := v.Zone()
			num(uint64(int64(off)))
			str(v.Location().String())
		default:
			return "", fmt.Errorf("freshsql: argument %d of type %T cannot be part of a cache key", a.Ordinal, a.Value)
		}
	}
	return string(h.Sum(nil)), nil
}

// keyPrefix returns the state of the key's hash after the name, the dialect and
// the text, or nil when the hash cannot save its state.
func keyPrefix(name, dialect, query string) []byte {
	h := newKeyHash()
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil
	}
	var buf [8]byte
	for _, s := range []string{name, dialect, query} {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil
	}
	return b
}

// newKeyHash is the key's hash; tests replace it with a colliding one (P22).
var newKeyHash = defaultKeyHash

func defaultKeyHash() hash.Hash { return sha256.New() }

// sameRead reports whether a cached result is the answer to the read of query
// with args: a result is found by the hash of its key, and checked against the
// key itself before it is served, so that even a collision cannot serve another
// read's rows (P22).
func (r *result) sameRead(query string, args []driver.NamedValue) bool {
	if r.query != query || len(r.args) != len(args) {
		return false
	}
	for i, a := range args {
		b := r.args[i]
		if a.Ordinal != b.Ordinal || a.Name != b.Name || !sameValue(a.Value, b.Value) {
			return false
		}
	}
	return true
}

// sameValue compares two driver values, their types included.
func sameValue(a, b driver.Value) bool {
	switch a := a.(type) {
	case []byte:
		b, ok := b.([]byte)
		return ok && string(a) == string(b)
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b) && a.Location().String() == b.Location().String()
	case nil, int64, float64, bool, string:
		return a == b
	default:
		return false
	}
}

// keyArgs copies the arguments of a read for its result.
func keyArgs(args []driver.NamedValue) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = a
		out[i].Value = copyValue(a.Value)
	}
	return out
}
