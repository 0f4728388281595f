package fresh

import (
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

// defaultKeyCodec returns a codec for keys of string and integer kinds, or nil.
func defaultKeyCodec[K comparable]() KeyCodec[K] {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindCodec[K]{}
	}
	return nil
}

// kindCodec encodes keys of string and integer kinds with strconv.
type kindCodec[K comparable] struct{}

func (kindCodec[K]) EncodeKey(key K) (string, error) {
	v := reflect.ValueOf(key)
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
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
