// Package fresh is a cache whose values stay correct.
//
// Applications cache computed values and query results. Each value says what it
// depends on: a Tag, an Entity (one row), a Table, or a Scope (the rows of a table
// matching column = value conditions). When the data underneath changes, the
// application invalidates those dependencies (Invalidate), or hands fresh the changed
// rows (InvalidateRows), and exactly the dependent values stop being served: in this
// process, in caches sharing its Tracker, and through a Bus in every other process.
//
//	articles, _ := fresh.New(fresh.Options[int, Article]{
//		TTL:    time.Hour,
//		Tables: []fresh.TableSchema{{Table: "articles", Scopes: [][]string{{"category", "published"}}}},
//	})
//	a, err := articles.GetOrLoad(ctx, 42, func(ctx context.Context, id int) (Article, error) {
//		fresh.Depend(ctx, fresh.Entity("articles", id))
//		return db.LoadArticle(ctx, id)
//	})
//	// ... after a write commits:
//	articles.InvalidateRows(ctx, fresh.RowChange{Table: "articles", Old: before, New: after})
//
// # Guarantees
//
// G0, no stale fill: a value computed before an invalidation of any of its
// dependencies is never served after that invalidation has been applied, and is not
// stored if the invalidation came first. A slow load that read the data before a
// write cannot put its old value back after the write's invalidation: loads are
// fenced by positions (below), not by luck. This holds for keys (Delete, Set),
// tags, entities, tables and scopes, and for values built from other cached values.
//
// G0', no joining an old flight: a read that starts after Invalidate (or Delete,
// Flush) returned never receives a value from a load that started before it.
//
// G1, bounded staleness across processes, fail-closed: with a Bus, a cache serves
// from memory only while its own heartbeats come back within Options.MaxStaleness,
// which proves it has applied everything published before them. A lost message (a
// sequence gap, an epoch change, an unreadable message, a transport loss) flushes
// it; a silent bus suspends it until heartbeats return, and then flushes it. It never
// serves on hope.
//
// G2, read-your-writes: Invalidate, InvalidateRows, Delete, Set and Flush apply to the
// local tier before they return, so the writing process reads its own writes at once.
//
// Not promised: seeing a write made behind the application's back (psql, a cron job)
// before it is invalidated; that needs a change feed.
//
// # How
//
// A Tracker keeps a position, a counter that only grows, and per dependency a
// tombstone: the last position at which it was invalidated. Invalidate advances the
// position and writes it into each dependency's tombstone: O(dependencies), however
// many entries depend on them. A load reads the position before its loader runs; its
// value is valid while no dependency's tombstone is above that position. A hit checks
// exactly that, with one atomic load per dependency; a store checks it too, and a
// loser is not stored (Stats.Fenced counts them). The caller whose load overlapped
// the write still gets its value: its read and the write were concurrent.
//
// Inside a loader, Depend adds dependencies, and GetOrLoad of other cached values adds
// theirs and their older positions (Russian-doll caching: invalidating an inner value's
// dependency invalidates every value built from it). WithRequestScope gives a
// per-request memo. ErrNotFound from a loader caches a negative result with its
// dependencies, so an insert matching its scope invalidates it. RefreshAfter reloads
// in the background; StaleIfError serves an expired value only when its reload fails,
// never after an invalidation.
//
// Keys are compared as Go values, never sanitised, so keys never collide. The
// in-process store is github.com/maypok86/otter (W-TinyLFU eviction, expiry).
package fresh
