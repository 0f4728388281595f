package freshredis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/backoff"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// StreamBus is a fresh.Bus on one Redis stream: the default bus of this package.
//
// Publish appends the message to the stream with XADD, which trims the stream to
// about MaxLen entries, and returns once Redis has replied. Every subscription has a
// goroutine that reads the stream with XREAD BLOCK from the last entry it delivered.
// One stream on one server takes the XADDs in one order, and every subscription
// reads that order: one order for all, more than fresh.Bus requires.
//
// A subscription survives a lost connection without losing anything: it retries
// with backoff (go-redis may also retry by itself) and reads on from its position.
// It calls HandleLoss before delivering anything newer when it cannot prove that it
// read every entry after its position:
//
//   - the stream was trimmed past its position (the subscriber fell more than about
//     MaxLen messages behind, or someone ran XTRIM);
//   - the stream was deleted, emptied or replaced (DEL, FLUSHALL, a restart without
//     persistence, a failover to a replica that lacks the entry it read last);
//   - an entry is not one this package wrote (another field name, more fields):
//     it could have carried an invalidation.
//
// The proof is that the entry at the subscription's position is still there after
// the read, since Redis trims a stream from its head. It costs one more round trip
// per read (an XRANGE of that entry), including the read that ends every Block
// without news; it fetches that entry, so it is cheapest with small messages, which
// is what fresh sends. It cannot see an entry that XDEL removed from the middle of
// the stream: do not XDEL the bus's entries.
//
// Redis replicates asynchronously, and the bus does not wait for replicas: a
// failover can lose entries that the old primary had acknowledged but not yet
// replicated, and a subscriber that had not read them cannot tell. fresh's own
// sequence numbers catch that gap (a hub flushes when a publisher's sequence skips).
//
// When a subscription finds its stream missing or empty, it writes an entry of its
// own, an anchor that subscribers skip, so that its position is an entry it can
// check (Subscribe does the same when it starts); Close writes one too, to end its
// reader's XREAD BLOCK at once. Subscribers therefore need write access to the
// stream.
//
// The bus never closes the client it was given. Its zero value is not usable; call
// NewStreamBus.
type StreamBus struct {
	client redis.UniversalClient
	o      StreamBusOptions // defaults filled in; read-only after construction
	key    string           // the stream
	count  int64            // entries per XREAD
	log    *slog.Logger

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[*streamSubscription]struct{} // guarded by mu; nil after Close
}

var _ fresh.Bus = (*StreamBus)(nil)

// StreamBusOptions configure a StreamBus.
type StreamBusOptions struct {
	// Namespace names the bus: its stream is the key "fresh:v1:{Namespace}:bus", in
	// the cluster slot of a Store of the same namespace. Every process that shares
	// invalidations uses the same Namespace. At most 128 bytes, without '{' or '}'.
	// Default DefaultNamespace ("fresh").
	Namespace string
	// MaxLen bounds the stream: each Publish trims it to about MaxLen entries
	// (XADD MAXLEN ~). A subscriber that falls further behind than that loses
	// messages and is told so by HandleLoss. Default 100,000.
	MaxLen int64
	// MaxMessageSize is the size of the largest message that Publish accepts, in
	// bytes. Default DefaultMaxMessageSize (1 MiB), the largest message fresh sends.
	MaxMessageSize int
	// Block is how long one read waits for new entries (XREAD BLOCK). It paces the
	// check for a deleted stream while nothing is published, and bounds how long
	// Close waits for a reader when it cannot append the anchor that wakes it. At
	// least a millisecond; default 1 s.
	Block time.Duration
	// Logger receives warnings about background failures: reads that fail and are
	// retried, continuity lost. Nil means slog.Default().
	Logger *slog.Logger
}

// Defaults of StreamBusOptions.
const (
	defaultStreamMaxLen = 100_000
	defaultStreamBlock  = time.Second
)

// streamReadBytes bounds the size of one XREAD reply, at the bus's MaxMessageSize
// per entry; streamReadMax bounds its number of entries.
const (
	streamReadBytes = 32 << 20
	streamReadMax   = 1000
)

// The fields of a stream entry. A message is an entry with the single field
// streamFieldMsg holding its bytes; an anchor, written by a subscription that needs
// an entry to start from, has the single field streamFieldAnchor.
const (
	streamFieldMsg    = "msg"
	streamFieldAnchor = "anchor"
)

// NewStreamBus returns a StreamBus on client configured by o. It does not contact
// Redis; the stream is created by the first Publish or Subscribe. It returns an
// error if client is nil or a field of o is invalid. The bus never closes client.
func NewStreamBus(client redis.UniversalClient, o StreamBusOptions) (*StreamBus, error) {
	var errs []error
	if busClientIsNil(client) {
		errs = append(errs, errors.New("freshredis: NewStreamBus: nil client"))
	}
	ns, err := busNamespace("StreamBusOptions", o.Namespace)
	if err != nil {
		errs = append(errs, err)
	}
	if o.MaxLen < 0 {
		errs = append(errs, fmt.Errorf("freshredis: StreamBusOptions.MaxLen %d is negative", o.MaxLen))
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("freshredis: StreamBusOptions.MaxMessageSize %d is negative", o.MaxMessageSize))
	}
	if o.Block < 0 || (o.Block > 0 && o.Block < time.Millisecond) {
		errs = append(errs, fmt.Errorf("freshredis: StreamBusOptions.Block %v is not at least 1ms", o.Block))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.Namespace = ns
	if o.MaxLen == 0 {
		o.MaxLen = defaultStreamMaxLen
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Block == 0 {
		o.Block = defaultStreamBlock
	}
	return &StreamBus{
		client: client,
		o:      o,
		key:    busKey(o.Namespace),
		count:  int64(min(max(streamReadBytes/o.MaxMessageSize, 1), streamReadMax)),
		log:    busLogger(o.Logger),
		subs:   make(map[*streamSubscription]struct{}),
	}, nil
}

// Stream returns the key of the bus's stream.
func (b *StreamBus) Stream() string { return b.key }

// Publish appends msg to the stream and returns once Redis has acknowledged it. It
// returns an error wrapping ErrMessageTooLarge for a message longer than
// MaxMessageSize, ErrBusClosed after Close, and the context's error if ctx is done.
func (b *StreamBus) Publish(ctx context.Context, msg []byte) error {
	if err := busCheckPublish(ctx, b.closed.Load(), msg, b.o.MaxMessageSize); err != nil {
		return err
	}
	if err := b.client.XAdd(ctx, b.addArgs(streamFieldMsg, msg)).Err(); err != nil {
		return fmt.Errorf("freshredis: publish to stream %q: %w", b.key, err)
	}
	return nil
}

// addArgs returns the XADD of an entry with the single field field.
func (b *StreamBus) addArgs(field string, value any) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: b.key,
		MaxLen: b.o.MaxLen,
		Approx: true,
		Values: []any{field, value},
	}
}

// Subscribe registers h and returns once every message published afterwards will
// reach it: it finds the stream's last entry (or writes an anchor if the stream is
// missing or empty), and the subscription reads every entry after that one. The
// subscription's goroutine calls h until its Close or the bus's.
func (b *StreamBus) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	if err := busCheckSubscribe(ctx, b.closed.Load(), h); err != nil {
		return nil, err
	}
	start, err := b.last(ctx)
	if err != nil {
		return nil, fmt.Errorf("freshredis: subscribe to stream %q: %w", b.key, err)
	}
	s := &streamSubscription{bus: b, pos: start}
	runCtx := s.init(h)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		s.stop()
		return nil, ErrBusClosed
	}
	b.subs[s] = struct{}{}
	go s.run(runCtx)
	return s, nil
}

// last returns the stream's last entry. If there is none, it appends an anchor and
// returns that.
func (b *StreamBus) last(ctx context.Context) (streamRef, error) {
	entries, err := b.client.XRevRangeN(ctx, b.key, "+", "-", 1).Result()
	if err != nil {
		return streamRef{}, fmt.Errorf("XREVRANGE: %w", err)
	}
	if len(entries) > 0 {
		return streamRefTo(&entries[0])
	}
	return b.anchor(ctx)
}

// anchor appends an anchor entry and returns it. Its value is random, so that its
// digest tells it from any other entry that could get its id.
func (b *StreamBus) anchor(ctx context.Context) (streamRef, error) {
	token := strconv.FormatUint(rand.Uint64(), 36)
	id, err := b.client.XAdd(ctx, b.addArgs(streamFieldAnchor, token)).Result()
	if err != nil {
		return streamRef{}, fmt.Errorf("XADD of an anchor: %w", err)
	}
	return streamRefTo(&redis.XMessage{ID: id, Values: map[string]any{streamFieldAnchor: token}})
}

// Close closes every subscription, waiting for their goroutines (except one that
// calls Close from its handler), and makes later Publish and Subscribe calls fail.
// Like a subscription's Close, it appends an anchor to wake the readers. It does
// not close the client. Close is idempotent and returns nil.
func (b *StreamBus) Close() error {
	b.closed.Store(true)
	b.mu.Lock()
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	if len(subs) == 0 {
		return nil
	}
	for s := range subs {
		s.stop()
	}
	b.wake() // one anchor ends every read in progress
	for s := range subs {
		s.wait()
	}
	return nil
}

// streamWakeTimeout bounds the XADD of wake.
const streamWakeTimeout = 250 * time.Millisecond

// wake appends an anchor, which ends the XREAD BLOCK of every subscription to the
// stream, so that a closing subscription's reader sees at once that it is closed
// rather than at the end of its Block. If the XADD fails, the reads end with their
// Block anyway.
func (b *StreamBus) wake() {
	ctx, cancel := context.WithTimeout(context.Background(), streamWakeTimeout)
	defer cancel()
	_, _ = b.anchor(ctx)
}

// remove unregisters s.
func (b *StreamBus) remove(s *streamSubscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s) // a no-op on the nil map after Close
}

// streamSubscription is a subscription to a StreamBus. Its goroutine, run, reads
// the stream from pos and delivers what it reads.
//
// Continuity. Every read is followed by a check that the entry at the
// subscription's mark, the later of pos and covered, is still in the stream, the
// same entry (same id and same digest of its contents); only then is what the read
// returned delivered. The check is sound because it comes after the read: Redis
// trims a stream from its head, so if the mark is present after the read, no entry
// after the mark had been trimmed when the read took place, and the read returned
// every entry after pos that had ever been added. (XDEL can remove an entry from the
// middle; the check does not see that.) The digest matters when the stream is
// deleted and filled again within one millisecond: the new entries can reuse ids.
//
// If the mark is gone, the stream was trimmed past it, deleted or replaced, and
// entries may have been lost: the handler receives HandleLoss before what the read
// returned. If the read returned nothing, there is no entry left to anchor to, so the
// subscription appends an anchor, reports the loss, and sets covered to the anchor:
// whatever is older than the anchor was published before the HandleLoss call, which
// covers it, so from then on only the anchor needs to stay. Entries of a replaced
// stream can be older than pos, even though they were added after the entry at pos;
// they were also added before the entries the read returned (a stream's ids only
// grow), so before the loss was reported, and skipping them loses nothing that the
// loss does not cover.
//
// pos and covered belong to run alone.
type streamSubscription struct {
	busSub
	bus     *StreamBus
	pos     streamRef // the last entry delivered or skipped, or the starting entry
	covered streamRef // entries up to covered were published before a reported loss
}

// Close stops delivery: once it returns, the handler is not called again. It waits
// for the subscription's goroutine to end, unless it is called by the handler. To
// end the goroutine's read at once, rather than at the end of the bus's Block, it
// appends an anchor to the stream (which every subscriber skips). Close is
// idempotent and returns nil.
func (s *streamSubscription) Close() error {
	if s.stop() && !s.inRunner() {
		s.bus.wake()
	}
	s.bus.remove(s)
	s.wait()
	return nil
}

// run reads and delivers until the subscription is closed, retrying failed reads
// from the same position.
func (s *streamSubscription) run(ctx context.Context) {
	defer close(s.done)
	s.begin()
	var retry backoff.Retry
	for !s.closed.Load() {
		err := s.poll(ctx)
		if s.closed.Load() {
			return
		}
		if err == nil {
			if retry.Recovered() {
				s.bus.log.Info("freshredis: stream bus reading again", "stream", s.bus.key)
			}
			continue
		}
		if retry.Failed() {
			s.bus.log.Warn("freshredis: stream bus read failed; retrying from the last entry read",
				"stream", s.bus.key, "position", s.pos.id.String(), "err", err)
		}
		if !retry.Sleep(ctx) {
			return
		}
	}
}

// poll makes one read, checks continuity (see streamSubscription) and delivers.
// An error means that nothing was delivered and the read must be retried.
func (s *streamSubscription) poll(ctx context.Context) error {
	b := s.bus
	streams, err := b.client.XRead(ctx, &redis.XReadArgs{
		Streams: []string{b.key, s.pos.id.String()},
		Count:   b.count,
		Block:   b.o.Block,
	}).Result()
	if s.closed.Load() {
		return nil
	}
	if err != nil && !errors.Is(err, redis.Nil) { // redis.Nil: the block ended with no news
		return fmt.Errorf("XREAD: %w", err)
	}
	var entries []redis.XMessage
	for _, st := range streams {
		if st.Stream == b.key {
			entries = st.Messages
		}
	}

	mark := laterStreamRef(s.pos, s.covered)
	present, err := s.present(ctx, mark)
	if err != nil {
		return err
	}
	if !present {
		if len(entries) == 0 {
			return s.reanchor(ctx, mark)
		}
		err := fmt.Errorf("%w: entry %v of stream %q is gone; it was trimmed (a subscriber more than about %d messages behind), or the stream was deleted or replaced",
			ErrStreamGap, mark.id, b.key, b.o.MaxLen)
		b.log.Warn("freshredis: stream bus continuity lost", "err", err)
		s.loss(err)
	}
	for i := range entries {
		if s.closed.Load() {
			return nil
		}
		if err := s.deliver(&entries[i]); err != nil {
			return err
		}
	}
	return nil
}

// present reports whether the entry ref is in the stream.
func (s *streamSubscription) present(ctx context.Context, ref streamRef) (bool, error) {
	at := ref.id.String()
	entries, err := s.bus.client.XRangeN(ctx, s.bus.key, at, at, 1).Result()
	if err != nil {
		return false, fmt.Errorf("XRANGE: %w", err)
	}
	return len(entries) == 1 && streamEntryDigest(entries[0].Values) == ref.digest, nil
}

// reanchor handles a read that returned nothing while the entry at mark is gone:
// the stream is empty, missing, or holds only entries added since the read. It
// appends an anchor, reports the loss and covers everything older than the anchor
// (see streamSubscription).
func (s *streamSubscription) reanchor(ctx context.Context, mark streamRef) error {
	a, err := s.bus.anchor(ctx)
	if err != nil {
		return err
	}
	err = fmt.Errorf("%w: entry %v of stream %q is gone and nothing newer was read; the stream was emptied, deleted or replaced",
		ErrStreamGap, mark.id, s.bus.key)
	s.bus.log.Warn("freshredis: stream bus continuity lost", "err", err)
	s.loss(err)
	if a.id.less(s.pos.id) {
		// The stream went backwards (a replacement whose ids are older than ours):
		// read on from the anchor, or nothing added to it would ever be read.
		s.pos = a
	}
	s.covered = a
	return nil
}

// deliver hands one entry to the handler: a message to HandleMessage, a malformed
// entry to HandleLoss; an anchor to nobody.
func (s *streamSubscription) deliver(e *redis.XMessage) error {
	ref, err := streamRefTo(e)
	if err != nil {
		// Redis makes the ids, so this does not happen; if it did, the position
		// could not advance past this entry.
		s.loss(fmt.Errorf("%w: %w", ErrMalformedEntry, err))
		return err
	}
	s.pos = ref
	payload, anchor, err := decodeStreamEntry(e.Values)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: entry %v of stream %q: %w", ErrMalformedEntry, ref.id, s.bus.key, err)
		s.bus.log.Warn("freshredis: stream bus entry dropped", "err", err)
		s.loss(err)
	case !anchor:
		s.message(payload)
	}
	return nil
}

// decodeStreamEntry returns the message that an entry's fields hold, or reports an
// anchor, or returns an error for anything else.
func decodeStreamEntry(values map[string]any) (payload string, anchor bool, err error) {
	if len(values) == 1 {
		if v, ok := values[streamFieldMsg]; ok {
			if p, ok := v.(string); ok {
				return p, false, nil
			}
			return "", false, fmt.Errorf("field %q holds a %T, not a string", streamFieldMsg, v)
		}
		if _, ok := values[streamFieldAnchor]; ok {
			return "", true, nil
		}
	}
	names := slices.Sorted(maps.Keys(values))
	quoted := make([]string, 0, 9)
	for _, name := range names[:min(len(names), 8)] {
		quoted = append(quoted, strconv.Quote(busTruncate(name, 32)))
	}
	if len(names) > 8 {
		quoted = append(quoted, "...")
	}
	return "", false, fmt.Errorf("fields [%s]; want the single field %q", strings.Join(quoted, " "), streamFieldMsg)
}

// busTruncate returns s cut to at most n bytes.
func busTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// streamID is the id of a stream entry, "ms-seq". Ids order entries in a stream.
type streamID struct{ ms, seq uint64 }

// parseStreamID parses an entry id as Redis writes it.
func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	if ok {
		ms, err1 := strconv.ParseUint(msPart, 10, 64)
		seq, err2 := strconv.ParseUint(seqPart, 10, 64)
		if err1 == nil && err2 == nil {
			return streamID{ms, seq}, nil
		}
	}
	return streamID{}, fmt.Errorf("freshredis: bad stream entry id %q", busTruncate(s, 64))
}

// String returns the id as Redis writes it.
func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// less reports whether id comes before other in a stream.
func (id streamID) less(other streamID) bool {
	return id.ms < other.ms || (id.ms == other.ms && id.seq < other.seq)
}

// streamRef designates one entry: its id, and a digest of its fields and values
// that tells it from another entry that reused the id.
type streamRef struct {
	id     streamID
	digest uint64
}

// streamRefTo returns a reference to e.
func streamRefTo(e *redis.XMessage) (streamRef, error) {
	id, err := parseStreamID(e.ID)
	if err != nil {
		return streamRef{}, err
	}
	return streamRef{id, streamEntryDigest(e.Values)}, nil
}

// laterStreamRef returns whichever of a and b has the later id.
func laterStreamRef(a, b streamRef) streamRef {
	if a.id.less(b.id) {
		return b
	}
	return a
}

// streamDigestSeed seeds the digests of entries, which are compared only within
// this process.
var streamDigestSeed = maphash.MakeSeed()

// streamEntryDigest returns a digest of an entry's fields and values.
func streamEntryDigest(values map[string]any) uint64 {
	var h maphash.Hash
	h.SetSeed(streamDigestSeed)
	write := func(s string) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		_, _ = h.Write(n[:])
		_, _ = h.WriteString(s)
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		write(name)
		switch v := values[name].(type) {
		case string:
			write(v)
		default: // not what Redis returns for a stream; digest it all the same
			write(fmt.Sprintf("\x00%T %v", v, v))
		}
	}
	return h.Sum64()
}
