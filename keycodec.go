package fresh

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
)

// A KeyCodec turns keys into strings and back, so that a Delete can travel on the Bus
// and InvalidatePattern can match keys. EncodeKey must be injective: two different
// keys never encode alike.
type KeyCodec[K comparable] interface {
	EncodeKey(key K) (string, error)
	DecodeKey(s string) (K, error)
}

// defaultKeyCodec returns a codec for keys of string, integer and boolean kinds and
// for arrays of 16 bytes (UUIDs), or nil.
func defaultKeyCodec[K comparable]() KeyCodec[K] {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindCodec[K]{}
	case reflect.Array:
		if t.Len() == 16 && t.Elem().Kind() == reflect.Uint8 {
			return kindCodec[K]{}
		}
	}
	return nil
}

// kindCodec encodes keys of string, integer and boolean kinds with strconv, and
// arrays of 16 bytes in hex.
type kindCodec[K comparable] struct{}

func (kindCodec[K]) EncodeKey(key K) (string, error) {
	v := reflect.ValueOf(key)
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Array:
		var b [16]byte
		for i := range b {
			b[i] = byte(v.Index(i).Uint())
		}
		return hex.EncodeToString(b[:]), nil
	default:
		return strconv.FormatUint(v.Uint(), 10), nil
	}
}

func (kindCodec[K]) DecodeKey(s string) (K, error) {
	var key K
	v := reflect.ValueOf(&key).Elem()
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || s != strconv.FormatBool(b) {
			return key, fmt.Errorf("%w: %q is not true or false", ErrInvalidKey, s)
		}
		v.SetBool(b)
	case reflect.Array:
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 16 || s != hex.EncodeToString(b) {
			return key, fmt.Errorf("%w: %q is not 32 lower-case hex digits", ErrInvalidKey, s)
		}
		for i := range b {
			v.Index(i).SetUint(uint64(b[i]))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return key, fmt.Errorf("%w: %q: %w", ErrInvalidKey, s, err)
		}
		v.SetInt(n)
	default:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return key, fmt.Errorf("%w: %q: %w", ErrInvalidKey, s, err)
		}
		v.SetUint(n)
	}
	return key, nil
}
