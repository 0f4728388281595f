package fresh

import (
	"context"
	"time"
)

// A Store is a shared (L2) tier: values as bytes by key, kept valid by the same
// position and tombstone mechanism as the in-process tier, with that state kept in the
// store itself so that every process sharing the store shares it.
//
// Keys and dependencies are opaque strings to a Store; values are opaque bytes. Every
// method may be called concurrently. The freshtest package has a conformance suite,
// freshtest.TestStore, that every implementation should pass.
type Store interface {
	// Position returns the store's current position. A fill reads it before its loader
	// runs and passes it to Fill.
	Position(ctx context.Context) (Position, error)
	// Get returns the value stored under key when it is present, unexpired, of the
	// current epoch, and none of its dependencies (nor the key itself, see Delete) has
	// been invalidated after the position it was filled at. ok is false otherwise.
	// The returned slice belongs to the caller.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Fill stores value under key with its dependencies, only if the store's epoch is
	// still at.Epoch and no dependency (nor the key) was invalidated after at.Pos. It
	// reports whether it stored. A ttl of 0 means no expiry; a negative ttl, or a
	// position ahead of the store's (which would hide later invalidations), is an
	// error. Fill does not retain value.
	Fill(ctx context.Context, key string, value []byte, deps []string, at Position, ttl time.Duration) (stored bool, err error)
	// Invalidate advances the position and records it as the tombstone of every dep,
	// so that entries depending on them stop being served and fills that began
	// earlier are refused. It returns the new position.
	Invalidate(ctx context.Context, deps []string) (Position, error)
	// Delete removes keys and refuses fills of those keys that began earlier: it
	// advances the position and records it as the key's own tombstone, kept apart from
	// dependency tombstones (a key and a dependency spelled alike never collide).
	Delete(ctx context.Context, keys ...string) error
	// Flush starts a new epoch: every entry becomes invalid, and fills that began in
	// an earlier epoch are refused.
	Flush(ctx context.Context) error
	// Close releases the store's resources. (It takes no context, as io.Closer and
	// the clients Stores wrap do.)
	Close() error
}

// A Position is a point in a tier's history of invalidations: the epoch (generation)
// and the position within it. Positions of different tiers or epochs are not
// comparable.
type Position struct {
	Epoch uint64
	Pos   uint64
}
