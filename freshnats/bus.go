package freshnats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors returned by the bus.
var (
	// ErrBusClosed is returned by Publish and Subscribe after the bus's Close.
	ErrBusClosed = errors.New("freshnats: bus closed")
	// ErrMessageTooLarge is returned by Publish for a message longer than the bus's
	// MaxMessageSize.
	ErrMessageTooLarge = errors.New("freshnats: message too large")
)

// Errors that the bus passes to fresh.Handler.HandleLoss, wrapped in an error that
// says what happened. Test them with errors.Is.
var (
	// ErrDisconnected reports that the connection to the server was lost, or was
	// re-established, or closed: core NATS does not replay what was published in
	// between. (In JetStream mode a lost connection costs nothing: the subscriber
	// reads on from its stream sequence.)
	ErrDisconnected = errors.New("freshnats: connection to the server lost")
	// ErrSlowConsumer reports that messages were dropped because a subscriber did
	// not keep up: its handler fell more than QueueLen messages (or QueueBytes
	// bytes) behind, or the NATS client dropped messages of the subscription.
	ErrSlowConsumer = errors.New("freshnats: subscriber fell behind; messages dropped")
	// ErrSequenceGap reports, in core mode, that a message of a publisher that the
	// subscription had heard from never arrived: its sequence number skipped.
	ErrSequenceGap = errors.New("freshnats: publisher sequence gap")
	// ErrMalformedMessage reports a message on the bus's subject that this package
	// did not write (or a fragment that fits no message). It could have carried an
	// invalidation, so it counts as a loss.
	ErrMalformedMessage = errors.New("freshnats: malformed message")
	// ErrStreamGap reports, in JetStream mode, that the subscription could not read
	// on from its stream sequence: the messages after it were removed (the stream's
	// MaxMsgs, MaxBytes or MaxAge, a purge or a deletion), or the stream was deleted,
	// replaced or lost messages it had acknowledged.
	ErrStreamGap = errors.New("freshnats: stream continuity lost")
)

// DefaultMaxMessageSize is the default bound of a message's size: the largest
// message fresh sends.
const DefaultMaxMessageSize = 1 << 20

// DefaultNamespace is the namespace of a bus whose Options leave it empty.
const DefaultNamespace = "fresh"

// Bus is a fresh.Bus on one NATS subject: core NATS by default, or a JetStream
// stream on that subject (Options.JetStream). The package documentation describes
// both modes, their order and how each detects a loss.
//
// Every subscription of one Bus shares one NATS subscription (or, in JetStream
// mode, one consumer): what it receives is handed to each subscription's queue, in
// the order received, and each subscription's goroutine calls its handler. A
// subscription whose handler falls behind by more than QueueLen messages loses its
// backlog and receives HandleLoss in its place; the others are not affected.
//
// Its zero value is not usable; call New or OpenURL.
type Bus struct {
	nc      *nats.Conn
	own     bool    // opened by OpenURL: Close closes nc
	o       Options // defaults filled in; read-only after construction
	subject string
	stream  string // JetStream mode: the stream's name
	js      jetstream.JetStream
	log     *slog.Logger
	pubID   uint64 // this bus's publisher id in the frames it sends

	pubMu sync.Mutex
	seq   uint64 // guarded by pubMu: the sequence number of the last frame sent
	buf   []byte // guarded by pubMu: core mode's frame buffer

	streamMu  sync.Mutex
	streamMax int // guarded by streamMu: the stream's MaxMsgSize, or 0 before ensureStream

	closed  atomic.Bool
	startMu sync.Mutex // held by a Subscribe that starts a feed (see Subscribe)
	mu      sync.Mutex
	feed    *feed              // guarded by mu: the feed new subscriptions join, or nil
	live    map[*feed]struct{} // guarded by mu: every feed started and not yet stopped

	stats busStats
}

var _ fresh.Bus = (*Bus)(nil)

// Options configure a Bus. The zero value is a core-NATS bus in the default
// namespace.
type Options struct {
	// Namespace names the bus: its subject is "fresh.v1.<Namespace>.bus" and, in
	// JetStream mode, its stream "fresh_v1_<Namespace>". Every process that shares
	// invalidations uses the same Namespace. 1 to 64 bytes of ASCII letters, digits,
	// '-' and '_'. Default DefaultNamespace ("fresh").
	Namespace string
	// JetStream selects JetStream mode: messages go through a stream (created if
	// missing) and subscribers read it with their own consumer, so that a lost
	// connection loses nothing. Default false: core NATS, the lowest latency.
	JetStream bool
	// MaxMessageSize is the size of the largest message that Publish accepts, in
	// bytes. A message larger than the server's max_payload is split into several
	// NATS messages and put back together by the subscribers. Default
	// DefaultMaxMessageSize (1 MiB), the largest message fresh sends.
	MaxMessageSize int
	// Timeout bounds each request to the server (Publish's flush or acknowledgement,
	// Subscribe, stream and consumer operations) whose context has no deadline.
	// Default 5 s.
	Timeout time.Duration
	// QueueLen bounds the messages (and loss reports) waiting for one subscription's
	// handler. When a handler falls further behind, its backlog is dropped and it
	// receives HandleLoss(ErrSlowConsumer) instead. Default 65,536.
	QueueLen int
	// QueueBytes bounds the bytes of the messages waiting for one subscription's
	// handler, like QueueLen. Default 64 MiB.
	QueueBytes int
	// AllowCluster lets a core-mode bus run on a connection to a NATS cluster (a
	// server that announces other servers), with a warning in the log. A cluster
	// forwards messages between servers asynchronously, so subscribers on different
	// servers can receive them in different orders, which breaks the Bus contract:
	// use JetStream mode on a cluster. Default false: New refuses such a connection.
	AllowCluster bool

	// The following configure the stream in JetStream mode when the bus creates it.
	// A stream that exists already is used as it is, if it captures the bus's
	// subject alone with the limits retention policy.

	// Replicas is the stream's number of replicas, 1 to 5. Default 1.
	Replicas int
	// Storage is the stream's storage: jetstream.FileStorage (the default), which
	// survives a restart of the server, or jetstream.MemoryStorage.
	Storage jetstream.StorageType
	// MaxMsgs bounds the messages the stream keeps. A subscriber that falls further
	// behind (or is disconnected for longer) than the stream keeps loses messages and
	// is told so by HandleLoss. Default 100,000; negative for no bound.
	MaxMsgs int64
	// MaxBytes bounds the bytes the stream keeps, like MaxMsgs. Default 256 MiB;
	// negative for no bound.
	MaxBytes int64
	// MaxAge bounds how long the stream keeps a message, like MaxMsgs. Default 24 h;
	// negative for no bound.
	MaxAge time.Duration

	// Logger receives warnings about background events: losses, reconnections,
	// failed reads that are retried. Nil means slog.Default().
	Logger *slog.Logger

	// fragmentSize, if positive, overrides the size of a frame's payload that the
	// server's max_payload allows. For tests.
	fragmentSize int
	// pendingMsgs, if positive, overrides the bound of the messages the NATS client
	// holds for a core feed's subscription. For tests.
	pendingMsgs int
}

// Defaults of Options.
const (
	defaultTimeout    = 5 * time.Second
	defaultQueueLen   = 65_536
	defaultQueueBytes = 64 << 20
	defaultReplicas   = 1
	defaultMaxMsgs    = 100_000
	defaultMaxBytes   = 256 << 20
	defaultMaxAge     = 24 * time.Hour

	maxNamespaceLen = 64
)

// New returns a Bus on nc configured by o. It does not contact the server: in
// JetStream mode, the first Publish or Subscribe creates the stream if it is
// missing. It returns an error if nc is nil or closed, if nc was made with NoEcho
// (the bus must receive its own messages), if a field of o is invalid, or, in core
// mode, if nc is connected to a cluster and o.AllowCluster is not set. The bus never
// closes nc.
func New(nc *nats.Conn, o Options) (*Bus, error) {
	return newBus(nc, o, false)
}

func newBus(nc *nats.Conn, o Options, own bool) (*Bus, error) {
	var errs []error
	switch {
	case nc == nil:
		errs = append(errs, errors.New("freshnats: New: nil connection"))
	case nc.IsClosed():
		errs = append(errs, errors.New("freshnats: New: the connection is closed"))
	case nc.Opts.NoEcho:
		errs = append(errs, errors.New("freshnats: New: the connection was made with NoEcho, so the bus would not receive its own messages, which fresh's heartbeats need"))
	}
	if err := o.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.fill()
	b := &Bus{
		nc:      nc,
		own:     own,
		o:       o,
		subject: "fresh.v1." + o.Namespace + ".bus",
		log:     o.Logger,
		pubID:   rand.Uint64(),
		live:    make(map[*feed]struct{}),
	}
	if o.JetStream {
		b.stream = "fresh_v1_" + o.Namespace
		js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(o.Timeout))
		if err != nil {
			return nil, fmt.Errorf("freshnats: New: %w", err)
		}
		b.js = js
	} else if err := b.checkCluster("New"); err != nil {
		return nil, err
	}
	return b, nil
}

// validate checks the fields of o.
func (o *Options) validate() error {
	var errs []error
	if o.Namespace != "" {
		if err := checkNamespace(o.Namespace); err != nil {
			errs = append(errs, err)
		}
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("freshnats: Options.MaxMessageSize %d is negative", o.MaxMessageSize))
	}
	if o.Timeout < 0 || (o.Timeout > 0 && o.Timeout < time.Millisecond) {
		errs = append(errs, fmt.Errorf("freshnats: Options.Timeout %v is not at least 1ms", o.Timeout))
	}
	if o.QueueLen < 0 {
		errs = append(errs, fmt.Errorf("freshnats: Options.QueueLen %d is negative", o.QueueLen))
	}
	if o.QueueBytes < 0 {
		errs = append(errs, fmt.Errorf("freshnats: Options.QueueBytes %d is negative", o.QueueBytes))
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("freshnats: Options.Replicas %d is not between 1 and 5", o.Replicas))
	}
	if o.Storage != jetstream.FileStorage && o.Storage != jetstream.MemoryStorage {
		errs = append(errs, fmt.Errorf("freshnats: Options.Storage %d is neither jetstream.FileStorage nor jetstream.MemoryStorage", int(o.Storage)))
	}
	if !o.JetStream && (o.Replicas != 0 || o.Storage != jetstream.FileStorage || o.MaxMsgs != 0 || o.MaxBytes != 0 || o.MaxAge != 0) {
		errs = append(errs, errors.New("freshnats: Options.Replicas, Storage, MaxMsgs, MaxBytes and MaxAge configure JetStream mode, which Options.JetStream does not select"))
	}
	return errors.Join(errs...)
}

// checkNamespace checks a namespace: 1 to 64 bytes of letters, digits, '-' and
// '_', which are valid both in a subject's token and in a stream's name.
func checkNamespace(ns string) error {
	if len(ns) > maxNamespaceLen {
		return fmt.Errorf("freshnats: Options.Namespace is %d bytes long; the limit is %d", len(ns), maxNamespaceLen)
	}
	for i := range len(ns) {
		if c := ns[i]; !namespaceByte(c) {
			return fmt.Errorf("freshnats: Options.Namespace %q has the byte %q; use letters, digits, '-' and '_'", ns, c)
		}
	}
	return nil
}

// namespaceByte reports whether c may appear in a namespace.
func namespaceByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_'
}

// fill replaces the zero fields of a validated o with their defaults.
func (o *Options) fill() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.QueueLen == 0 {
		o.QueueLen = defaultQueueLen
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = defaultQueueBytes
	}
	if o.JetStream {
		if o.Replicas == 0 {
			o.Replicas = defaultReplicas
		}
		if o.MaxMsgs == 0 {
			o.MaxMsgs = defaultMaxMsgs
		}
		if o.MaxBytes == 0 {
			o.MaxBytes = defaultMaxBytes
		}
		if o.MaxAge == 0 {
			o.MaxAge = defaultMaxAge
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// checkCluster refuses a core-mode bus on a connection that knows of more than
// one server, unless AllowCluster is set, in which case it logs a warning.
func (b *Bus) checkCluster(op string) error {
	if b.o.JetStream {
		return nil
	}
	servers := b.nc.Servers()
	discovered := b.nc.DiscoveredServers()
	if len(servers) <= 1 && len(discovered) == 0 {
		return nil
	}
	if b.o.AllowCluster {
		b.log.Warn("freshnats: core NATS on a cluster does not keep one order across servers; use JetStream mode",
			"subject", b.subject, "servers", len(servers), "discovered", len(discovered))
		return nil
	}
	return fmt.Errorf("freshnats: %s: the connection knows of %d servers (%d discovered): a cluster does not deliver core NATS messages in one order to subscribers on different servers; use Options.JetStream, or set Options.AllowCluster to accept that",
		op, max(len(servers), len(discovered)), len(discovered))
}

// Subject returns the bus's subject.
func (b *Bus) Subject() string { return b.subject }

// Stream returns the name of the bus's stream in JetStream mode, or "".
func (b *Bus) Stream() string { return b.stream }

// Conn returns the connection the bus uses.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// ctxTimeout returns ctx, bounded by the bus's Timeout if it has no deadline.
func (b *Bus) ctxTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.o.Timeout)
}

// Publish sends msg to every subscriber. In core mode it returns once the server
// has processed it (a flush: PING and PONG after the message); in JetStream mode,
// once the stream has acknowledged it. It returns an error wrapping
// ErrMessageTooLarge for a message longer than MaxMessageSize, ErrBusClosed after
// Close, and the context's error if ctx ends first (Options.Timeout bounds a ctx
// without a deadline). After an error other than those, and after a context's
// error, the message may or may not have been delivered: publish it again if it
// matters (fresh does).
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	switch {
	case ctx == nil:
		return errors.New("freshnats: publish: nil context")
	case len(msg) > b.o.MaxMessageSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), b.o.MaxMessageSize)
	case b.closed.Load():
		return ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshnats: publish: %w", err)
	}
	ctx, cancel := b.ctxTimeout(ctx)
	defer cancel()
	var err error
	if b.o.JetStream {
		err = b.publishStream(ctx, msg)
	} else {
		err = b.publishCore(ctx, msg)
	}
	if err != nil {
		b.stats.publishErrors.Add(1)
		return fmt.Errorf("freshnats: publish to %q: %w", b.subject, err)
	}
	b.stats.published.Add(1)
	return nil
}

// fragments splits msg into the payloads of its frames, each at most size bytes.
// An empty message is one empty fragment.
func fragments(msg []byte, size int) [][]byte {
	if len(msg) <= size {
		return [][]byte{msg}
	}
	parts := make([][]byte, 0, (len(msg)+size-1)/size)
	for len(msg) > size {
		parts = append(parts, msg[:size])
		msg = msg[size:]
	}
	return append(parts, msg)
}

// fragmentSize returns the largest payload of a frame: the server's max_payload (or
// the stream's MaxMsgSize, if smaller) less the header.
func (b *Bus) fragmentSize(limit int64) int {
	if b.o.fragmentSize > 0 {
		return b.o.fragmentSize
	}
	if limit <= frameHeaderLen {
		// Not told (not connected yet): NATS's default max_payload.
		limit = 1 << 20
	}
	return int(limit) - frameHeaderLen
}

// publishCore sends the frames of msg and flushes. The frames are written under
// pubMu, so that their sequence numbers follow the order in which the server
// receives them from this connection, and the frames of one message are not
// interleaved with another message of this bus; the flush is outside it, so that
// concurrent publishers share the round trips.
func (b *Bus) publishCore(ctx context.Context, msg []byte) error {
	parts := fragments(msg, b.fragmentSize(b.nc.MaxPayload()))
	b.pubMu.Lock()
	for i, part := range parts {
		seq := b.seq + 1
		b.buf = appendFrame(b.buf[:0], b.pubID, seq, i < len(parts)-1, i > 0, part)
		// nats.Conn.Publish copies the frame into its write buffer.
		if err := b.nc.Publish(b.subject, b.buf); err != nil {
			// Nothing of this frame was sent, so its sequence number is not used. If
			// earlier fragments were, subscribers see an unfinished message followed
			// by a new one, and report a loss.
			b.pubMu.Unlock()
			return err
		}
		b.seq = seq
	}
	if cap(b.buf) > 64<<10 {
		b.buf = nil // do not hold on to the memory of a large message
	}
	b.pubMu.Unlock()
	// The server answers a PING after it has processed what came before it on the
	// connection, our message included: by then it has queued the message for every
	// subscriber, which fixes its place in the order.
	return b.nc.FlushWithContext(ctx)
}

// publishControl publishes a control frame carrying token (see frame.go). It does
// not flush: the caller waits for the frame to come back.
func (b *Bus) publishControl(ctx context.Context, token uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	seq := b.seq + 1
	b.buf = appendControl(b.buf[:0], b.pubID, seq, token)
	if err := b.nc.Publish(b.subject, b.buf); err != nil {
		return err
	}
	b.seq = seq
	return nil
}

// Close closes every subscription, waiting for their goroutines (except one that
// calls Close from its handler), and makes later Publish and Subscribe calls fail.
// It closes the connection only if OpenURL opened it. Close is idempotent and
// returns nil.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		b.waitFeeds()
		return nil
	}
	b.waitFeeds()
	if b.js != nil {
		// Ends the subscription and goroutine of asynchronous publishing.
		b.js.CleanupPublisher()
	}
	if b.own {
		b.nc.Close()
	}
	return nil
}

// waitFeeds stops every feed and waits for each.
func (b *Bus) waitFeeds() {
	b.mu.Lock()
	feeds := make([]*feed, 0, len(b.live))
	for f := range b.live {
		feeds = append(feeds, f)
	}
	b.feed = nil
	b.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
}

// Stats is a snapshot of a bus's counters, since it was made.
type Stats struct {
	// Published counts Publish calls that succeeded; PublishErrors, those that
	// returned an error.
	Published, PublishErrors uint64
	// Received counts the NATS messages the bus's feeds received on the subject
	// (fragments and malformed messages included).
	Received uint64
	// Losses counts the loss reports: each was passed to the HandleLoss of every
	// subscription of the feed (a subscription's own overflow is not counted here).
	Losses uint64
	// Malformed counts the messages on the subject that were not the bus's frames.
	Malformed uint64
	// Gaps counts the skips in a publisher's sequence numbers (reported as losses
	// in core mode; in JetStream mode they mark publishes that failed, which their
	// publisher was told of, and are only counted).
	Gaps uint64
	// Resets counts, in JetStream mode, the consumers created again after a read
	// failed or skipped a sequence number.
	Resets uint64
}

// busStats are the counters behind Stats.
type busStats struct {
	published, publishErrors, received, losses, malformed, gaps, resets atomic.Uint64
}

// Stats returns a snapshot of the bus's counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Published:     b.stats.published.Load(),
		PublishErrors: b.stats.publishErrors.Load(),
		Received:      b.stats.received.Load(),
		Losses:        b.stats.losses.Load(),
		Malformed:     b.stats.malformed.Load(),
		Gaps:          b.stats.gaps.Load(),
		Resets:        b.stats.resets.Load(),
	}
}
