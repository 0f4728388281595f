module github.com/freshcache/fresh/freshsql/mysql

go 1.26.2

replace github.com/freshcache/fresh => ../../

replace github.com/freshcache/fresh/freshsql => ../

require (
	github.com/dolthub/vitess v0.0.0-20260624214226-81d034e0fde8
	github.com/freshcache/fresh/freshsql v0.0.0-00010101000000-000000000000
	github.com/go-sql-driver/mysql v1.10.1
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/freshcache/fresh v0.0.0-00010101000000-000000000000 // indirect
	github.com/golang/protobuf v1.5.3 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	google.golang.org/genproto v0.0.0-20230410155749-daa745c078e1 // indirect
	google.golang.org/grpc v1.56.3 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)
