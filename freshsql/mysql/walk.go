package mysql

import (
	"reflect"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// The parser's own sqlparser.Walk skips parts of some nodes (a UNION's ORDER
// BY and LIMIT, a SELECT's WINDOW clause, RETURNING lists, the WITH of a
// UNION), and a table missed in any of them is a missed dependency. So the
// analyser walks the tree by reflection over every exported field instead:
// a node type or field the parser adds later is visited too.

var authType = reflect.TypeFor[sqlparser.AuthInformation]()

// walkNodes calls f on every sqlparser.SQLNode reachable from v, parents
// before children, fields in declaration order. When f returns false the
// node's children are skipped. walkNodes returns false, and stops, when the
// tree is nested more than maxDepth levels deep.
func walkNodes(v reflect.Value, depth int, f func(sqlparser.SQLNode) bool) bool {
	if depth > maxDepth {
		return false
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return true
		}
		return walkNodes(v.Elem(), depth, f)
	case reflect.Pointer:
		if v.IsNil() {
			return true
		}
	case reflect.Struct, reflect.Slice, reflect.Array:
	default:
		return true
	}
	if v.CanInterface() {
		if n, ok := v.Interface().(sqlparser.SQLNode); ok && !f(n) {
			return true
		}
	}
	return walkChildren(v, depth, f)
}

// walkChildren walks what v holds, without calling f on v itself.
func walkChildren(v reflect.Value, depth int, f func(sqlparser.SQLNode) bool) bool {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return true
		}
		return walkChildren(v.Elem(), depth, f)
	case reflect.Struct:
		t := v.Type()
		if t == authType {
			return true
		}
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if !walkNodes(v.Field(i), depth+1, f) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true
		}
		for i := range v.Len() {
			if !walkNodes(v.Index(i), depth+1, f) {
				return false
			}
		}
	default:
	}
	return true
}

// walkFields walks the exported fields of the struct that v points to, except
// those named in skip, which the caller handles itself.
func walkFields(v reflect.Value, f func(sqlparser.SQLNode) bool, skip ...string) bool {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return walkNodes(v, 0, f)
	}
	t := v.Type()
fields:
	for i := range t.NumField() {
		field := t.Field(i)
		if !field.IsExported() {
			continue
		}
		for _, name := range skip {
			if field.Name == name {
				continue fields
			}
		}
		if !walkNodes(v.Field(i), 1, f) {
			return false
		}
	}
	return true
}
