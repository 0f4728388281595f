package freshsql

import (
	"database/sql/driver"
	"math"
	"reflect"
	"strconv"
	"time"
)

// normArgs returns the arguments of a statement in the forms the cache keys and
// dependencies use: the driver.Value types (int64, float64, bool, []byte, string,
// time.Time, nil). Drivers whose NamedValueChecker accepts any Go value (pgx) pass
// int, int32, named types and Valuers through to here; they are converted as the
// driver would send them. The driver always gets the arguments as they were. A
// value that has no such form is left as is, and makes the read uncacheable
// (cacheKey) and its conditions unusable (comparable).
func normArgs(args []driver.NamedValue) []driver.NamedValue {
	convert := false
	for _, a := range args {
		if !isDriverValue(a.Value) {
			convert = true
			break
		}
	}
	if !convert {
		return args
	}
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = a
		out[i].Value = normValue(a.Value, 0)
	}
	return out
}

func isDriverValue(v any) bool {
	switch v.(type) {
	case nil, int64, float64, bool, []byte, string, time.Time:
		return true
	}
	return false
}

func normValue(v any, depth int) any {
	if isDriverValue(v) || depth > 4 {
		return v
	}
	if vr, ok := v.(driver.Valuer); ok {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil
		}
		x, err := vr.Value()
		if err != nil {
			return v
		}
		return normValue(x, depth+1)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return normValue(rv.Elem().Interface(), depth+1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return int64(u)
		}
		return strconv.FormatUint(u, 10)
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Bool:
		return rv.Bool()
	case reflect.String:
		return rv.String()
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes()
		}
	}
	return v
}
