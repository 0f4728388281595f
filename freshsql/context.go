package freshsql

import (
	"context"
	"time"

	"github.com/freshcache/fresh"
)

// A CallOption adjusts one cached call (Cached).
type CallOption func(*callConfig)

type callConfig struct {
	cache bool // false: NoCache
	ttl   time.Duration
	deps  []fresh.Dep
}

type callKey struct{}

// Cached returns a context under which the reads that freshsql can cache are
// cached (a read is cacheable when it returns rows, writes nothing, and calls
// nothing non-deterministic: Report says why a statement was not). Pass it to
// QueryContext or QueryRowContext, directly or through code that does (sqlc,
// sqlx, GORM's WithContext).
func Cached(ctx context.Context, opts ...CallOption) context.Context {
	cfg := &callConfig{cache: true}
	for _, o := range opts {
		o(cfg)
	}
	return context.WithValue(ctx, callKey{}, cfg)
}

// NoCache returns a context under which no read is cached or served from the
// cache, whatever the rules say.
func NoCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, callKey{}, &callConfig{})
}

// TTL sets how long the results cached under this context live.
func TTL(d time.Duration) CallOption {
	return func(c *callConfig) { c.ttl = d }
}

// DependsOn adds dependencies to the results cached under this context, beyond
// the tables and scopes freshsql finds: invalidating any of them drops those
// results too.
func DependsOn(deps ...fresh.Dep) CallOption {
	return func(c *callConfig) { c.deps = append(c.deps, deps...) }
}

func callOf(ctx context.Context) *callConfig {
	c, _ := ctx.Value(callKey{}).(*callConfig)
	return c
}
