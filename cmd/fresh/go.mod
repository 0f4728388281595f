module github.com/freshcache/fresh/cmd/fresh

go 1.26.0

require (
	github.com/freshcache/fresh v0.0.0
	github.com/freshcache/fresh/freshredis v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/freshcache/fresh => ../..

replace github.com/freshcache/fresh/freshredis => ../../freshredis
