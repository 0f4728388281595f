package postgres

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rangeVarCollector finds every RangeVar under a node, wherever it is.
type rangeVarCollector struct {
	found []*pg.RangeVar
}

func (c *rangeVarCollector) node(m proto.Message) {
	if rv, ok := m.(*pg.RangeVar); ok {
		c.found = append(c.found, rv)
		return
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				c.node(l.Get(i).Message().Interface())
			}
		case !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			c.node(v.Message().Interface())
		}
		return true
	})
}
