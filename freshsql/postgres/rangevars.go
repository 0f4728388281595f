package postgres

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
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
	eachChild(m, nil, c.node)
}
