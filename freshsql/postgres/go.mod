module github.com/freshcache/fresh/freshsql/postgres

go 1.26.0

replace github.com/freshcache/fresh => ../../

replace github.com/freshcache/fresh/freshsql => ../

require (
	github.com/freshcache/fresh v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsql v0.0.0-00010101000000-000000000000
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.13.0 // indirect
	github.com/pganalyze/pg_query_go/v6 v6.2.5 // indirect
	golang.org/x/text v0.41.0 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)
