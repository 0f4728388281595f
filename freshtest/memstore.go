package freshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/freshcache/fresh"
)

// errStoreClosed is returned by a MemStore after Close.
var errStoreClosed = errors.New("fresh/freshtest: store closed")

// MemStore is an in-memory fresh.Store for tests. It is also the reference semantics
// of the Store interface, written for clarity rather than speed: one mutex guards
// everything, so every method is atomic, and a backend whose behaviour differs from
// MemStore's in a test of TestStore is the one at fault.
//
// The state is a position, an epoch and three maps:
//   - tombstones: for each dependency, the position of its latest invalidation (a
//     max-register; a missing dependency reads as 0);
//   - deleted keys: for each key, the position of its latest Delete, an implicit
//     tombstone of the key itself, so that a fill of the key that began before the
//     Delete is refused;
//   - entries: the value, dependencies, fill position and expiry of each key.
//
// Invalidate and Delete advance the position by one and record it. Fill stores only
// at the current epoch and when no tombstone of a dependency, nor of the key, is
// greater than the fill's position. Get serves an entry only under the same condition
// against its recorded position, and before its expiry by time.Now. Flush starts a new
// epoch and clears all three maps: every entry and every fill of the old epoch is
// then invalid, so the tombstones are no longer needed. The position is not reset.
//
// Tombstones and expired entries are kept until Flush (expired entries until a Get
// of their key), so a long-lived MemStore grows; it is meant for tests.
//
// The zero value is an empty store, like one from NewMemStore.
type MemStore struct {
	mu        sync.Mutex
	closed    bool
	epoch     uint64
	pos       uint64
	tombs     map[string]uint64 // dependency → position of its latest invalidation
	deletions map[string]uint64 // key → position of its latest Delete
	entries   map[string]memEntry
}

// memEntry is one stored value.
type memEntry struct {
	value   []byte
	deps    []string
	at      uint64    // the fill's position
	expires time.Time // zero for no expiry
}

var _ fresh.Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore, at epoch 1 and position 0.
func NewMemStore() *MemStore { return &MemStore{} }

// Position returns the current epoch and position.
func (s *MemStore) Position(ctx context.Context) (fresh.Position, error) {
	if err := s.lock(ctx); err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Get returns a copy of the value stored under key if it is unexpired and neither key
// nor any of its dependencies has been invalidated after the entry's fill position.
func (s *MemStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.lock(ctx); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return nil, false, nil
	}
	if !e.expires.IsZero() && !time.Now().Before(e.expires) {
		delete(s.entries, key)
		return nil, false, nil
	}
	if !s.validLocked(key, e.deps, e.at) {
		delete(s.entries, key)
		return nil, false, nil
	}
	return bytes.Clone(e.value), true, nil
}

// Fill stores a copy of value under key if at is of the current epoch and neither key
// nor any of deps has been invalidated after at.Pos. A position ahead of the store's
// own cannot have come from this store, and is an error; so is a negative ttl.
func (s *MemStore) Fill(ctx context.Context, key string, value []byte, deps []string, at fresh.Position, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, fmt.Errorf("fresh/freshtest: fill %q: negative ttl %v", key, ttl)
	}
	if err := s.lock(ctx); err != nil {
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
	e := memEntry{value: bytes.Clone(value), deps: slices.Clone(deps), at: at.Pos}
	if e.value == nil {
		e.value = []byte{}
	}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	s.entries[key] = e
	return true, nil
}

// validLocked reports whether a value of key with deps, filled at position at, is
// still valid: no tombstone of a dependency or of the key is greater than at.
func (s *MemStore) validLocked(key string, deps []string, at uint64) bool {
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
func (s *MemStore) Invalidate(ctx context.Context, deps []string) (fresh.Position, error) {
	if err := s.lock(ctx); err != nil {
		return fresh.Position{}, err
	}
	defer s.mu.Unlock()
	s.pos++
	for _, d := range deps {
		s.tombs[d] = max(s.tombs[d], s.pos)
	}
	return fresh.Position{Epoch: s.epoch, Pos: s.pos}, nil
}

// Delete advances the position, records it as the tombstone of every key, and removes
// the keys' entries.
func (s *MemStore) Delete(ctx context.Context, keys ...string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	s.pos++
	for _, k := range keys {
		s.deletions[k] = max(s.deletions[k], s.pos)
		delete(s.entries, k)
	}
	return nil
}

// Flush starts a new epoch and drops every entry and tombstone.
func (s *MemStore) Flush(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.epoch++
	clear(s.tombs)
	clear(s.deletions)
	clear(s.entries)
	return nil
}

// Close drops the store's contents. Later calls return an error. Close is idempotent.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.tombs, s.deletions, s.entries = nil, nil, nil
	return nil
}

// lock checks ctx, takes the mutex, and checks that the store is open. On success the
// caller holds the mutex.
func (s *MemStore) lock(ctx context.Context) error {
	if ctx == nil {
		return errors.New("fresh/freshtest: nil context")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStoreClosed
	}
	if s.entries == nil { // the zero value, on first use
		s.epoch = 1
		s.tombs = make(map[string]uint64)
		s.deletions = make(map[string]uint64)
		s.entries = make(map[string]memEntry)
	}
	return nil
}
