// Package fresh is a cache whose values stay correct.
//
// Applications cache computed values and query results. Each value says what it
// depends on: a Tag, an Entity (one row), a Table, or a Scope (the rows of a table
// matching column = value conditions). When the data underneath changes, the
// application invalidates those dependencies (Invalidate), or hands fresh the changed
// rows (InvalidateRows), and the dependent values stop being served: in every cache of
// the process's Hub, and through a Bus in every other process.
//
//	articles, _ := fresh.New(fresh.Options[int, Article]{
//		TTL:    time.Hour,
//		Tables: []fresh.TableSchema{{Table: "articles", Scopes: [][]string{{"category", "published"}}}},
//	})
//	a, err := articles.GetOrLoad(ctx, 42, func(ctx context.Context, id int) (Article, error) {
//		fresh.Depend(ctx, fresh.Entity("articles", id))
//		return db.LoadArticle(ctx, id)
//	})
//	// ... right after a write commits:
//	articles.InvalidateRows(ctx, fresh.RowChange{Table: "articles", Old: before, New: after})
//
// # Hubs
//
// A Hub is an invalidation domain: it keeps what decides whether a value may be
// served, the table schemes, and the one connection to a Bus. Caches are typed views
// registered in a hub under unique names. Every process has a default hub
// (DefaultHub), which caches use unless Options.Hub names another, so caches share
// invalidations and table schemes, and nest each other's values, with no
// configuration. To share invalidations with other processes, make a hub with a Bus:
//
//	hub, err := fresh.NewHub(fresh.HubOptions{Bus: bus})
//	users, err := fresh.New(fresh.Options[int, User]{Hub: hub, Name: "users"})
//
// # A shared tier
//
// A hub may also have a Store (HubOptions.Store): a tier shared by every process that
// uses it, such as Redis through the freshredis module. An in-process miss then reads
// the store before it calls the loader, and a load fills both tiers. The store keeps
// its own position and tombstones, so each tier fences its fills by itself: a load
// reads the hub's position, then the store's, then runs, and each tier refuses the
// value if one of its dependencies was invalidated there since. Writes go to the hub,
// then the store, then the bus, so a process that hears of a write and misses cannot
// refill itself from a store entry the write killed. A nested value carries the
// dependencies and keys of the values it was built from into the store too, and is
// stored there only at the store position of the oldest of them, since an inner value
// read from memory may lag the store by up to the bus's delay.
//
// Values go to the store through the cache's Codec (JSON by default) with a
// fingerprint of the codec and the value's Go type (or Options.ValueVersion): a value
// written by another build of the program is a miss, never a zero-filled hit. A store
// that fails is bypassed (reads load, fills are skipped, both counted) and, if an
// invalidation missed it, flushed before it is used again. When the store is a
// Leaser, concurrent misses of one key across processes cost one load.
//
//	hub, err := fresh.NewHub(fresh.HubOptions{Store: store, Bus: bus})
//
// # Guarantees
//
// G0, no stale fill: a value computed before an invalidation of any of its
// dependencies is never served after that invalidation has been applied, and is not
// stored if the invalidation came first. A slow load that read the data before a
// write cannot put its old value back after the write's invalidation, even when every
// caller of the load has given up: loads are fenced by positions (below), not by
// luck. This holds for keys (Delete, Set, InvalidatePattern, Flush), tags, entities,
// tables and scopes, and for values built from other cached values.
//
// G0', no joining an old flight: a read that starts after Invalidate (or Delete,
// Set, Flush) returned never receives a value from a load that started before it,
// unless that value is still current.
//
// G1, bounded staleness across processes, fail-closed: with a Bus, a hub's caches
// serve from memory only while the hub's own heartbeats come back within
// HubOptions.MaxStaleness, which proves that everything any process published before
// them has been applied here (the Bus delivers all messages in one order). The hub
// stops serving when the newest returned heartbeat is MaxStaleness old, on a timer of
// its own. A lost message (a sequence gap or a sequence going backwards, an epoch
// change, a heartbeat announcing messages not received, an unreadable message, a
// transport loss) flushes the hub; a silent bus suspends it until heartbeats return,
// and then flushes it. It never serves on hope.
//
// G2, read-your-writes: Invalidate, InvalidateRows, Delete, Set and Flush apply to
// every cache of the hub, and to its Store, before they return, so the writing
// process reads its own writes at once.
//
// Not promised: seeing a write made behind the application's back (psql, a cron job)
// before it is invalidated; that needs a change feed. The same holds for a process
// that crashes between its commit and its Invalidate: nothing tells the other tiers,
// and the values it should have invalidated are served until their TTL (in the store,
// at most its retention), so give values that matter a TTL. And a read between a write's
// commit and its invalidation can still be served the value from before the write:
// call Invalidate or InvalidateRows right after the commit, in the same goroutine, to
// keep that window to the time between two statements; values loaded during it are
// not stored afterwards (G0).
//
// # How
//
// The hub keeps a position, a counter that only grows, and per dependency a
// tombstone: the last position at which it was invalidated. Invalidate advances the
// position and writes it into each dependency's tombstone: O(dependencies), however
// many entries depend on them. A load reads the position before its loader runs; its
// value is valid while no dependency's tombstone is above that position. A hit checks
// exactly that; a store checks it too, and a loser is not stored (Stats.Fenced counts
// them). The caller whose load overlapped the write still gets its value: its read and
// the write were concurrent.
//
// Tombstones are kept in a table of slots, two per dependency chosen by the hash of
// its name, rather than per dependency, so that a dependency costs an entry 8 bytes
// and nothing else. A dependency reads the smaller of its two slots, which is never
// below its own tombstone: a value is never served after an invalidation of its own
// dependency, but now and then one is dropped with an unrelated dependency that
// shares both its slots, the more often the more invalidations it lives through
// relative to the table's size (HubOptions.DependencySlots). A hit compares one
// position when nothing was invalidated since the entry was filled, or since a hit
// last found it valid.
//
// Inside a loader, Depend adds dependencies, and GetOrLoad of other cached values
// (with the loader's context) adds theirs and a dependency on the key read
// (Russian-doll caching: invalidating an inner value's dependency, or writing its key,
// invalidates every value built from it). HubOptions.Strict makes a nested read with
// another context fail loudly, for tests. WithRequestScope gives a per-request memo.
// ErrNotFound from a loader caches a negative result with its dependencies, for
// Options.NegativeTTL (a minute by default), so an insert matching its scope
// invalidates it. RefreshAfter reloads in the background; StaleIfError serves an
// expired value only when its reload fails, never after an invalidation.
//
// Dependency values are compared in a canonical form, so that equal SQL values give
// equal dependencies whatever Go type carries them: 42, int64(42), float64(42), "42"
// and []byte("42") are one value, as are true, 1 and "t" (see Dep.String).
//
// Values are shared, not copied: every reader of an entry gets the same value, so a
// value holding a slice, map or pointer must not be modified after it was cached or
// returned. Keys are compared as Go values, never sanitised, so keys never collide.
// The in-process store is github.com/maypok86/otter (W-TinyLFU eviction, expiry).
package fresh
