package freshtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/freshcache/fresh"
)

// errStoreClosed is returned by a MemStore after Close.
var errStoreClosed = errors.New("fresh/freshtest: store closed")

// DefaultRetention is the Retention of a MemStore whose options leave it zero.
const DefaultRetention = time.Hour

// MemStoreOptions configures a MemStore. The zero value is valid.
type MemStoreOptions struct {
	// Retention is how long the store keeps a tombstone, and the longest an entry
	// lives; see MemStore for the rule. Zero or negative means DefaultRetention (1h).
	Retention time.Duration
	// Clock returns the current time; nil means time.Now. Tests of retention and
	// expiry pass a fake clock.
	Clock func() time.Time
}

// MemStore is an in-memory fresh.Store and fresh.Leaser for tests. It is also the
// reference semantics of the Store interface, written for clarity rather than speed:
// one mutex guards everything, so every method is atomic, and a backend whose
// behaviour differs from MemStore's in a test of TestStore is the one at fault.
//
// The state is an epoch, a position, a pruned watermark, and three maps:
//   - tombstones: for each dependency, the position of its latest invalidation (a
//     max-register);
//   - deleted keys: for each key, the position of its latest Delete, an implicit
//     tombstone of the key itself, so that a fill of the key that began before the
//     Delete is refused (a key and a dependency spelled alike are kept apart);
//   - entries: the value, dependencies, fill position and expiry of each key.
//
// Invalidate and Delete advance the position by one and record it. Fill stores only
// at the current epoch, at a position not below the watermark, and when no tombstone
// of a dependency, nor of the key, is greater than the fill's position. Get serves an
// entry only under the same condition against its recorded position, and before its
// expiry. Flush starts a new epoch (the epoch plus one) and drops every entry and
// tombstone: every entry and every fill of the old epoch is then invalid, so the
// tombstones are no longer needed. The position is not reset (the watermark moves
// up to it).
//
// # Retention
//
// So that a long-lived MemStore does not grow without bound, it forgets tombstones by
// this rule, which is also the rule of the Redis store (freshredis):
//
//   - Marks. On an Invalidate or Delete, after the position has advanced, the store
//     records a mark (now, position) unless its newest mark is less than Retention/8
//     old. At most about nine marks are kept.
//   - Watermark. When the oldest mark is more than Retention old, it is removed and the
//     pruned watermark becomes max(watermark, the mark's position). Every tombstone of
//     a dependency or of a key at or below the watermark is then dropped.
//   - A missing tombstone reads as the watermark. So a Fill whose at.Pos is below the
//     watermark is refused, and an entry whose fill position is below the watermark
//     is not served (it is dropped).
//   - Entries live at most Retention: a fill's ttl is capped at Retention, and a ttl of
//     0 becomes Retention. Expired entries and leases are swept at most once per
//     Retention/8, so memory is reclaimed.
//
// Why dropping is sound: a dropped tombstone t is at or below the watermark w. An
// entry or fill at a position a < w is refused by the watermark whatever its
// tombstones say; one at a >= w could only be refused by a tombstone above a >= w >= t,
// so t could never have refused it. Dropping t therefore changes no answer. What the
// watermark costs is liveness, not safety: a fill whose position was read before the
// mark's position was reached, that is more than Retention ago, is refused, so a load
// must take less than Retention (an hour by default) to be stored.
//
// Get reports, in StoreEntry.TTL, the remaining lifetime of an entry filled with a
// ttl (at most the ttl, and at most Retention); for an entry filled with a ttl of 0 it
// reports 0, although the store drops it after Retention.
//
// # Leases
//
// Lease grants key to the caller when no unexpired lease of it is held, with a fresh
// random 128-bit token in hex for every grant; otherwise it returns how long the
// current lease still runs. Release removes the lease only when the token matches.
// Leases are independent of entries and epochs: Flush leaves them.
//
// The zero value is an empty store with the default options, like one from
// NewMemStore.
type MemStore struct {
	mu        sync.Mutex
	retention time.Duration
	clock     func() time.Time
	started   bool // the maps exist (the zero value makes them on first use)
	closed    bool
	epoch     uint64
	pos       uint64
	pruned    uint64            // the watermark: tombstones at or below it are dropped
	tombs     map[string]uint64 // dependency → position of its latest invalidation
	deletions map[string]uint64 // key → position of its latest Delete
	entries   map[string]memEntry
	marks     []memMark // oldest first
	lastSweep time.Time
	leases    map[string]memLease
}

// memEntry is one stored value.
type memEntry struct {
	value   []byte
	deps    []string
	at      uint64    // the fill's position
	expires time.Time // the store always sets one (at most Retention ahead)
	timed   bool      // the fill gave a ttl, so Get reports the remaining lifetime
}

// memMark records that the position was pos at time t.
type memMark struct {
	t   time.Time
	pos uint64
}

// memLease is a granted lease.
type memLease struct {
	token   string
	expires time.Time
}

var (
	_ fresh.Store  = (*MemStore)(nil)
	_ fresh.Leaser = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore with the default options, at epoch 1 and
// position 0.
func NewMemStore() *MemStore { return NewMemStoreWithOptions(MemStoreOptions{}) }

// NewMemStoreWithOptions returns an empty MemStore, at epoch 1 and position 0, with
// the given options.
func NewMemStoreWithOptions(o MemStoreOptions) *MemStore {
	return &MemStore{retention: o.Retention, clock: o.Clock}
}

// Position returns the current epoch and position.
func (s *MemStore) Position(ctx context.Context) (fresh.Position, error) {
	if _, err := s.lock(ctx); err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Get returns a copy of the entry stored under key if it is unexpired, not below the
// watermark, and neither key nor any of its dependencies has been invalidated after
// the entry's fill position. An entry that fails these checks is dropped.
func (s *MemStore) Get(ctx context.Context, key string) (fresh.StoreEntry, bool, error) {
	now, err := s.lock(ctx)
	if err != nil {
		return fresh.StoreEntry{}, false, err
	}
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return fresh.StoreEntry{}, false, nil
	}
	if !now.Before(e.expires) || !s.validLocked(key, e.deps, e.at) {
		delete(s.entries, key)
		return fresh.StoreEntry{}, false, nil
	}
	out := fresh.StoreEntry{
		Value: bytes.Clone(e.value),
		Deps:  slices.Clone(e.deps),
		At:    fresh.Position{Epoch: s.epoch, Pos: e.at},
	}
	if e.timed {
		out.TTL = e.expires.Sub(now)
	}
	return out, true, nil
}

// Fill stores a copy of value and deps under key if at is of the current epoch, not
// below the watermark, and neither key nor any of deps has been invalidated after
// at.Pos. A position ahead of the store's own cannot have come from this store, and
// is an error; so is a negative ttl. The ttl is capped at the Retention, and 0 means
// the Retention. A nil value is stored, and read back, as an empty non-nil one; deps
// are kept in their order, duplicates included.
func (s *MemStore) Fill(ctx context.Context, key string, value []byte, deps []string, at fresh.Position, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, fmt.Errorf("fresh/freshtest: fill %q: negative ttl %v", key, ttl)
	}
	now, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if at.Epoch != s.epoch {
		return false, nil
	}
	if at.Pos > s.pos {
		return false, fmt.Errorf("fresh/freshtest: fill %q: position %d is ahead of the store's %d", key, at.Pos, s.pos)
	}
	if !s.validLocked(key, deps, at.Pos) {
		return false, nil
	}
	life := s.retention
	if ttl > 0 && ttl < life {
		life = ttl
	}
	e := memEntry{
		value:   bytes.Clone(value),
		deps:    slices.Clone(deps),
		at:      at.Pos,
		expires: now.Add(life),
		timed:   ttl > 0,
	}
	if e.value == nil {
		e.value = []byte{}
	}
	s.entries[key] = e
	return true, nil
}

// validLocked reports whether a value of key with deps, filled at position at, is
// still valid: at is not below the watermark (a missing tombstone reads as the
// watermark), and no tombstone of a dependency or of the key is greater than at.
func (s *MemStore) validLocked(key string, deps []string, at uint64) bool {
	if at < s.pruned {
		return false
	}
	if s.deletions[key] > at {
		return false
	}
	for _, d := range deps {
		if s.tombs[d] > at {
			return false
		}
	}
	return true
}

// Invalidate advances the position and records it as the tombstone of every dep.
// With no deps it still advances the position.
func (s *MemStore) Invalidate(ctx context.Context, deps []string) (fresh.Position, error) {
	now, err := s.lock(ctx)
	if err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	s.pos++
	for _, d := range deps {
		s.tombs[d] = max(s.tombs[d], s.pos)
	}
	s.markLocked(now)
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Delete advances the position, records it as the tombstone of every key, removes
// the keys' entries, and returns the new position. With no keys it changes nothing
// and returns the current position.
func (s *MemStore) Delete(ctx context.Context, keys ...string) (fresh.Position, error) {
	now, err := s.lock(ctx)
	if err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	if len(keys) == 0 {
		return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
	}
	s.pos++
	for _, k := range keys {
		s.deletions[k] = max(s.deletions[k], s.pos)
		delete(s.entries, k)
	}
	s.markLocked(now)
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Flush starts a new epoch and drops every entry, tombstone and mark. The position
// is kept, and the watermark moves up to it: no fill of the new epoch can begin
// below it. It returns the new epoch's first position.
func (s *MemStore) Flush(ctx context.Context) (fresh.Position, error) {
	if _, err := s.lock(ctx); err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	s.epoch++
	s.pruned = s.pos
	clear(s.tombs)
	clear(s.deletions)
	clear(s.entries)
	s.marks = s.marks[:0]
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Lease takes the lease on key for ttl when no unexpired lease of key is held, and
// returns a new random token; otherwise it returns how long the held lease still
// runs. A ttl of zero or less is an error.
func (s *MemStore) Lease(ctx context.Context, key string, ttl time.Duration) (token string, granted bool, wait time.Duration, err error) {
	if ttl <= 0 {
		return "", false, 0, fmt.Errorf("fresh/freshtest: lease %q: ttl %v is not positive", key, ttl)
	}
	now, err := s.lock(ctx)
	if err != nil {
		return "", false, 0, err
	}
	defer s.mu.Unlock()
	if l, ok := s.leases[key]; ok && now.Before(l.expires) {
		return "", false, l.expires.Sub(now), nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	token = hex.EncodeToString(b[:])
	s.leases[key] = memLease{token: token, expires: now.Add(ttl)}
	return token, true, 0, nil
}

// Release ends the lease on key if token holds it; otherwise it does nothing. An
// empty token is an error.
func (s *MemStore) Release(ctx context.Context, key, token string) error {
	if token == "" {
		return fmt.Errorf("fresh/freshtest: release %q: empty token", key)
	}
	if _, err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if l, ok := s.leases[key]; ok && l.token == token {
		delete(s.leases, key)
	}
	return nil
}

// Close drops the store's contents. Later calls return an error. Close is idempotent.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.tombs, s.deletions, s.entries, s.leases, s.marks = nil, nil, nil, nil, nil
	return nil
}

// markLocked records a mark (now, position) after a write that advanced the
// position, unless the newest mark is less than Retention/8 old.
func (s *MemStore) markLocked(now time.Time) {
	if n := len(s.marks); n > 0 && now.Sub(s.marks[n-1].t) < s.retention/8 {
		return
	}
	s.marks = append(s.marks, memMark{t: now, pos: s.pos})
}

// maintainLocked applies the retention rule at time now: it retires the marks more
// than Retention old, raising the watermark to their positions and dropping the
// tombstones at or below it; and at most once per Retention/8 it sweeps expired
// entries and leases, and entries below the watermark.
func (s *MemStore) maintainLocked(now time.Time) {
	raised := false
	for len(s.marks) > 0 && now.Sub(s.marks[0].t) > s.retention {
		if m := s.marks[0]; m.pos > s.pruned {
			s.pruned = m.pos
			raised = true
		}
		s.marks = s.marks[1:]
	}
	if raised {
		for d, p := range s.tombs {
			if p <= s.pruned {
				delete(s.tombs, d)
			}
		}
		for k, p := range s.deletions {
			if p <= s.pruned {
				delete(s.deletions, k)
			}
		}
	}
	if now.Sub(s.lastSweep) < s.retention/8 {
		return
	}
	s.lastSweep = now
	for k, e := range s.entries {
		if !now.Before(e.expires) || e.at < s.pruned {
			delete(s.entries, k)
		}
	}
	for k, l := range s.leases {
		if !now.Before(l.expires) {
			delete(s.leases, k)
		}
	}
}

// lock checks ctx, reads the clock, takes the mutex, checks that the store is open,
// and applies the retention rule. On success the caller holds the mutex; now is the
// clock's time. (The clock is read before the mutex is taken, so that no caller code
// runs under it; a time slightly older than another caller's is harmless to the rule.)
func (s *MemStore) lock(ctx context.Context) (now time.Time, err error) {
	if ctx == nil {
		return time.Time{}, errors.New("fresh/freshtest: nil context")
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	if s.clock != nil { // set only by the constructor
		now = s.clock()
	} else {
		now = time.Now()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return time.Time{}, errStoreClosed
	}
	if !s.started { // the zero value, or a new store, on first use
		s.started = true
		if s.retention <= 0 {
			s.retention = DefaultRetention
		}
		s.epoch = 1
		s.tombs = make(map[string]uint64)
		s.deletions = make(map[string]uint64)
		s.entries = make(map[string]memEntry)
		s.leases = make(map[string]memLease)
		s.lastSweep = now
	}
	s.maintainLocked(now)
	return now, nil
}
