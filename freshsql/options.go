package freshsql

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/freshcache/fresh"
)

// Options configures a wrapped database.
type Options struct {
	// Analyzer parses the dialect's SQL (freshsql/sqlite, freshsql/postgres,
	// freshsql/mysql). Required.
	Analyzer Analyzer
	// Hub is the invalidation hub the cache of query results registers in: its bus
	// carries this process's invalidations to the others. Default
	// fresh.DefaultHub().
	Hub *fresh.Hub
	// Name identifies the database: it is part of every cache key and of the
	// cache's name in the hub, so processes sharing the database must use the same
	// Name (and two databases in one process must not). Default "<dialect>" for
	// OpenDB; for Open, "<dialect>:" followed by a hash of the data source name.
	Name string
	// Rules caches every read that returns rows and reads only the tables of one
	// rule, without a Cached context. Default none: only Cached calls are cached.
	Rules []Rule
	// TTL is how long a cached result lives unless a call or a rule says
	// otherwise. Default 0: results live until invalidated or evicted.
	TTL time.Duration
	// MaxBytes bounds the memory held by cached results, as estimated from their
	// values. Default 64 MiB.
	MaxBytes uint64
	// MaxResultBytes is the largest result that is cached; a larger one is
	// returned to the caller and counted (Stats.TooLarge). Default 1 MiB.
	MaxResultBytes int
	// MaxScopes bounds the scopes one read depends on when its conditions hold IN
	// lists (the product of their lengths); past it, the conditions with the
	// longest lists are dropped (a broader dependency). Default 64.
	MaxScopes int
	// RowImage makes every UPDATE and DELETE exact: before the write, in the same
	// transaction, the wrapper reads the scope columns of the rows it will change,
	// so their old scopes are known. It costs one extra query per such write.
	// Default false: a write that does not pin a scope's columns in its WHERE
	// clause dirties every scope of that table's scheme.
	RowImage bool
	// Logger receives warnings (a write that could not be analysed, once per SQL
	// text; a catalog that could not be read). Default slog.Default().
	Logger *slog.Logger
}

// A Rule caches reads of a set of tables.
type Rule struct {
	// Tables are the tables (as the Analyzer names them) whose reads are cached:
	// a read is cached when every table it reads is one of them.
	Tables []string
	// TTL overrides Options.TTL for these reads; 0 keeps it.
	TTL time.Duration
}

const (
	defaultMaxBytes       = 64 << 20
	defaultMaxResultBytes = 1 << 20
	defaultMaxScopes      = 64
	maxTTL                = 100 * 365 * 24 * time.Hour
)

// validate checks o and fills in the defaults.
func (o *Options) validate() error {
	var errs []error
	if o.Analyzer == nil {
		errs = append(errs, errors.New("freshsql: Options.Analyzer is required"))
	}
	if o.TTL < 0 || o.TTL > maxTTL {
		errs = append(errs, fmt.Errorf("freshsql: Options.TTL %v is not in [0, %v]", o.TTL, maxTTL))
	}
	if o.MaxResultBytes < 0 {
		errs = append(errs, fmt.Errorf("freshsql: Options.MaxResultBytes %d is negative", o.MaxResultBytes))
	}
	if o.MaxScopes < 0 {
		errs = append(errs, fmt.Errorf("freshsql: Options.MaxScopes %d is negative", o.MaxScopes))
	}
	if o.MaxBytes > 1<<40 {
		errs = append(errs, fmt.Errorf("freshsql: Options.MaxBytes %d is over 1 TiB", o.MaxBytes))
	}
	for i, r := range o.Rules {
		if len(r.Tables) == 0 {
			errs = append(errs, fmt.Errorf("freshsql: Options.Rules[%d] names no table", i))
		}
		for _, t := range r.Tables {
			if t == "" {
				errs = append(errs, fmt.Errorf("freshsql: Options.Rules[%d] has an empty table name", i))
			}
		}
		if r.TTL < 0 || r.TTL > maxTTL {
			errs = append(errs, fmt.Errorf("freshsql: Options.Rules[%d].TTL %v is not in [0, %v]", i, r.TTL, maxTTL))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if o.Hub == nil {
		o.Hub = fresh.DefaultHub()
	}
	if o.Name == "" {
		o.Name = o.Analyzer.Dialect()
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.MaxResultBytes == 0 {
		o.MaxResultBytes = defaultMaxResultBytes
	}
	if o.MaxScopes == 0 {
		o.MaxScopes = defaultMaxScopes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}
