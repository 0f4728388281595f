package freshredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// Store is a fresh.Store (and fresh.Leaser) kept in Redis: the shared tier of every
// process that uses the same Redis and namespace. It follows the semantics of
// freshtest.MemStore, the reference Store, and passes freshtest.TestStore and
// freshtest.TestLeaser on a single server and on Redis Cluster.
//
// Every operation is one Lua script, run atomically by Redis in one round trip:
// Get validates the entry against the tombstones of its dependencies and of its key,
// Fill checks its position against them before storing, and Invalidate costs
// O(len(deps)) in one call, however many entries depend on them. The Store needs
// Redis 6.2 or later (ZADD GT, ZMSCORE); NewStore checks.
//
// # Key layout
//
// All keys of namespace ns begin with "fresh:v1:{ns}:" ("v1" versions the layout).
// The braces are a Redis Cluster hash tag: every key of a namespace hashes to one
// slot, so every script touches keys of one slot only and no command ever fails with
// CROSSSLOT. The other side of that is that one namespace lives on one cluster shard;
// spread load over shards with several namespaces. Keys are only ever built by the
// Store's key builders.
//
//	fresh:v1:{ns}:meta         hash: epoch, pos, pruned (the watermark), runid
//	fresh:v1:{ns}:tombs        sorted set: "d:"+dep and "k:"+key, score = position
//	fresh:v1:{ns}:marks        list of "time_µs:position" retention marks, oldest first
//	fresh:v1:{ns}:e:<key>      hash per entry: v value, a fill position, p epoch,
//	                           d dependencies, t present if the fill gave a ttl
//	fresh:v1:{ns}:lease:<key>  string: the token of the lease holder
//
// A dependency list (d) is each dependency as its length in decimal, ':' and its
// bytes, concatenated, so dependencies may hold any bytes. Tombstones are written
// with ZADD GT, a max-register, and read with one ZMSCORE for all of an entry's
// dependencies and its key; "d:" and "k:" keep a key and a dependency spelled alike
// apart. Entry hashes expire (PEXPIRE) after min(ttl, Retention), or Retention for a
// ttl of 0; lease strings after their ttl.
//
// # Epochs
//
// The epoch is a number of microseconds since 1970 read from the Redis server's
// clock (TIME) when the epoch starts, and above the previous epoch when that is
// known, so a new epoch differs from every earlier one. A new epoch starts:
//   - on Flush (the position is kept, and the watermark moves up to it);
//   - when a script finds meta missing or unreadable (FLUSHALL, a restart without
//     persistence, an eviction, a first use, garbage) or the tombs key of another
//     type: the position starts again at 0 and tombstones and marks are dropped;
//   - when the monitor (see StoreOptions.CheckInterval) finds that the server's
//     run_id is not the one recorded in meta, that is after a restart (which may
//     have restored a snapshot that lacks later tombstones) or a failover to another
//     server (whose copy may lag). Until the monitor's next check, up to
//     CheckInterval after the server comes back, entries restored from a snapshot
//     can still be served: keep CheckInterval short where Redis persists to disk.
//
// Entries record the epoch they were filled in, and are served only in it.
//
// # Retention
//
// Tombstones are dropped by the rule of freshtest.MemStore, run by the scripts
// themselves on the Redis server's clock:
//   - on an Invalidate or Delete, after the position has advanced, a mark "now:pos"
//     is pushed to the marks list unless the newest mark is less than Retention/8
//     old;
//   - when the oldest mark is more than Retention old, it is removed and the
//     watermark (meta pruned) becomes max(pruned, its position); tombstones at or
//     below the watermark are then removed, at most 1000 per script call (the
//     monitor goes on each CheckInterval until none is left), so that no call
//     blocks Redis for long;
//   - a missing tombstone reads as the watermark: a Fill whose position is below
//     it is refused, and an entry filled below it is not served (and is deleted).
//
// Dropping is sound because a dropped tombstone is at or below the watermark, and
// any entry or fill it could refuse is below the watermark and refused anyway. The
// price is that a load must take less than Retention to be stored. Entries live at
// most Retention, so memory is reclaimed by Redis's expiry.
//
// # Eviction and garbage
//
// A missing meta is detected, and so is a missing tombs set while the position is
// above the watermark (every advance of the position records a tombstone above the
// watermark, and only those at or below it are pruned): either starts a new epoch.
// A single tombstone removed by hand (ZREM) cannot be told from one never written,
// and eviction works on whole keys, so run Redis with maxmemory-policy noeviction or
// a volatile-* policy (NewStore logs a warning for allkeys-*): under allkeys-* an
// eviction of the bookkeeping costs a flush of the namespace, and under memory
// pressure that may happen often. Data in the namespace's keys that the Store did not write (missing or
// malformed fields, keys of the wrong type) reads as a miss, is counted in
// StoreStats.Invalid, and is deleted; it never causes a panic.
//
// The Store never closes the client it was given.
type Store struct {
	client    redis.UniversalClient
	keys      storeKeys
	retention time.Duration
	interval  time.Duration // the monitor's CheckInterval
	log       *slog.Logger
	onEpoch   func(prev, next uint64)

	// retainArgs are the first three arguments of the scripts that apply the
	// retention rule: retention and mark interval in µs, and the prune limit.
	retainArgs [3]any

	epoch   atomic.Uint64 // the newest epoch seen, 0 before the first
	started atomic.Bool   // NewStore's probe is done: a reset from now on is news
	closed  atomic.Bool
	stats   storeCounters

	stop      chan struct{} // closed by Close to stop the monitor
	done      chan struct{} // closed by the monitor when it returns
	closeOnce sync.Once
}

var (
	_ fresh.Store  = (*Store)(nil)
	_ fresh.Leaser = (*Store)(nil)
)

// StoreOptions configures a Store. The zero value is valid.
type StoreOptions struct {
	// Namespace separates stores sharing a Redis: only stores of the same namespace
	// share entries and invalidations. It is 1 to 128 bytes without '{' or '}'.
	// Default "fresh".
	Namespace string
	// Retention is how long tombstones are kept and the longest an entry lives; a
	// fill whose load took longer is refused. At least one second. Default 1h.
	Retention time.Duration
	// CheckInterval is the period of the monitor, which checks the server's run_id
	// (see Epochs) and finishes pruning tombstones. Default 1s.
	CheckInterval time.Duration
	// Logger receives warnings about the server's configuration and background
	// events. Nil means slog.Default().
	Logger *slog.Logger
	// OnEpochChange, if set, is called when the Store sees the epoch move forward
	// (Flush, lost state, a restart or failover), with the previous and the next
	// epoch. It is called on the goroutine of the call that saw the change, under
	// no lock of the Store's; it must not block.
	OnEpochChange func(prev, next uint64)
}

// Defaults of StoreOptions.
const (
	DefaultNamespace     = "fresh"
	DefaultRetention     = time.Hour
	DefaultCheckInterval = time.Second
)

const (
	maxStoreNamespaceLen = 128
	// storePruneLimit bounds the tombstones one script call removes.
	storePruneLimit = 1000
	// storeMaxInt is the largest number the scripts hold exactly (2^53 - 1). Every
	// epoch and position of a Store is below it.
	storeMaxInt = 1<<53 - 1
	// storeProbeTimeout bounds NewStore's round trips.
	storeProbeTimeout = 10 * time.Second
)

// ErrStoreClosed is returned by the methods of a Store after Close.
var ErrStoreClosed = errors.New("freshredis: store closed")

// StoreStats are counts of a Store's operations since NewStore.
type StoreStats struct {
	// Hits and Misses count Gets that returned an entry, or none, without error.
	// Misses includes Invalid.
	Hits, Misses uint64
	// Invalid counts Gets that found data the Store did not write (missing or
	// malformed fields, a key of the wrong type) and deleted it.
	Invalid uint64
	// Stored and Refused count Fills that stored, and that were refused (another
	// epoch, below the watermark, or a tombstone above the fill's position).
	Stored, Refused uint64
	// Errors counts calls that returned an error, and failed monitor checks.
	Errors uint64
	// EpochChanges counts the times the Store saw the epoch move forward.
	EpochChanges uint64
}

type storeCounters struct {
	hits, misses, invalid, stored, refused, errors, epochChanges atomic.Uint64
}

// storeKeys builds every key of a namespace; nothing else makes keys. All of them
// carry the hash tag {ns}.
type storeKeys struct {
	ns                 string
	prefix             string // "fresh:v1:{ns}:"
	meta, tombs, marks string
	entryPre, leasePre string
	scriptKeys         []string // meta, tombs, marks: the first keys of every script
}

func newStoreKeys(ns string) storeKeys {
	p := "fresh:v1:{" + ns + "}:"
	k := storeKeys{
		ns: ns, prefix: p, meta: p + "meta", tombs: p + "tombs", marks: p + "marks",
		entryPre: p + "e:", leasePre: p + "lease:",
	}
	k.scriptKeys = []string{k.meta, k.tombs, k.marks}
	return k
}

// entry returns the key of key's entry hash.
func (k storeKeys) entry(key string) string { return k.entryPre + key }

// lease returns the key of key's lease.
func (k storeKeys) lease(key string) string { return k.leasePre + key }

// with returns the script keys followed by more, in a new slice.
func (k storeKeys) with(more ...string) []string {
	out := make([]string, 0, len(k.scriptKeys)+len(more))
	return append(append(out, k.scriptKeys...), more...)
}

// validateStoreNamespace checks StoreOptions.Namespace.
func validateStoreNamespace(ns string) error {
	switch {
	case ns == "":
		return errors.New("freshredis: StoreOptions.Namespace is empty")
	case len(ns) > maxStoreNamespaceLen:
		return fmt.Errorf("freshredis: StoreOptions.Namespace is %d bytes long; the limit is %d", len(ns), maxStoreNamespaceLen)
	case strings.ContainsAny(ns, "{}"):
		return fmt.Errorf("freshredis: StoreOptions.Namespace %q contains a brace, which would break its hash tag", ns)
	}
	return nil
}

// NewStore returns a Store of namespace o.Namespace on client, which may be a
// *redis.Client (single server or Sentinel failover) or a *redis.ClusterClient. It
// checks the options, makes one round trip to check the server's version (6.2 or
// later) and prepare the namespace, logs a warning if the server's maxmemory-policy
// may evict the namespace's bookkeeping, and starts the monitor, which Close stops.
// The Store never closes client.
func NewStore(client redis.UniversalClient, o StoreOptions) (*Store, error) {
	if client == nil || (reflect.ValueOf(client).Kind() == reflect.Pointer && reflect.ValueOf(client).IsNil()) {
		return nil, errors.New("freshredis: NewStore: nil client")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if err := validateStoreNamespace(o.Namespace); err != nil {
		return nil, err
	}
	switch {
	case o.Retention == 0:
		o.Retention = DefaultRetention
	case o.Retention < time.Second:
		return nil, fmt.Errorf("freshredis: StoreOptions.Retention %v is less than 1s", o.Retention)
	}
	switch {
	case o.CheckInterval == 0:
		o.CheckInterval = DefaultCheckInterval
	case o.CheckInterval < 0:
		return nil, fmt.Errorf("freshredis: StoreOptions.CheckInterval %v is negative", o.CheckInterval)
	}
	s := &Store{
		client:    client,
		keys:      newStoreKeys(o.Namespace),
		retention: o.Retention,
		interval:  o.CheckInterval,
		log:       o.Logger,
		onEpoch:   o.OnEpochChange,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.retainArgs = [3]any{o.Retention.Microseconds(), (o.Retention / 8).Microseconds(), storePruneLimit}

	ctx, cancel := context.WithTimeout(context.Background(), storeProbeTimeout)
	defer cancel()
	r, err := s.check(ctx)
	if err != nil {
		return nil, fmt.Errorf("freshredis: NewStore: %w", err)
	}
	if !versionAtLeast(r.version, 6, 2) {
		return nil, fmt.Errorf("freshredis: NewStore: Redis %s is too old; the Store needs 6.2 or later", r.version)
	}
	s.checkEvictionPolicy(ctx)
	s.started.Store(true)
	go s.monitor(r.runID)
	return s, nil
}

// Namespace returns the store's namespace.
func (s *Store) Namespace() string { return s.keys.ns }

// Stats returns a snapshot of the Store's counters.
func (s *Store) Stats() StoreStats {
	c := &s.stats
	return StoreStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Invalid: c.invalid.Load(),
		Stored: c.stored.Load(), Refused: c.refused.Load(), Errors: c.errors.Load(),
		EpochChanges: c.epochChanges.Load(),
	}
}

// Position returns the store's current epoch and position.
func (s *Store) Position(ctx context.Context) (fresh.Position, error) {
	if err := s.begin(ctx); err != nil {
		return fresh.Position{}, s.fail("position", err)
	}
	res, err := scriptPosition.Run(ctx, s.client, s.keys.scriptKeys).Slice()
	if err != nil {
		return fresh.Position{}, s.fail("position", err)
	}
	p, err := s.head(res, 0)
	if err != nil {
		return fresh.Position{}, s.fail("position", err)
	}
	return p, nil
}

// Get returns the entry stored under key if it is valid: of the current epoch, not
// below the watermark, and with no tombstone of its dependencies or of key above
// its fill position. An entry that is not valid is deleted. The entry's TTL is its
// remaining lifetime if the fill gave a ttl, and 0 otherwise.
func (s *Store) Get(ctx context.Context, key string) (fresh.StoreEntry, bool, error) {
	if err := s.begin(ctx); err != nil {
		return fresh.StoreEntry{}, false, s.failKey("get", key, err)
	}
	res, err := scriptGet.Run(ctx, s.client, s.keys.with(s.keys.entry(key)), "k:"+key).Slice()
	if err != nil {
		return fresh.StoreEntry{}, false, s.failKey("get", key, err)
	}
	status, err := replyInt(res, 0)
	if err != nil {
		return fresh.StoreEntry{}, false, s.failKey("get", key, err)
	}
	cur, err := s.head(res, 1)
	if err != nil {
		return fresh.StoreEntry{}, false, s.failKey("get", key, err)
	}
	switch status {
	case 1:
	case 2:
		s.stats.invalid.Add(1)
		s.stats.misses.Add(1)
		return fresh.StoreEntry{}, false, nil
	default:
		s.stats.misses.Add(1)
		return fresh.StoreEntry{}, false, nil
	}
	e, ok := decodeStoreEntry(res, cur.Epoch)
	if !ok { // the script checked the fields, so this is a bug or a strange proxy
		s.stats.invalid.Add(1)
		s.stats.misses.Add(1)
		return fresh.StoreEntry{}, false, nil
	}
	s.stats.hits.Add(1)
	return e, true, nil
}

// decodeStoreEntry decodes the hit part of the get script's reply: a, pttl, timed,
// v, d from index 4 on.
func decodeStoreEntry(res []any, epoch uint64) (fresh.StoreEntry, bool) {
	a, err1 := replyInt(res, 4)
	pttl, err2 := replyInt(res, 5)
	timed, err3 := replyInt(res, 6)
	v, err4 := replyString(res, 7)
	d, err5 := replyString(res, 8)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || a < 0 {
		return fresh.StoreEntry{}, false
	}
	deps, ok := decodeDeps(d)
	if !ok {
		return fresh.StoreEntry{}, false
	}
	e := fresh.StoreEntry{
		Value: []byte(v),
		Deps:  deps,
		At:    fresh.Position{Epoch: epoch, Pos: uint64(a)},
	}
	if e.Value == nil {
		e.Value = []byte{}
	}
	if timed == 1 {
		// PTTL is -1 or -2 only if the entry has no expiry or vanished, which the
		// script rules out; report at least a millisecond for a timed entry.
		e.TTL = max(time.Duration(pttl)*time.Millisecond, time.Millisecond)
	}
	return e, true
}

// Fill stores value under key with deps if at is of the current epoch, not below
// the watermark, and no tombstone of deps or of key is above at.Pos. The entry
// expires after min(ttl, Retention), or Retention for a ttl of 0. A negative ttl,
// or a position ahead of the store's, is an error.
func (s *Store) Fill(ctx context.Context, key string, value []byte, deps []string, at fresh.Position, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, s.failKey("fill", key, fmt.Errorf("negative ttl %v", ttl))
	}
	if err := s.begin(ctx); err != nil {
		return false, s.failKey("fill", key, err)
	}
	if at.Pos > storeMaxInt {
		return false, s.failKey("fill", key, fmt.Errorf("position %d is ahead of the store's", at.Pos))
	}
	if at.Epoch == 0 || at.Epoch > storeMaxInt { // no epoch of a Store
		s.stats.refused.Add(1)
		return false, nil
	}
	life := s.retention
	if ttl > 0 && ttl < life {
		life = ttl
	}
	timed := "0"
	if ttl > 0 {
		timed = "1"
	}
	if value == nil {
		value = []byte{}
	}
	res, err := scriptFill.Run(ctx, s.client, s.keys.with(s.keys.entry(key)),
		strconv.FormatUint(at.Epoch, 10), strconv.FormatUint(at.Pos, 10), value, encodeDeps(deps),
		strconv.FormatInt(ceilMillis(life), 10), timed, "k:"+key).Slice()
	if err != nil {
		return false, s.failKey("fill", key, err)
	}
	status, err := replyInt(res, 0)
	if err != nil {
		return false, s.failKey("fill", key, err)
	}
	cur, err := s.head(res, 1)
	if err != nil {
		return false, s.failKey("fill", key, err)
	}
	switch status {
	case 1:
		s.stats.stored.Add(1)
		return true, nil
	case -1:
		return false, s.failKey("fill", key, fmt.Errorf("position %d is ahead of the store's %d", at.Pos, cur.Pos))
	case -2:
		return false, s.failKey("fill", key, errors.New("the script could not decode the dependencies"))
	default:
		s.stats.refused.Add(1)
		return false, nil
	}
}

// Invalidate advances the position and records it as the tombstone of every dep, in
// one round trip. With no deps it still advances the position.
func (s *Store) Invalidate(ctx context.Context, deps []string) (fresh.Position, error) {
	if len(deps) == 0 {
		// Nothing to record: the position does not move (a position with no
		// tombstone above the watermark is how a lost tombstone set is detected).
		return s.Position(ctx)
	}
	if err := s.begin(ctx); err != nil {
		return fresh.Position{}, s.fail("invalidate", err)
	}
	args := make([]any, 0, 3+len(deps))
	args = append(args, s.retainArgs[:]...)
	for _, d := range deps {
		args = append(args, d)
	}
	res, err := scriptInvalidate.Run(ctx, s.client, s.keys.scriptKeys, args...).Slice()
	if err != nil {
		return fresh.Position{}, s.fail("invalidate", err)
	}
	p, err := s.head(res, 0)
	if err != nil {
		return fresh.Position{}, s.fail("invalidate", err)
	}
	return p, nil
}

// Delete advances the position, records it as the tombstone of every key, and
// deletes the keys' entries, in one round trip. With no keys it returns the current
// position.
func (s *Store) Delete(ctx context.Context, keys ...string) (fresh.Position, error) {
	if len(keys) == 0 {
		return s.Position(ctx)
	}
	if err := s.begin(ctx); err != nil {
		return fresh.Position{}, s.fail("delete", err)
	}
	rkeys := make([]string, 0, 3+len(keys))
	rkeys = append(rkeys, s.keys.scriptKeys...)
	args := make([]any, 0, 3+len(keys))
	args = append(args, s.retainArgs[:]...)
	for _, k := range keys {
		rkeys = append(rkeys, s.keys.entry(k))
		args = append(args, k)
	}
	res, err := scriptDelete.Run(ctx, s.client, rkeys, args...).Slice()
	if err != nil {
		return fresh.Position{}, s.fail("delete", err)
	}
	p, err := s.head(res, 0)
	if err != nil {
		return fresh.Position{}, s.fail("delete", err)
	}
	return p, nil
}

// Flush starts a new epoch, keeping the position, and drops every tombstone. The
// old epoch's entries are no longer served and expire by themselves.
func (s *Store) Flush(ctx context.Context) (fresh.Position, error) {
	if err := s.begin(ctx); err != nil {
		return fresh.Position{}, s.fail("flush", err)
	}
	res, err := scriptFlush.Run(ctx, s.client, s.keys.scriptKeys).Slice()
	if err != nil {
		return fresh.Position{}, s.fail("flush", err)
	}
	p, err := s.head(res, 0)
	if err != nil {
		return fresh.Position{}, s.fail("flush", err)
	}
	return p, nil
}

// Close stops the monitor and waits for it. It does not close the client. Later
// calls of the Store's methods return ErrStoreClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
	})
	return nil
}

// begin checks what every call checks first.
func (s *Store) begin(ctx context.Context) error {
	if ctx == nil {
		return errors.New("nil context")
	}
	if s.closed.Load() {
		return ErrStoreClosed
	}
	return ctx.Err()
}

// fail counts err and wraps it with the operation's name.
func (s *Store) fail(op string, err error) error {
	s.stats.errors.Add(1)
	if errors.Is(err, ErrStoreClosed) {
		return err
	}
	return fmt.Errorf("freshredis: %s: %w", op, err)
}

// failKey is fail for an operation on one key.
func (s *Store) failKey(op, key string, err error) error {
	s.stats.errors.Add(1)
	if errors.Is(err, ErrStoreClosed) {
		return err
	}
	return fmt.Errorf("freshredis: %s %q: %w", op, key, err)
}

// head decodes the epoch, position and reset flag at res[i:i+3], the part of every
// namespace script's reply that says where the store is, and notes the epoch.
func (s *Store) head(res []any, i int) (fresh.Position, error) {
	e, err1 := replyInt(res, i)
	p, err2 := replyInt(res, i+1)
	reset, err3 := replyInt(res, i+2)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fresh.Position{}, err
	}
	if e <= 0 || p < 0 {
		return fresh.Position{}, fmt.Errorf("unexpected reply: epoch %d, position %d", e, p)
	}
	pos := fresh.Position{Epoch: uint64(e), Pos: uint64(p)}
	if reset == 1 && s.started.Load() {
		s.log.Warn("freshredis: the namespace's state was missing or unreadable (FLUSHALL, a restart without persistence, eviction, or foreign data); started a new epoch",
			"namespace", s.Namespace(), "epoch", pos.Epoch)
	}
	s.observe(pos.Epoch)
	return pos, nil
}

// observe notes epoch e. When it is above the newest seen, it counts the change and
// calls OnEpochChange. Replies can arrive out of order, so an older epoch is ignored.
func (s *Store) observe(e uint64) {
	for {
		old := s.epoch.Load()
		if e <= old {
			return
		}
		if s.epoch.CompareAndSwap(old, e) {
			if old != 0 {
				s.stats.epochChanges.Add(1)
				if s.onEpoch != nil {
					s.onEpoch(old, e)
				}
			}
			return
		}
	}
}

// replyInt returns res[i] as an integer reply.
func replyInt(res []any, i int) (int64, error) {
	if i >= len(res) {
		return 0, fmt.Errorf("unexpected reply: %d elements, want more than %d", len(res), i)
	}
	n, ok := res[i].(int64)
	if !ok {
		return 0, fmt.Errorf("unexpected reply: element %d is %T, want an integer", i, res[i])
	}
	return n, nil
}

// replyString returns res[i] as a bulk string reply.
func replyString(res []any, i int) (string, error) {
	if i >= len(res) {
		return "", fmt.Errorf("unexpected reply: %d elements, want more than %d", len(res), i)
	}
	v, ok := res[i].(string)
	if !ok {
		return "", fmt.Errorf("unexpected reply: element %d is %T, want a string", i, res[i])
	}
	return v, nil
}

// encodeDeps encodes a dependency list for an entry's d field: each dependency as
// its length in decimal, ':' and its bytes. The get script decodes it to name the
// tombstones to check, and decodeDeps back into a list.
func encodeDeps(deps []string) string {
	n := 0
	for _, d := range deps {
		n += len(d) + 4
	}
	b := make([]byte, 0, n)
	for _, d := range deps {
		b = strconv.AppendInt(b, int64(len(d)), 10)
		b = append(b, ':')
		b = append(b, d...)
	}
	return string(b)
}

// decodeDeps decodes what encodeDeps encoded; ok is false if d is malformed. No
// dependencies decode as nil.
func decodeDeps(d string) (deps []string, ok bool) {
	for d != "" {
		colon := strings.IndexByte(d, ':')
		if colon <= 0 || colon > 10 {
			return nil, false
		}
		n, err := strconv.ParseUint(d[:colon], 10, 31)
		if err != nil || uint64(len(d)-colon-1) < n {
			return nil, false
		}
		deps = append(deps, d[colon+1:colon+1+int(n)])
		d = d[colon+1+int(n):]
	}
	return deps, true
}

// ceilMillis returns d in whole milliseconds, rounded up, at least 1.
func ceilMillis(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

// versionAtLeast reports whether version (such as "7.0.15") is at least major.minor.
// An unreadable version passes: the scripts then fail on their own if it is old.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}
