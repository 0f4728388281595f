//go:build cgo

package postgres

import pg "github.com/pganalyze/pg_query_go/v6"

// parse runs PostgreSQL's own grammar (libpg_query, linked through cgo). It is
// safe for concurrent use.
func parse(sql string) (*pg.ParseResult, error) {
	return pg.Parse(sql)
}

// scan runs PostgreSQL's lexer.
func scan(sql string) (*pg.ScanResult, error) {
	return pg.Scan(sql)
}
