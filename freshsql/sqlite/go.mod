module github.com/freshcache/fresh/freshsql/sqlite

go 1.26.0

replace github.com/freshcache/fresh => ../../

replace github.com/freshcache/fresh/freshsql => ../

require (
	github.com/freshcache/fresh/freshsql v0.0.0-00010101000000-000000000000
	github.com/sqlc-dev/meyer v0.1.2
)

require (
	github.com/freshcache/fresh v0.0.0-00010101000000-000000000000 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
)
