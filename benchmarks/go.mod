module github.com/freshcache/fresh/benchmarks

go 1.26.2

replace (
	github.com/freshcache/fresh => ../
	github.com/freshcache/fresh/freshredis => ../freshredis
)

require (
	github.com/Yiling-J/theine-go v0.6.3
	github.com/dgraph-io/ristretto/v2 v2.4.2
	github.com/eko/gocache/lib/v4 v4.2.4
	github.com/eko/gocache/store/go_cache/v4 v4.2.4
	github.com/eko/gocache/store/redis/v4 v4.2.2
	github.com/eko/gocache/store/ristretto/v4 v4.3.2
	github.com/freshcache/fresh v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshnats v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshpg v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshredis v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsqlite v0.0.0-00010101000000-000000000000
	github.com/go-redis/cache/v9 v9.0.0
	github.com/jackc/pgx/v5 v5.13.0
	github.com/jellydator/ttlcache/v3 v3.4.1
	github.com/maypok86/otter/v2 v2.4.0
	github.com/nats-io/nats.go v1.55.0
	github.com/patrickmn/go-cache v2.1.0+incompatible
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/redis/rueidis v1.0.79
	github.com/ulikunitz/xz v0.5.15
	github.com/viccon/sturdyc v1.1.5
	gonum.org/v1/plot v0.17.0
)

require (
	github.com/pganalyze/pg_query_go/v6 v6.2.5 // indirect
	github.com/sqlc-dev/meyer v0.1.2 // indirect
	github.com/tetratelabs/wazero v1.12.0 // indirect
	github.com/wasilibs/go-pgquery v0.0.0-20260728010200-155ebad2880e // indirect
	github.com/wasilibs/wazero-helpers v0.0.0-20250123031827-cd30c44769bb // indirect
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/freshcache/fresh/freshsql v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsql/postgres v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsql/soundness v0.0.0-00010101000000-000000000000
	github.com/freshcache/fresh/freshsql/sqlite v0.0.0-00010101000000-000000000000 // indirect
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/golang/mock v1.6.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/klauspost/cpuid/v2 v2.4.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/prometheus/client_golang v1.23.2 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.67.4 // indirect
	github.com/prometheus/procfs v0.19.2 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/vmihailenco/go-tinylfu v0.2.2 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/exp v0.0.0-20251209150349-8475f28825e9 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)

replace github.com/freshcache/fresh/freshsqlite => ../freshsqlite

replace github.com/freshcache/fresh/freshpg => ../freshpg

replace github.com/freshcache/fresh/freshnats => ../freshnats

replace github.com/freshcache/fresh/freshsql => ../freshsql

replace github.com/freshcache/fresh/freshsql/postgres => ../freshsql/postgres

replace github.com/freshcache/fresh/freshsql/sqlite => ../freshsql/sqlite

replace github.com/freshcache/fresh/freshsql/soundness => ../freshsql/soundness

replace github.com/freshcache/fresh/freshsql/mysql => ../freshsql/mysql
