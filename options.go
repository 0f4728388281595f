package fresh

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Options configure a Cache. The zero value is a usable configuration: 10,000
// entries, no expiry, registered in the default hub.
type Options[K comparable, V any] struct {
	// Hub is the invalidation domain the cache belongs to (see Hub). Default
	// DefaultHub(): caches of one process share invalidations, table schemes and
	// nested values with no configuration.
	Hub *Hub
	// Name identifies the cache in its hub, which refuses a second cache of the same
	// name until the first is closed. On a hub with a Bus it is required, and
	// deletions of keys and flushes reach the caches of the same Name in other
	// processes. Default: a name derived to be unique (only without a Bus).
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
	// NegativeTTL is how long a loader's ErrNotFound result is cached. Default: TTL,
	// or one minute when TTL is 0 or longer than a minute, so that a not-found that
	// declared no dependency does not hide a row created later for ever. A negative
	// value disables caching of not-found results. (Unlike otter, whose loaders'
	// ErrNotFound caches nothing, fresh caches the not-found result with the
	// dependencies the loader declared, so an insert matching them invalidates it.)
	NegativeTTL time.Duration

	// Disabled turns the in-process store off: every read loads (still with single
	// flight and request scopes). Default false.
	Disabled bool

	// Tables describes tables whose row changes InvalidateRows understands (see
	// TableSchema); they are registered in the hub, for every cache of it. Default
	// none.
	Tables []TableSchema

	// KeyCodec turns keys into strings: for the bus (Delete in other processes), for
	// InvalidatePattern, and for the dependency of a nested value on the key it read.
	// Default: keys of string, integer and boolean kinds, and arrays of 16 bytes
	// (UUIDs), are encoded by fresh; other key types need a KeyCodec on a hub with a
	// Bus, InvalidatePattern matches their fmt.Sprint form, and a nested value built
	// from one depends on every key of the cache.
	KeyCodec KeyCodec[K]

	// Codec encodes values for the hub's Store (HubOptions.Store). Default
	// JSONCodec. A value it cannot encode makes GetOrLoad and Set fail with an error
	// wrapping ErrCodec, and is not cached.
	Codec Codec[V]
	// ValueVersion, when set, stands for the shape of V in the fingerprint that
	// values in the Store carry; a value read with another fingerprint is a miss, so
	// that two builds of a program sharing a store during a rolling deploy never
	// decode each other's values. Default "": the fingerprint describes V's Go type
	// (its fields, their types and tags) and the Codec's Format, which catches most
	// changes; set a version to also catch a change of meaning with the same shape.
	ValueVersion string
	// Local keeps the cache out of the hub's Store: it neither reads nor fills it,
	// and its values are shared with other processes only through invalidations.
	// Default false. A value built inside one of its loaders from another cache's
	// values is not stored in the Store either.
	Local bool

	// NoHitStats stops the counting of hits and misses, as otter does without a
	// StatsRecorder: Stats reports Hits and Misses as 0 and every other counter as
	// usual, and each read saves an increment of a striped counter. Default false:
	// hits and misses are counted. A Recorder still receives every event.
	NoHitStats bool
	// Executor runs the store's maintenance (applying buffered reads and writes to
	// the eviction policy, expiring entries, deletion callbacks). Default nil: the
	// store's own, which runs it in other goroutines so that no read or write waits
	// for it. func(f func()) { f() } runs it in the calling goroutine before the call
	// returns: slower, but every access reaches the eviction policy before the next
	// one, which makes replays of traces deterministic.
	Executor func(fn func())

	// Logger receives warnings about background events. Default: the hub's logger.
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
	defaultMaxEntries  = 10_000
	defaultNegativeTTL = time.Minute
	// maxLifetime bounds every duration that is added to a clock reading, so that a
	// deadline never overflows.
	maxLifetime = 100 * 365 * 24 * time.Hour
)

// validate checks o and fills in defaults.
func (o *Options[K, V]) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("fresh: "+format, args...)) }
	if o.Hub == nil {
		o.Hub = DefaultHub()
	}
	switch {
	case o.MaxEntries < 0:
		bad("MaxEntries %d is negative", o.MaxEntries)
	case o.MaxEntries > maxEntries:
		bad("MaxEntries %d is over %d", o.MaxEntries, maxEntries)
	case o.MaxEntries > 0 && o.MaxCost > 0:
		bad("MaxEntries and MaxCost cannot both be set")
	case o.MaxCost > 0 && o.Cost == nil:
		bad("MaxCost needs a Cost function")
	case o.MaxCost == 0 && o.Cost != nil:
		bad("Cost is set but MaxCost is 0")
	case o.MaxCost > math.MaxInt64:
		bad("MaxCost %d is over %d", o.MaxCost, uint64(math.MaxInt64))
	case o.MaxEntries == 0 && o.MaxCost == 0:
		o.MaxEntries = defaultMaxEntries
	}
	if o.TTL < 0 || o.TTL > maxLifetime {
		bad("TTL %v is not in [0, %v]", o.TTL, maxLifetime)
	}
	if o.NegativeTTL > maxLifetime {
		bad("NegativeTTL %v is over %v", o.NegativeTTL, maxLifetime)
	}
	if o.Jitter < 0 || o.Jitter >= 1 || o.Jitter != o.Jitter {
		bad("Jitter %v is not in [0, 1)", o.Jitter)
	}
	if o.Jitter > 0 && o.TTL == 0 {
		bad("Jitter needs a TTL")
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = defaultNegativeTTL
		if o.TTL > 0 && o.TTL < defaultNegativeTTL {
			o.NegativeTTL = o.TTL
		}
	}
	if o.Codec == nil {
		o.Codec = JSONCodec[V]{}
	}
	if len(o.ValueVersion) > maxNameLen {
		bad("ValueVersion is %d bytes long, over %d", len(o.ValueVersion), maxNameLen)
	}
	if len(o.Name) > maxNameLen {
		bad("Name is %d bytes long, over %d", len(o.Name), maxNameLen)
	}
	if o.KeyCodec == nil {
		o.KeyCodec = defaultKeyCodec[K]()
		if o.KeyCodec == nil && o.Hub.link != nil {
			var k K
			bad("keys of type %T need a KeyCodec to travel on the hub's Bus", k)
		}
	}
	for _, ts := range o.Tables {
		if err := ts.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Logger == nil {
		o.Logger = o.Hub.o.Logger
	}
	return errors.Join(errs...)
}

// Bounds of options.
const (
	maxEntries = 1 << 40
	maxNameLen = 1 << 10
)
