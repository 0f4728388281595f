package fresh

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// A Codec turns values into bytes and back, for a hub's shared Store. Encode must
// not retain v; Decode must not retain b. A Codec must be safe for concurrent use.
//
// Decode runs on bytes another process (perhaps another build of the program) wrote:
// it must refuse what it cannot read with an error, never panic and never execute
// what it reads. fresh refuses values written with another codec or for another Go
// type before Decode sees them (see Options.ValueVersion), and turns a panic in either
// method into an error.
type Codec[V any] interface {
	Encode(v V) ([]byte, error)
	Decode(b []byte) (V, error)
	// Format names the encoding and its version ("json", "proto3", "gob-v2"). It is
	// part of the fingerprint that stored values carry: change it when the bytes of
	// one value would change.
	Format() string
}

// JSONCodec is the default Codec: encoding/json, which reads nothing but data.
type JSONCodec[V any] struct{}

// Encode returns the JSON encoding of v.
func (JSONCodec[V]) Encode(v V) ([]byte, error) { return json.Marshal(v) }

// Decode parses the JSON encoding of a V.
func (JSONCodec[V]) Decode(b []byte) (V, error) {
	var v V
	err := json.Unmarshal(b, &v)
	return v, err
}

// Format returns "json".
func (JSONCodec[V]) Format() string { return "json" }

// ErrCodec wraps the errors of a cache's Codec: a value that cannot be encoded for the
// shared Store. The value was not cached.
var ErrCodec = errors.New("fresh: codec")

// The layout of a value in the Store: a header, the key, then the codec's bytes.
//
//	byte 0     valueMagic
//	byte 1     flags (valueNegative)
//	bytes 2-9  fingerprint of the codec and the value's Go type (or ValueVersion)
//	uvarint    length of the key, then the key: checked on read, so that a store that
//	           maps two keys to one slot (a hashed key) never returns another key's value
//	the rest   the payload (none for a not-found)
const (
	valueMagic     = 0xF1
	valueNegative  = 1 << 0
	valueHeaderLen = 10
)

// valueCodec encodes a cache's values for its hub's Store.
type valueCodec[V any] struct {
	codec Codec[V]
	fp    [8]byte
}

func newValueCodec[V any](c Codec[V], version string) valueCodec[V] {
	var v V
	desc := version
	if desc == "" {
		desc = "type:" + describeType(reflect.TypeOf(&v).Elem())
	} else {
		desc = "version:" + version
	}
	sum := sha256.Sum256([]byte(c.Format() + "\x00" + desc))
	vc := valueCodec[V]{codec: c}
	copy(vc.fp[:], sum[:8])
	return vc
}

// encode returns the stored form of a value of key (or of a not-found when neg).
func (vc *valueCodec[V]) encode(key string, v V, neg bool) (b []byte, err error) {
	b = make([]byte, valueHeaderLen, valueHeaderLen+binary.MaxVarintLen64+len(key)+64)
	b[0] = valueMagic
	copy(b[2:], vc.fp[:])
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if neg {
		b[1] = valueNegative
		return b, nil
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%w: encode panicked: %v", ErrCodec, p)
		}
	}()
	payload, err := vc.codec.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("%w: encode %T: %w", ErrCodec, v, err)
	}
	return append(b, payload...), nil
}

// errForeign reports a stored value written by another codec, Go type or version.
var errForeign = errors.New("fresh: stored value of another codec, type or version")

// decode reads a stored value. A value of another fingerprint, a malformed header or
// payload, and a panicking codec are errors.
func (vc *valueCodec[V]) decode(key string, b []byte) (v V, neg bool, err error) {
	if len(b) < valueHeaderLen || b[0] != valueMagic || b[1]&^valueNegative != 0 {
		return v, false, errors.New("fresh: malformed stored value")
	}
	if [8]byte(b[2:10]) != vc.fp {
		return v, false, errForeign
	}
	neg = b[1]&valueNegative != 0
	b = b[valueHeaderLen:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n != uint64(len(key)) || len(b)-w < len(key) || string(b[w:w+len(key)]) != key {
		return v, false, errors.New("fresh: stored value of another key")
	}
	b = b[w+len(key):]
	if neg {
		if len(b) != 0 {
			return v, false, errors.New("fresh: malformed stored not-found")
		}
		return v, true, nil
	}
	defer func() {
		if p := recover(); p != nil {
			var zero V
			v, err = zero, fmt.Errorf("%w: decode panicked: %v", ErrCodec, p)
		}
	}()
	v, err = vc.codec.Decode(b)
	return v, false, err
}

// describeType prints a type's structure: what a value of it encodes to depends on
// it. Struct fields are listed with their names, types and tags, so that adding,
// removing, renaming or retyping a field changes the description.
func describeType(t reflect.Type) string {
	var sb strings.Builder
	seen := map[reflect.Type]int{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if n, ok := seen[t]; ok {
			sb.WriteString("#" + strconv.Itoa(n))
			return
		}
		if t.Name() != "" {
			sb.WriteString(t.PkgPath() + "." + t.Name() + "=")
		}
		seen[t] = len(seen)
		switch t.Kind() {
		case reflect.Struct:
			sb.WriteString("struct{")
			for i := range t.NumField() {
				f := t.Field(i)
				sb.WriteString(f.Name + " ")
				walk(f.Type)
				sb.WriteString(" " + strconv.Quote(string(f.Tag)))
				if f.Anonymous {
					sb.WriteString(" embedded")
				}
				sb.WriteString(";")
			}
			sb.WriteString("}")
		case reflect.Pointer:
			sb.WriteString("*")
			walk(t.Elem())
		case reflect.Slice:
			sb.WriteString("[]")
			walk(t.Elem())
		case reflect.Array:
			sb.WriteString("[" + strconv.Itoa(t.Len()) + "]")
			walk(t.Elem())
		case reflect.Map:
			sb.WriteString("map[")
			walk(t.Key())
			sb.WriteString("]")
			walk(t.Elem())
		case reflect.Chan:
			sb.WriteString("chan ")
			walk(t.Elem())
		default:
			sb.WriteString(t.Kind().String())
		}
	}
	walk(t)
	return sb.String()
}
