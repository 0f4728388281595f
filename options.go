package fresh

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options configure a Cache. The zero value is a usable configuration: 10,000
// entries, no expiry, no bus.
type Options[K comparable, V any] struct {
	// Name identifies the cache on a Bus: deletions of keys and flushes reach the
	// caches of the same Name in other processes (invalidations of dependencies reach
	// every cache). Default "default".
	Name string

	// MaxEntries bounds the number of entries. Default 10,000 when MaxCost is 0.
	// It cannot be combined with MaxCost.
	MaxEntries int
	// MaxCost bounds the total cost of the entries, as measured by Cost, which it
	// requires. A single value costing more than MaxCost is refused (ErrTooLarge from
	// Set; not cached by GetOrLoad). Default 0: bounded by MaxEntries.
	MaxCost uint64
	// Cost returns the cost of a value, in whatever unit MaxCost uses (bytes, say).
	// It must be cheap and must not call the cache. Required with MaxCost.
	Cost func(key K, value V) uint32

	// TTL is how long an entry lives unless a call says otherwise (fresh.TTL).
	// Default 0: entries do not expire (they are still invalidated and evicted).
	TTL time.Duration
	// Jitter spreads expiry to avoid synchronized reloads: each entry's TTL is drawn
	// uniformly from [TTL×(1−Jitter), TTL]. It must be in [0, 1). Default 0.
	Jitter float64
	// NegativeTTL is how long a loader's ErrNotFound result is cached. Default 0: the
	// same as TTL. A negative value disables caching of not-found results.
	NegativeTTL time.Duration

	// Disabled turns the in-process store off: every read loads (still with single
	// flight and request scopes). Default false.
	Disabled bool

	// Tables describes the tables whose row changes InvalidateRows understands: their
	// key column and the column sets (schemes) of the scopes that values depend on.
	// More can be added with Cache.RegisterTable. Default none.
	Tables []TableSchema

	// Tracker is the invalidation state the cache uses. Caches that share a Tracker
	// share invalidations synchronously and can nest each other's values exactly.
	// Default: a Tracker of the cache's own.
	Tracker *Tracker

	// Bus carries invalidations to and from other processes. Default nil: this
	// process only.
	Bus Bus
	// KeyCodec turns keys into strings for the bus (Delete in other processes) and
	// for InvalidatePattern. Default: keys of string and integer kinds are encoded
	// with strconv; other key types need a KeyCodec when Bus is set, and
	// InvalidatePattern matches their fmt.Sprint form.
	KeyCodec KeyCodec[K]
	// MaxStaleness is the longest the cache serves without proof that it has applied
	// every invalidation published on the Bus before then (guarantee G1). When its
	// heartbeats stop coming back within MaxStaleness, the cache stops serving from
	// memory, and flushes when they return. Default 5s; only with Bus.
	MaxStaleness time.Duration
	// Heartbeat is the interval of the heartbeats. Default MaxStaleness/5; only with
	// Bus.
	Heartbeat time.Duration

	// Logger receives warnings about background events (lost bus messages, failed
	// publishes). Default slog.Default().
	Logger *slog.Logger
	// Recorder receives cache events as they happen, for metrics. Default nil; the
	// counters of Stats are kept regardless.
	Recorder Recorder
	// Clock is the time source for expiry and refresh. Default: the time package.
	Clock Clock
}

// A Clock tells the time. Tests may provide their own; testing/synctest works with the
// default.
type Clock interface {
	Now() time.Time
}

// A TableSchema describes a table for InvalidateRows.
type TableSchema struct {
	// Table is the table's name, as used in Entity, Table and Scope.
	Table string
	// Key is the primary-key column; the Entity of a row is Entity(Table, row[Key]).
	// Default "id".
	Key string
	// Scopes lists the column sets of the scopes that cached values depend on, for
	// example {{"published", "category"}, {"author_id"}}. A Scope dependency whose
	// columns are not registered here is refused, because a row change could not
	// find it.
	Scopes [][]string
}

const (
	defaultMaxEntries   = 10_000
	defaultMaxStaleness = 5 * time.Second
	defaultName         = "default"
)

// validate checks o and fills in defaults.
func (o *Options[K, V]) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("fresh: "+format, args...)) }
	if o.Name == "" {
		o.Name = defaultName
	}
	switch {
	case o.MaxEntries < 0:
		bad("MaxEntries %d is negative", o.MaxEntries)
	case o.MaxEntries > 0 && o.MaxCost > 0:
		bad("MaxEntries and MaxCost cannot both be set")
	case o.MaxCost > 0 && o.Cost == nil:
		bad("MaxCost needs a Cost function")
	case o.MaxCost == 0 && o.Cost != nil:
		bad("Cost is set but MaxCost is 0")
	case o.MaxEntries == 0 && o.MaxCost == 0:
		o.MaxEntries = defaultMaxEntries
	}
	if o.TTL < 0 {
		bad("TTL %v is negative", o.TTL)
	}
	if o.Jitter < 0 || o.Jitter >= 1 || o.Jitter != o.Jitter {
		bad("Jitter %v is not in [0, 1)", o.Jitter)
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = o.TTL
	}
	if o.Bus != nil {
		if o.MaxStaleness < 0 || o.Heartbeat < 0 {
			bad("MaxStaleness and Heartbeat must not be negative")
		}
		if o.MaxStaleness == 0 {
			o.MaxStaleness = defaultMaxStaleness
		}
		if o.Heartbeat == 0 {
			o.Heartbeat = o.MaxStaleness / 5
		}
		if o.Heartbeat >= o.MaxStaleness {
			bad("Heartbeat %v must be shorter than MaxStaleness %v", o.Heartbeat, o.MaxStaleness)
		}
		if o.KeyCodec == nil {
			o.KeyCodec = defaultKeyCodec[K]()
			if o.KeyCodec == nil {
				var k K
				bad("keys of type %T need a KeyCodec to travel on the Bus", k)
			}
		}
	} else if o.MaxStaleness != 0 || o.Heartbeat != 0 {
		bad("MaxStaleness and Heartbeat need a Bus")
	}
	if o.KeyCodec == nil {
		o.KeyCodec = defaultKeyCodec[K]()
	}
	for _, ts := range o.Tables {
		if err := ts.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Tracker == nil {
		o.Tracker = NewTracker()
	}
	return errors.Join(errs...)
}
