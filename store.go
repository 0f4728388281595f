package fresh

import (
	"context"
	"time"
)

// A Store is a shared (L2) tier: values as bytes by key, kept valid by the same
// position and tombstone mechanism as the in-process tier, with that state kept in the
// store itself so that every process sharing the store shares it. A Hub with a Store
// (HubOptions.Store) reads it on an in-process miss and fills it after a load; see
// HubOptions.Store for the order of reads, fills and invalidations.
//
// Keys and dependencies are opaque strings to a Store; values are opaque bytes. Every
// method may be called concurrently. The freshtest package has a conformance suite,
// freshtest.TestStore, that every implementation should pass.
//
// # Positions and tombstones
//
// The store has a position, advanced by every Invalidate and Delete, and an epoch,
// changed by Flush and by anything that may have lost the store's state (a restart,
// a failover, an eviction of its bookkeeping). For each dependency it keeps a
// tombstone, the position of its latest invalidation, and for each key one of its
// own, the position of its latest Delete; a key and a dependency spelled alike never
// collide. An entry records the position its fill began at; it is served only while
// no tombstone of its dependencies or of its key is greater than that position, and
// only in the epoch it was filled in.
//
// # Retention
//
// Tombstones cannot be kept for ever. A store drops a tombstone only once every entry
// that could depend on it is unservable and every fill that could be refused by it
// would be refused anyway: in practice it keeps a pruned watermark, drops tombstones
// at or below it, reads a missing tombstone as the watermark, and so refuses fills
// and entries older than the watermark. The watermark is advanced as time passes
// (each store documents its rule), which bounds both the tombstones kept and the
// lifetime of an entry.
type Store interface {
	// Position returns the store's current position. A fill reads it before its loader
	// runs and passes it to Fill.
	Position(ctx context.Context) (Position, error)
	// Get returns the entry stored under key when it is present, unexpired, of the
	// current epoch, and none of its dependencies (nor the key itself, see Delete) has
	// been invalidated after the position it was filled at. ok is false otherwise.
	// The returned entry belongs to the caller.
	Get(ctx context.Context, key string) (e StoreEntry, ok bool, err error)
	// Fill stores value under key with its dependencies, only if the store's epoch is
	// still at.Epoch and no dependency (nor the key) was invalidated after at.Pos. It
	// reports whether it stored. A ttl of 0 means no expiry other than the store's
	// retention; a negative ttl, or a position ahead of the store's (which would hide
	// later invalidations), is an error. Fill does not retain value or deps.
	Fill(ctx context.Context, key string, value []byte, deps []string, at Position, ttl time.Duration) (stored bool, err error)
	// Invalidate advances the position and records it as the tombstone of every dep,
	// so that entries depending on them stop being served and fills that began
	// earlier are refused. It returns the new position. It costs O(len(deps)),
	// however many entries depend on them.
	Invalidate(ctx context.Context, deps []string) (Position, error)
	// Delete removes keys and refuses fills of those keys that began earlier: it
	// advances the position, records it as each key's own tombstone, and returns it.
	Delete(ctx context.Context, keys ...string) (Position, error)
	// Flush starts a new epoch: every entry becomes invalid, and fills that began in
	// an earlier epoch are refused. It returns the first position of the new epoch.
	Flush(ctx context.Context) (Position, error)
	// Close releases the store's resources. (It takes no context, as io.Closer and
	// the clients Stores wrap do.) It does not close a client it was given.
	Close() error
}

// A StoreEntry is a value read from a Store, with what a fill of the in-process tier
// from it needs: the dependencies the value was stored with, the position its fill
// began at, and how long it has left to live.
type StoreEntry struct {
	Value []byte
	Deps  []string
	// At is the position (and epoch) the entry's fill began at.
	At Position
	// TTL is the entry's remaining lifetime; 0 means none was set.
	TTL time.Duration
}

// A Leaser is a Store that can also hand out leases: the right, for a while, to be the
// one process that loads a key, so that a miss of one key in many processes at once
// costs the origin one load (memcache style). A Hub whose Store is a Leaser takes a
// lease before it runs a loader for an L2 miss (HubOptions.LeaseTTL); a process that
// does not get it waits for the holder's value to appear in the store, or for the
// lease to lapse, and then loads by itself.
type Leaser interface {
	// Lease tries to take the lease on key for ttl. When granted, token identifies
	// this attempt and is what Release takes; when not, token is empty and wait is how
	// long the current holder's lease still runs.
	Lease(ctx context.Context, key string, ttl time.Duration) (token string, granted bool, wait time.Duration, err error)
	// Release ends the lease on key if token still holds it; a lease that lapsed and
	// was taken by someone else is left alone.
	Release(ctx context.Context, key, token string) error
}

// A Position is a point in a tier's history of invalidations: the epoch (generation)
// and the position within it. Positions of different tiers or epochs are not
// comparable.
type Position struct {
	Epoch uint64
	Pos   uint64
}
