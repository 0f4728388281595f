module github.com/freshcache/fresh/freshsql/mysql

go 1.26.2

replace github.com/freshcache/fresh => ../../

replace github.com/freshcache/fresh/freshsql => ../

require (
	github.com/freshcache/fresh v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsql v0.0.0-00010101000000-000000000000
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/dolthub/vitess v0.0.0-20260624214226-81d034e0fde8 // indirect
	github.com/go-sql-driver/mysql v1.10.1 // indirect
)
