// Package compat holds no library code: its module proves that code written for
// database/sql by generators and ORMs runs unchanged over freshsql, with its
// reads cached and invalidated by its own writes.
//
// The sqlc directory holds a schema and queries for SQLite, PostgreSQL and MySQL,
// the code sqlc generates from them (checked in; see sqlc/generate.go), and tests
// that run the generated Queries on a wrapped *sql.DB. The gorm directory runs
// GORM on a wrapped *sql.DB through its SQLite and PostgreSQL dialectors.
//
// Every test compares each read through the cache with the same read of the
// unwrapped database, checks that repeated reads are hits, and that the writes
// of the generated code or of GORM invalidate what they change, after commit.
// PostgreSQL tests use the server at FRESH_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), in a schema of their
// own; they skip when it is unreachable, and fail instead when CI is set.
package compat
