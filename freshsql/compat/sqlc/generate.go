// Package sqlc holds the schema, the queries and the sqlc configuration from
// which the packages sqlitedb, pgdb and mysqldb are generated, and the tests that
// run the generated code over freshsql.
//
// The generated code is checked in. To generate it again, build sqlc v1.31.1
// outside the repository (it needs cgo) and run go generate in this directory:
//
//	GOBIN=/tmp/sqlc-bin go install github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
//	PATH=/tmp/sqlc-bin:$PATH go generate ./...
package sqlc

//go:generate sqlc generate --file sqlc.yaml
