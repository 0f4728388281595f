module github.com/freshcache/fresh/cmd/fresh

go 1.26.0

require (
	github.com/freshcache/fresh v0.0.0
	github.com/freshcache/fresh/freshnats v0.0.0
	github.com/freshcache/fresh/freshpg v0.0.0
	github.com/freshcache/fresh/freshredis v0.0.0
	github.com/freshcache/fresh/freshsqlite v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
	modernc.org/sqlite v1.62.0
)

require (
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.13.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/nats-io/nats.go v1.55.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/sqlc-dev/meyer v0.1.2 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/freshcache/fresh/freshsql v0.0.0
	github.com/freshcache/fresh/freshsql/sqlite v0.0.0
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/freshcache/fresh => ../..

replace github.com/freshcache/fresh/freshredis => ../../freshredis

replace github.com/freshcache/fresh/freshsqlite => ../../freshsqlite

replace github.com/freshcache/fresh/freshpg => ../../freshpg

replace github.com/freshcache/fresh/freshnats => ../../freshnats

replace github.com/freshcache/fresh/freshsql => ../../freshsql

replace github.com/freshcache/fresh/freshsql/sqlite => ../../freshsql/sqlite
