package fresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Hub is an invalidation domain: it holds the positions and tombstones that decide
// what may be served, the table schemes that InvalidateRows uses, and the one
// connection to a Bus (sequence numbers, heartbeats, suspension) that carries
// invalidations to and from other processes. Caches are typed views registered in a
// hub under unique names; an invalidation through any of them, or through the hub,
// reaches all of them before it returns, and a cached value read inside another
// cache's loader makes the outer value depend on it exactly.
//
// Every process has a default hub (DefaultHub), which caches use unless
// Options.Hub says otherwise: caches nest and share invalidations and table schemes
// with no configuration. Make a hub of your own to connect to a Bus, or to keep
// tests apart.
//
// # Invariants
//
// These are what keep G0, G0' and G1 (see the package documentation) true. Each site
// that relies on one cites it.
//
//   - I1, no tombstone is ever lowered. The tombstones live in a table of slots
//     (tracker.go), each the maximum of the positions of the invalidations of every
//     name that selects it; a dependency reads the smaller of its two slots, an upper
//     bound of its own tombstone. Nothing is forgotten: the table keeps no record to
//     prune, and growth starts each new slot from the old slot that covered it, under
//     a lock that no invalidation holds while it writes.
//   - I2, every load that can still store is fenceable. Delete, Set, InvalidatePattern,
//     Flush and Close fence every load of the keys they touch that is still in the
//     flight table; a load leaves the table only when it is fenced, finished, or
//     abandoned. A load whose callers all left is abandoned: fenced for good, so it
//     never stores.
//   - I3, nested reads keep the outer position when they can. A nested read that was
//     validated after the outer fill position was taken (a hit, a flight result
//     re-checked on return, a memo answer re-checked against its tombstones) is
//     current at the outer position and does not lower it; only a value that could
//     not be re-checked lowers the outer position to its own.
//   - I4, a nested value depends on the keys it read. A nested read makes the outer
//     value depend on the inner key (and on the inner cache as a whole, which
//     InvalidatePattern and Flush invalidate). The nested read turns key dependencies
//     on for the inner cache before it reads; a Set or Delete writes the store before
//     it invalidates the key dependency. So either the write sees key dependencies on
//     and fences the outer fill, or the nested read sees the written store.
//   - I5, suspension has one owner. The hub holds the set of reasons it cannot prove
//     freshness; the floor is raised while any reason stands and lowered, with a
//     flush, only when the last one clears, all under suspendMu. The watchdog runs on
//     a timer of its own, never behind a publish.
//   - I6, never fail open on bad input. An invalidation that cannot be encoded or
//     published is retried in order, or starts a new epoch so that every peer
//     flushes; a dependency too large for the wire is refused where it is made; a
//     message that cannot be read is a loss of continuity when it could have carried
//     an invalidation.
//   - I7, tiers in order. With a Store, a write reaches this hub, then the store,
//     then the Bus, each step returning before the next begins; a write the store
//     did not take is announced on the Bus (KindStoreMissed) before the write's own
//     message, and makes every receiver stop reading the store until it is flushed.
//     A value goes to the store only at the store position of the oldest value it
//     was built from: an L1 entry may lag the store by the Bus's delay.
type Hub struct {
	t       *tracker
	schemes schemes
	o       HubOptions
	link    *busLink   // nil without a Bus
	store   *storeLink // nil without a Store
	stats   hubCounters

	mu      sync.Mutex
	views   map[string]view
	unnamed uint64
	closed  atomic.Bool // set under mu; read without it by every invalidation

	suspendMu sync.Mutex
	reasons   suspendReason // guarded by suspendMu (I5)

	strict *strictTracker // nil unless HubOptions.Strict

	isDefault bool
}

// HubOptions configure a Hub. The zero value is a usable configuration: no bus.
type HubOptions struct {
	// Bus carries invalidations to and from other processes. Default nil: this
	// process only. With a Bus, every cache of the hub needs a Name, which must be the
	// same in every process for deletions and flushes to reach each other.
	Bus Bus
	// MaxStaleness is the longest the hub's caches serve without proof that they have
	// applied every invalidation published on the Bus before then (guarantee G1). When
	// the hub's heartbeats stop coming back within MaxStaleness, its caches stop
	// serving from memory, and flush when the heartbeats return. Default 5s; at least
	// 10ms; only with Bus.
	MaxStaleness time.Duration
	// Heartbeat is the interval of the heartbeats. Default MaxStaleness/5; at least
	// 1ms and shorter than MaxStaleness; only with Bus.
	Heartbeat time.Duration

	// Store is the shared (L2) tier the hub's caches read on a miss and fill after a
	// load, shared with every process that uses the same store (see Store for the
	// contract, and the order of tiers below). Default nil: in-process only. The hub
	// does not close it. Every process sharing a store must give its caches the same
	// names and register the same table schemes, since entries and the dependencies
	// they carry are shared.
	//
	// Reads go L1, store, loader; writes go to this hub, then the store, then the
	// Bus, so a peer that hears of a write and misses can never refill from an entry
	// the write killed. A failing store is bypassed (reads load, fills are skipped)
	// and, if an invalidation missed it, flushed when it answers again.
	Store Store
	// StoreTimeout bounds each call to the Store; a read that takes longer is a miss.
	// Default 500ms; only with Store.
	StoreTimeout time.Duration
	// LeaseTTL is how long a process that missed in the store holds the right to load
	// a key alone, when the Store is a Leaser: processes that miss the same key
	// meanwhile wait for its value, up to LeaseTTL, before they load by themselves.
	// Default 5s; negative turns leases off; only with Store.
	LeaseTTL time.Duration

	// Tables describes the tables whose row changes InvalidateRows understands. More
	// can be added with RegisterTable. Default none.
	Tables []TableSchema

	// DependencySlots fixes the size of the table of tombstones (rounded up to a power
	// of two). Each dependency is checked against two slots chosen by the hash of its
	// name, so dependencies that share both slots with another one that is
	// invalidated are invalidated with it: that is safe (a value is dropped, never
	// kept too long), and the smaller the table and the more invalidations an entry
	// lives through, the more often it happens. Default 0: the table grows with the
	// caches registered, one slot (8 bytes) per entry they may hold, from 4096 slots
	// to 2^20, and under a stream of invalidations up to 4 slots per entry (at least
	// 2^16, at most 2^26). Set it only to bound memory, or to test.
	DependencySlots int

	// Strict makes mistakes that would otherwise go unnoticed fail loudly, at some
	// cost; it is meant for tests. With Strict, a cached read made inside a loader
	// with a context other than the loader's (which would hide the read's
	// dependencies from the outer value) makes the outer load fail with
	// ErrLoaderContext. Default false.
	Strict bool

	// Logger receives warnings about background events (lost bus messages, failed
	// publishes, suspension). Default slog.Default().
	Logger *slog.Logger
	// Recorder receives the hub's events (EventPublishFail, EventDropped, EventGap) as
	// they happen. Default nil; the counters of Stats are kept regardless.
	Recorder Recorder
}

// A view is what the hub knows of a registered cache, whatever its key and value
// types.
type view interface {
	viewName() string
	// applyDelete applies a peer's deletion of encoded keys.
	applyDelete(keys []string)
	// applyPattern applies a peer's pattern deletion.
	applyPattern(pattern string)
	// flushLocal empties the cache here, fencing its loads.
	flushLocal()
	// closeView closes the cache (Hub.Close).
	closeView(ctx context.Context) error
}

type suspendReason uint8

const reasonSilent suspendReason = 1 << iota // the hub's heartbeats do not come back

// Limits on options.
const (
	defaultMaxStaleness = 5 * time.Second
	minMaxStaleness     = 10 * time.Millisecond
	minHeartbeat        = time.Millisecond
)

var defaultHub = sync.OnceValue(func() *Hub {
	h, err := NewHub(HubOptions{})
	if err != nil {
		panic(err) // the zero options are valid: this cannot happen
	}
	h.isDefault = true
	return h
})

// DefaultHub returns the process's default hub, which caches use unless Options.Hub
// names another. It has no bus and cannot be closed.
func DefaultHub() *Hub { return defaultHub() }

// NewHub returns a Hub configured by o, or an error naming every bad option. With a
// Bus, it subscribes before it returns and starts its heartbeats; Close stops them.
func NewHub(o HubOptions) (*Hub, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	h := &Hub{t: newTracker(o.DependencySlots), o: o, views: make(map[string]view)}
	if o.Strict {
		h.strict = newStrictTracker()
	}
	for _, ts := range o.Tables {
		if err := h.schemes.register(ts); err != nil {
			return nil, err
		}
	}
	if o.Store != nil {
		h.store = newStoreLink(h)
	}
	if o.Bus != nil {
		link, err := newBusLink(h)
		if err != nil {
			return nil, err
		}
		h.link = link
	}
	return h, nil
}

func (o *HubOptions) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("fresh: "+format, args...)) }
	if o.Bus != nil {
		if o.MaxStaleness == 0 {
			o.MaxStaleness = defaultMaxStaleness
		}
		if o.Heartbeat == 0 {
			o.Heartbeat = o.MaxStaleness / 5
		}
		switch {
		case o.MaxStaleness < minMaxStaleness:
			bad("MaxStaleness %v is shorter than %v", o.MaxStaleness, minMaxStaleness)
		case o.Heartbeat < minHeartbeat:
			bad("Heartbeat %v is shorter than %v", o.Heartbeat, minHeartbeat)
		case o.Heartbeat >= o.MaxStaleness:
			bad("Heartbeat %v must be shorter than MaxStaleness %v", o.Heartbeat, o.MaxStaleness)
		}
	} else if o.MaxStaleness != 0 || o.Heartbeat != 0 {
		bad("MaxStaleness and Heartbeat need a Bus")
	}
	if o.Store != nil {
		if o.StoreTimeout == 0 {
			o.StoreTimeout = defaultStoreTimeout
		}
		if o.LeaseTTL == 0 {
			o.LeaseTTL = defaultLeaseTTL
		}
		if o.StoreTimeout < 0 || o.StoreTimeout > time.Hour {
			bad("StoreTimeout %v is not in (0, 1h]", o.StoreTimeout)
		}
		if o.LeaseTTL > maxLeaseTTL {
			bad("LeaseTTL %v is over %v", o.LeaseTTL, maxLeaseTTL)
		}
	} else if o.StoreTimeout != 0 || o.LeaseTTL != 0 {
		bad("StoreTimeout and LeaseTTL need a Store")
	}
	if o.DependencySlots < 0 || o.DependencySlots > maxSlots {
		bad("DependencySlots %d is not in [0, %d]", o.DependencySlots, maxSlots)
	}
	for _, ts := range o.Tables {
		if err := ts.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// register adds v under its name, or under a derived one when name is empty (only
// without a bus). It returns the name.
func (h *Hub) register(name string, mk func(name string) view) (view, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if name == "" {
		if h.link != nil {
			return nil, errors.New("fresh: a cache on a hub with a Bus needs a Name, the same in every process")
		}
		for name == "" || h.views[name] != nil {
			h.unnamed++
			name = fmt.Sprintf("cache-%d", h.unnamed)
		}
	}
	if h.views[name] != nil {
		return nil, fmt.Errorf("fresh: a cache named %q is already registered in this hub", name)
	}
	v := mk(name)
	h.views[name] = v
	return v, nil
}

// unregister removes the view named name.
func (h *Hub) unregister(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.views, name)
}

// view returns the view named name, or nil.
func (h *Hub) view(name string) view {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.views[name]
}

func (h *Hub) allViews() []view {
	h.mu.Lock()
	defer h.mu.Unlock()
	vs := make([]view, 0, len(h.views))
	for _, v := range h.views {
		vs = append(vs, v)
	}
	return vs
}

// Position returns the hub's current position: a value computed from data read after
// this call can be stored with Set(..., AsOf(pos)) and is refused if an invalidation
// overtook it. Positions are local to the hub.
func (h *Hub) Position() uint64 { return h.t.pos.Load() }

// RegisterTable adds a table's key column and scope schemes (see TableSchema). Every
// cache of the hub, and InvalidateRows through any of them, uses them.
func (h *Hub) RegisterTable(ts TableSchema) error { return h.schemes.register(ts) }

// Invalidate stops every value that depends on any of deps from being served: in every
// cache of the hub before it returns (so the caller reads its own writes), and in
// other processes through the Bus. Loads in flight that read older data are not
// stored, and callers arriving later do not take their results. It costs
// O(len(deps)), however many entries depend on them, and never waits for a loader.
//
// Call it after the write it reflects has committed: a read between the commit and
// the invalidation can still be served the old value, so keep that window short
// (invalidate right after the commit, in the same goroutine). A Bus error is returned
// wrapped in ErrPublish: the local invalidation is done, and the hub keeps retrying the
// publish.
func (h *Hub) Invalidate(ctx context.Context, deps ...Dep) error {
	names := make([]string, 0, len(deps))
	for _, d := range deps {
		if err := d.Err(); err != nil {
			return fmt.Errorf("fresh: invalidate: %w", err)
		}
		names = append(names, d.s)
	}
	if len(names) == 0 {
		return nil
	}
	if err := h.invalidateLocal(ctx, names); err != nil {
		return err
	}
	h.toStore(ctx, names) // after this hub, before the bus (I7)
	if h.link != nil {
		return h.link.publishItems(ctx, kindInvalidate, "", names)
	}
	return nil
}

// toStore applies an invalidation of names to the Store, between the hub and the Bus
// (storeLink). When the store does not take it, the peers are told, before the
// invalidation's own message reaches them, to stop reading the store until it has
// been flushed: otherwise a peer that hears of the invalidation and misses would
// refill itself from the entry it should have killed. It returns the store's
// position after the invalidation, or a zero Position.
func (h *Hub) toStore(ctx context.Context, names []string) Position {
	if h.store == nil || len(names) == 0 {
		return Position{}
	}
	p := h.store.invalidatePos(ctx, names)
	if p.Epoch == 0 && h.link != nil {
		_ = h.link.publishStoreMissed(ctx) // I7; queued and retried on failure, in order
	}
	return p
}

// invalidateLocal applies an invalidation of names to the tracker and to the request
// memo of ctx.
func (h *Hub) invalidateLocal(ctx context.Context, names []string) error {
	if h.isClosed() {
		return ErrClosed
	}
	h.t.invalidate(names)
	if st := stateOf(ctx); st != nil && st.memo != nil {
		st.memo.forget(memoForget{names: slices.Clone(names)})
	}
	return nil
}

// InvalidateRows invalidates what the row changes dirty: for each change, the table,
// the entity of the old and of the new row, and every registered scope (TableSchema)
// that the old or the new row matches, so that a row leaving one scope and entering
// another invalidates both lists, and nothing else. Row values are compared in their
// canonical form (see Dep.String): 42, int64(42), float64(42) and "42" are one value.
// A row lacking a column of a scheme, or holding a value of a type dependencies
// cannot hold, invalidates every scope of that scheme; a row lacking its key column is
// reported as an error after everything else was invalidated.
//
// Other processes receive the row changes themselves and apply them with their own
// table schemes, so a scope registered only there is invalidated too.
func (h *Hub) InvalidateRows(ctx context.Context, changes ...RowChange) error {
	var names []string
	var errs []error
	items := make([]string, 0, len(changes))
	var stripNames []string
	unencodable := false
	for _, rc := range changes {
		n, err := h.schemes.deps(rc)
		names = append(names, n...)
		if err != nil {
			errs = append(errs, err)
		}
		if h.link != nil {
			s, stripped, err := wireRowChange(rc)
			switch {
			case err != nil:
				unencodable = true
			case stripped:
				// Columns too large or of an unsupported type were left out: peers
				// dirty every scope of the schemes they are in. The entity and
				// table go as dependencies, in case the key column was one of them.
				stripNames = append(stripNames, n...)
				fallthrough
			default:
				items = append(items, s)
			}
		}
	}
	if len(names) > 0 {
		if err := h.invalidateLocal(ctx, names); err != nil {
			return err
		}
		h.toStore(ctx, names) // after this hub, before the bus (I7)
	}
	if h.link != nil {
		if unencodable {
			// Peers cannot be told which scopes of theirs the rows touch (I6).
			h.link.breakContinuity("a row change that cannot travel on the bus")
		}
		if len(items) > 0 {
			if err := h.link.publishItems(ctx, kindRows, "", items); err != nil {
				errs = append(errs, err)
			}
		}
		if len(stripNames) > 0 {
			if err := h.link.publishItems(ctx, kindInvalidate, "", stripNames); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// maxWireValue is the longest canonical column value a row change carries on the bus;
// longer values (an article's body) cannot be scope values worth matching, and are
// left out.
const maxWireValue = 1 << 10

// wireRowChange encodes rc for the bus. A column whose value is too long or of a type
// dependencies cannot hold is left out (stripped), which makes every receiver dirty
// every scope of the schemes that column is in: less precise, never unsound.
func wireRowChange(rc RowChange) (s string, stripped bool, err error) {
	if s, err := encodeRowChange(rc); err == nil {
		return s, false, nil
	}
	strip := func(r Row) Row {
		if r == nil {
			return nil
		}
		out := make(Row, len(r))
		for col, v := range r {
			if b, err := appendValue(nil, v); err == nil && len(b) <= maxWireValue {
				out[col] = v
			}
		}
		return out
	}
	s, err = encodeRowChange(RowChange{Table: rc.Table, Old: strip(rc.Old), New: strip(rc.New)})
	return s, true, err
}

// applyRows applies row changes received from a peer.
func (h *Hub) applyRows(items []string) {
	var names []string
	for _, s := range items {
		rc, err := decodeRowChange(s)
		if err != nil {
			h.link.lost(fmt.Errorf("fresh: unreadable row change on the bus: %w", err))
			return
		}
		// An error here (a row lacking its key column) still gives every name that
		// could be computed, the scheme-wide ones included.
		n, _ := h.schemes.deps(rc)
		names = append(names, n...)
	}
	if len(names) > 0 {
		h.t.invalidate(names)
	}
}

// setReasonLocked adds (on) or removes a reason not to serve. The floor is raised
// when the first reason appears and lowered, with a flush, when the last one goes
// (I5). suspendMu is held.
func (h *Hub) setReasonLocked(r suspendReason, on bool) {
	switch {
	case on && h.reasons&r == 0:
		if h.reasons == 0 {
			h.t.suspend()
		}
		h.reasons |= r
	case !on && h.reasons&r != 0:
		h.reasons &^= r
		if h.reasons == 0 {
			h.t.resume()
		}
	}
}

// flushAll invalidates every value of every cache of the hub in O(1): continuity with
// the bus was lost. While suspended, resuming flushes anyway (I5).
func (h *Hub) flushAll() {
	h.suspendMu.Lock()
	defer h.suspendMu.Unlock()
	if h.reasons == 0 {
		h.t.flush()
	}
}

func (h *Hub) isClosed() bool { return h.closed.Load() }

// Stats returns a snapshot of the hub's counters. Counters of the caches' reads and
// loads are in each Cache's Stats, and only there.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	n := len(h.views)
	h.mu.Unlock()
	s := HubStats{
		Caches:       n,
		Slots:        h.t.slotCount(),
		Position:     h.t.pos.Load(),
		Epoch:        h.t.epoch.Load(),
		Suspended:    h.t.suspended(),
		Published:    h.stats.published.Load(),
		PublishFails: h.stats.publishFails.Load(),
		Received:     h.stats.received.Load(),
		Dropped:      h.stats.dropped.Load(),
		Gaps:         h.stats.gaps.Load(),
	}
	if h.link != nil {
		s.Pending = h.link.pendingCount()
	}
	if sl := h.store; sl != nil {
		s.StoreDown = sl.down.Load()
		s.StoreErrors = sl.errors.Load()
		s.StoreEpochChanges = sl.epochChanges.Load()
	}
	return s
}

func (h *Hub) record(ev Event) {
	if h.o.Recorder != nil {
		h.o.Recorder.Record(ev)
	}
}

// Close closes every cache of the hub, stops the bus link (delivering what it still
// has queued, within ctx) and its heartbeats, and waits for them or for ctx. Calls
// after Close return ErrClosed. The default hub cannot be closed.
func (h *Hub) Close(ctx context.Context) error {
	if h.isDefault {
		return errors.New("fresh: the default hub cannot be closed (close its caches instead)")
	}
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return nil
	}
	h.closed.Store(true)
	h.mu.Unlock()
	var errs []error
	for _, v := range h.allViews() {
		errs = append(errs, v.closeView(ctx))
	}
	if h.link != nil {
		errs = append(errs, h.link.close(ctx))
	}
	if h.store != nil {
		h.store.close()
	}
	h.suspendMu.Lock()
	h.reasons = 0
	h.suspendMu.Unlock()
	return errors.Join(errs...)
}
