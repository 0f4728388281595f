//go:build !cgo

package postgres

import (
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	pgwasm "github.com/wasilibs/go-pgquery"
)

// wasmMu serialises parses: without cgo, libpg_query runs as WebAssembly
// (wazero), and one parse at a time keeps its memory use bounded.
var wasmMu sync.Mutex

// parse runs PostgreSQL's own grammar (libpg_query compiled to WebAssembly).
// It is safe for concurrent use.
func parse(sql string) (*pg.ParseResult, error) {
	wasmMu.Lock()
	defer wasmMu.Unlock()
	return pgwasm.Parse(sql)
}

// scan runs PostgreSQL's lexer.
func scan(sql string) (*pg.ScanResult, error) {
	wasmMu.Lock()
	defer wasmMu.Unlock()
	return pgwasm.Scan(sql)
}
