package freshnats

// JetStream mode: the stream, publishing with acknowledgements, and the feed that
// reads the stream with a consumer of its own.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshcache/fresh"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Settings of a stream feed's consumer and of its pulls.
const (
	// streamInactive is how long the server keeps a feed's consumer without pull
	// requests (the process is stopped, or cut off) before it deletes it. The feed
	// then creates another one, from where it was.
	streamInactive = 2 * time.Minute
	// streamExpiry and streamHeartbeat pace the pull requests: the server answers a
	// pull that is waiting with a heartbeat every streamHeartbeat, and the feed takes
	// its consumer for lost after two missing ones (a restarted server that lost it).
	streamExpiry    = 10 * time.Second
	streamHeartbeat = time.Second
	// streamBatch is how many messages one pull request asks for.
	streamBatch = 256
	// streamCleanupTimeout bounds the deletion of a consumer the feed gives up.
	streamCleanupTimeout = 500 * time.Millisecond
)

// streamConfig returns the configuration of the stream the bus creates.
func (b *Bus) streamConfig() jetstream.StreamConfig {
	limit := func(v int64) int64 {
		if v < 0 {
			return -1
		}
		return v
	}
	age := b.o.MaxAge
	if age < 0 {
		age = 0 // no limit
	}
	return jetstream.StreamConfig{
		Name:         b.stream,
		Description:  "fresh invalidation bus (freshnats)",
		Subjects:     []string{b.subject},
		Retention:    jetstream.LimitsPolicy,
		Discard:      jetstream.DiscardOld,
		Storage:      b.o.Storage,
		Replicas:     b.o.Replicas,
		MaxMsgs:      limit(b.o.MaxMsgs),
		MaxBytes:     limit(b.o.MaxBytes),
		MaxAge:       age,
		MaxMsgSize:   -1,
		MaxConsumers: -1,
	}
}

// ensureStream returns the stream's current information, creating the stream if it
// is missing, and checks that the bus can use it.
func (b *Bus) ensureStream(ctx context.Context) (*jetstream.StreamInfo, error) {
	s, err := b.js.Stream(ctx, b.stream)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return nil, fmt.Errorf("stream %q: JetStream does not answer; is it enabled on the server (nats-server -js)? %w", b.stream, err)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = b.createStream(ctx)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = b.js.Stream(ctx, b.stream) // another process created it first
		} else if err == nil {
			b.log.Info("freshnats: created stream", "stream", b.stream, "subject", b.subject,
				"storage", b.o.Storage.String(), "replicas", b.o.Replicas)
		}
		if err != nil {
			return nil, fmt.Errorf("create stream %q on subject %q: %w", b.stream, b.subject, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", b.stream, err)
	}
	info := s.CachedInfo()
	if err := b.checkStreamConfig(&info.Config); err != nil {
		return nil, err
	}
	b.streamMu.Lock()
	b.streamMax = int(info.Config.MaxMsgSize)
	if b.streamMax <= 0 {
		b.streamMax = -1 // known, unbounded
	}
	b.streamMu.Unlock()
	return info, nil
}

// errStreamStoreFailed is the JetStream API's error code for a stream whose store
// the server could not create (its file system answered an error).
const errStreamStoreFailed jetstream.ErrorCode = 10049

// createStream creates the bus's stream. A server that fails to create the
// stream's store is asked again, 5 times in all over 0.3 s: nats-server
// 2.9 was seen to fail this way now and then ("could not create storage directory
// … no such file or directory"), in a test suite that creates and deletes many
// streams at once, and to succeed on the next request.
func (b *Bus) createStream(ctx context.Context) (jetstream.Stream, error) {
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := b.js.CreateStream(ctx, b.streamConfig())
		var apiErr *jetstream.APIError
		if err == nil || attempt == 5 || !errors.As(err, &apiErr) || apiErr.ErrorCode != errStreamStoreFailed {
			return s, err
		}
		b.log.Warn("freshnats: the server failed to create the stream's store; asking again",
			"stream", b.stream, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// checkStreamConfig checks that a stream that exists already suits the bus.
func (b *Bus) checkStreamConfig(c *jetstream.StreamConfig) error {
	switch {
	case !slices.Equal(c.Subjects, []string{b.subject}):
		return fmt.Errorf("stream %q captures the subjects %q; the bus needs one that captures %q alone", b.stream, c.Subjects, b.subject)
	case c.Retention != jetstream.LimitsPolicy:
		return fmt.Errorf("stream %q has the %s retention policy; the bus needs limits, which keeps messages for subscribers that resume", b.stream, c.Retention)
	case c.MaxMsgSize > 0 && c.MaxMsgSize <= frameHeaderLen:
		return fmt.Errorf("stream %q has MaxMsgSize %d, too small for the bus's frames", b.stream, c.MaxMsgSize)
	}
	return nil
}

// streamLimit returns the largest NATS message the stream accepts (0 if the stream
// has not been looked at yet), and the server's max_payload if that is smaller.
func (b *Bus) streamLimit() (limit int64, known bool) {
	b.streamMu.Lock()
	m := b.streamMax
	b.streamMu.Unlock()
	limit = b.nc.MaxPayload()
	if m > 0 && int64(m) < limit {
		limit = int64(m)
	}
	return limit, m != 0
}

// forgetStream makes the next Publish look the stream up (and create it) again.
func (b *Bus) forgetStream() {
	b.streamMu.Lock()
	b.streamMax = 0
	b.streamMu.Unlock()
}

// publishStream publishes the frames of msg to the stream and waits for their
// acknowledgements. As in core mode, the frames are sent under pubMu (asynchronous
// publishes, which return once the frame is in the connection's buffer), so that
// their sequence numbers follow the order of the stream; the acknowledgements are
// awaited outside it.
func (b *Bus) publishStream(ctx context.Context, msg []byte) error {
	limit, known := b.streamLimit()
	if !known {
		if _, err := b.ensureStream(ctx); err != nil {
			return err
		}
		limit, _ = b.streamLimit()
	}
	parts := fragments(msg, b.fragmentSize(limit))
	acks := make([]jetstream.PubAckFuture, 0, len(parts))
	b.pubMu.Lock()
	for i, part := range parts {
		seq := b.seq + 1
		// A buffer of its own: the future keeps the message until it is acknowledged.
		data := appendFrame(make([]byte, 0, frameHeaderLen+len(part)), b.pubID, seq, i < len(parts)-1, i > 0, part)
		// No retry by the library after "no responders" (the stream is missing, or
		// JetStream not ready yet): a retry would land after the frames published
		// once this Publish had failed, out of their order. The caller retries.
		paf, err := b.js.PublishMsgAsync(&nats.Msg{Subject: b.subject, Data: data}, jetstream.WithRetryAttempts(0))
		if err != nil {
			b.pubMu.Unlock()
			return err
		}
		b.seq = seq
		acks = append(acks, paf)
	}
	b.pubMu.Unlock()
	for _, paf := range acks {
		select {
		case ack := <-paf.Ok():
			if ack.Stream != b.stream {
				return fmt.Errorf("acknowledged by stream %q rather than %q", ack.Stream, b.stream)
			}
		case err := <-paf.Err():
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				b.forgetStream() // the stream may be gone: the next Publish creates it
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// streamFeed reads the stream with a consumer of its own.
//
// Continuity. The stream numbers its messages; the feed delivers them in that
// order and checks that each one's stream sequence follows the last one delivered,
// last. A skip on a consumer that was delivering may only mean that messages in
// flight were lost with a connection (the consumer does not resend what it sent
// without acknowledgement), so the feed replaces the consumer with one that starts
// at last+1: the stream still has them, unless it removed them, and a skip on that
// new consumer's first message is a real loss. Before every new consumer, and once
// it exists, the feed compares the stream's creation time with the one it knows: a
// stream deleted and created again reuses sequence numbers, and a consumer created
// on it at last+1 would skip silently what it holds below. A consumer cannot outlive
// its stream, so once the check after its creation passed, everything it delivers is
// from the stream the feed knows.
//
// Every field belongs to the read goroutine (and to startStreamFeed and cleanup,
// before and after it runs).
type streamFeed struct {
	*feed
	asm   *assembler
	last  uint64 // the stream sequence of the last message handled
	fresh bool   // the consumer was created at last+1 and has delivered nothing
	cons  jetstream.Consumer
	it    jetstream.MessagesContext

	// The stream's creation time, and how many streams the feed has read (a stream
	// deleted and created again is another one): the reader writes them under posMu,
	// join reads them.
	posMu   sync.Mutex
	created time.Time
	inc     uint64

	// Reconnections: the watch goroutine sets kicked and cancels the reader's wait
	// for the next message (kick, guarded by kickMu), and the reader then replaces
	// its consumer (see read).
	status chan nats.Status
	kickMu sync.Mutex
	kick   context.CancelFunc
	kicked atomic.Bool
}

// startStreamFeed creates a consumer that starts after the stream's last message,
// subscribes w to the feed, and returns the feed that reads the consumer.
func (b *Bus) startStreamFeed(ctx context.Context, w *filterHandler) (*feed, fresh.Subscription, error) {
	f, runCtx, err := newFeed(b)
	if err != nil {
		return nil, nil, err
	}
	s := &streamFeed{feed: f, asm: newAssembler(b.o.MaxMessageSize)}
	f.join, f.impl = s.join, s
	w.runners = &f.runners
	fail := func(err error) (*feed, fresh.Subscription, error) {
		s.cleanup()
		f.cancel()
		_ = f.local.Close()
		return nil, nil, err
	}
	// Listen before the consumer exists, so that no reconnection after it goes
	// unseen (see read).
	s.status = b.nc.StatusChanged(nats.CONNECTED)
	info, err := b.ensureStream(ctx)
	if err != nil {
		return fail(err)
	}
	s.created, s.last = info.Created, info.State.LastSeq
	if err := s.open(ctx); err != nil {
		return fail(err)
	}
	if err := s.verify(ctx); err != nil {
		return fail(err)
	}
	inner, err := f.local.Subscribe(context.Background(), w)
	if err != nil {
		return fail(err)
	}
	f.release = s.cleanup
	f.done.Add(2)
	go s.read(runCtx)
	go s.watch(runCtx)
	return f, inner, nil
}

// watch kicks the reader when the connection is re-established.
func (s *streamFeed) watch(ctx context.Context) {
	defer s.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-s.status:
			if !ok {
				return
			}
		}
		s.kicked.Store(true)
		s.kickMu.Lock()
		if s.kick != nil {
			s.kick()
		}
		s.kickMu.Unlock()
	}
}

// next waits for the next message, or until the feed stops or is kicked.
func (s *streamFeed) next(ctx context.Context) (jetstream.Msg, error) {
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.kickMu.Lock()
	s.kick = cancel
	s.kickMu.Unlock()
	defer func() {
		s.kickMu.Lock()
		s.kick = nil
		s.kickMu.Unlock()
	}()
	if s.kicked.Load() {
		return nil, context.Canceled
	}
	return s.it.Next(jetstream.NextContext(nctx))
}

// join subscribes w to the running feed. The feed may be behind the stream; w skips
// what the stream held when join looked at it, unless the feed is reading another
// stream than the one join saw (one of them was replaced), when a loss report
// separates the two anyway.
func (s *streamFeed) join(ctx context.Context, w *filterHandler) (fresh.Subscription, error) {
	st, err := s.b.js.Stream(ctx, s.b.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", s.b.stream, err)
	}
	info := st.CachedInfo()
	s.posMu.Lock()
	if info.Created.Equal(s.created) {
		w.skip, w.inc, w.seq = true, s.inc, info.State.LastSeq
	}
	s.posMu.Unlock()
	return s.local.Subscribe(context.Background(), w)
}

// open creates a consumer that starts at last+1 and begins to pull from it.
func (s *streamFeed) open(ctx context.Context) error {
	b := s.b
	cons, err := b.js.CreateConsumer(ctx, b.stream, jetstream.ConsumerConfig{
		Description:       "freshnats subscriber",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       s.last + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     b.subject,
		InactiveThreshold: streamInactive,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("create a consumer of stream %q: %w", b.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(streamBatch), jetstream.PullExpiry(streamExpiry), jetstream.PullHeartbeat(streamHeartbeat))
	if err != nil {
		s.cons = cons
		s.dropConsumer()
		return fmt.Errorf("pull from a consumer of stream %q: %w", b.stream, err)
	}
	s.cons, s.it, s.fresh = cons, it, true
	return nil
}

// verify checks, once the consumer exists, that the stream is still the one the feed
// knows. If not, it drops the consumer and returns an error; the next reopen reports
// the loss.
func (s *streamFeed) verify(ctx context.Context) error {
	st, err := s.b.js.Stream(ctx, s.b.stream)
	if err == nil && !st.CachedInfo().Created.Equal(s.created) {
		err = fmt.Errorf("stream %q was replaced while a consumer was being created", s.b.stream)
	}
	if err != nil {
		s.dropConsumer()
		return err
	}
	return nil
}

// reopen checks the stream (reporting a loss if it lost messages the feed had not
// read, or was replaced) and creates a consumer that starts at last+1.
func (s *streamFeed) reopen(ctx context.Context) error {
	s.kicked.Store(false) // the consumer made now is on the current connection
	ctx, cancel := s.b.ctxTimeout(ctx)
	defer cancel()
	info, err := s.b.ensureStream(ctx)
	if err != nil {
		return err
	}
	s.checkStream(info)
	if err := s.open(ctx); err != nil {
		return err
	}
	if err := s.verify(ctx); err != nil {
		return err
	}
	s.b.stats.resets.Add(1)
	return nil
}

// checkStream compares the stream's state with the feed's position, and reports a
// loss, and moves the position, if the stream can no longer deliver what follows it.
func (s *streamFeed) checkStream(info *jetstream.StreamInfo) {
	st := info.State
	switch {
	case !info.Created.Equal(s.created):
		// Everything the new stream holds was published before this report, which
		// covers it: read on after its last message.
		was := s.created
		s.posMu.Lock()
		s.created, s.inc = info.Created, s.inc+1
		s.posMu.Unlock()
		s.last = st.LastSeq
		s.lost(fmt.Errorf("%w: stream %q was deleted or replaced (it was created at %v, now at %v)",
			ErrStreamGap, s.b.stream, was.UTC(), info.Created.UTC()))
	case st.LastSeq < s.last:
		last := s.last
		s.last = st.LastSeq
		s.lost(fmt.Errorf("%w: stream %q went back to sequence %d, behind the %d this subscriber read: it lost messages it had acknowledged",
			ErrStreamGap, s.b.stream, st.LastSeq, last))
	case st.FirstSeq > s.last+1:
		from := s.last + 1
		s.last = st.FirstSeq - 1
		s.lost(fmt.Errorf("%w: messages %d to %d of stream %q were removed (MaxMsgs, MaxBytes or MaxAge, or a purge) before this subscriber read them",
			ErrStreamGap, from, st.FirstSeq-1, s.b.stream))
	}
}

// lost reports a loss and forgets the publishers' sequence numbers.
func (s *streamFeed) lost(err error) {
	s.asm.forget()
	s.loss(err)
}

// read pulls and delivers until the feed stops.
func (s *streamFeed) read(ctx context.Context) {
	defer s.done.Done()
	var retry retryPacer
	for ctx.Err() == nil {
		if s.it == nil {
			if err := s.reopen(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if s.b.nc.IsClosed() {
					s.loss(fmt.Errorf("%w: the connection was closed", ErrDisconnected))
					return
				}
				if retry.failed() {
					s.b.log.Warn("freshnats: cannot read the stream; retrying", "stream", s.b.stream, "after", s.last, "err", err)
				}
				if !retry.sleep(ctx) {
					return
				}
				continue
			}
			if retry.recovered() {
				s.b.log.Info("freshnats: reading the stream again", "stream", s.b.stream, "after", s.last)
			}
		}
		msg, err := s.next(ctx)
		if ctx.Err() != nil {
			return
		}
		if s.kicked.Swap(false) {
			// The connection was re-established. What the consumer sent on the old
			// one and the client never read is lost, and the consumer does not send
			// it again: with no message after it, no skip would show it. Read on
			// from last+1 with a new consumer (which also replaces a consumer that a
			// restarted server lost). A message taken meanwhile is read again.
			s.b.log.Info("freshnats: reconnected; resuming with a new consumer", "stream", s.b.stream, "after", s.last)
			s.dropConsumer()
			continue
		}
		if err != nil {
			if s.b.nc.IsClosed() {
				// The connection was closed under the bus: nothing more will arrive.
				s.loss(fmt.Errorf("%w: the connection was closed", ErrDisconnected))
				return
			}
			s.b.log.Info("freshnats: stream read interrupted; resuming with a new consumer", "stream", s.b.stream, "after", s.last, "err", err)
			s.dropConsumer()
			continue
		}
		s.handle(msg)
	}
}

// handle checks one message's stream sequence and delivers it (see streamFeed).
func (s *streamFeed) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		// Every message a consumer delivers has its metadata in its reply subject.
		s.b.log.Warn("freshnats: stream message without metadata; resuming with a new consumer", "stream", s.b.stream, "err", err)
		s.dropConsumer()
		return
	}
	seq := meta.Sequence.Stream
	switch {
	case seq == s.last+1:
	case !s.fresh:
		s.b.log.Info("freshnats: stream sequence skipped; resuming with a new consumer",
			"stream", s.b.stream, "after", s.last, "received", seq)
		s.dropConsumer()
		return
	case seq > s.last+1:
		s.lost(fmt.Errorf("%w: messages %d to %d of stream %q were removed before this subscriber read them",
			ErrStreamGap, s.last+1, seq-1, s.b.stream))
	default:
		s.lost(fmt.Errorf("%w: stream %q delivered sequence %d after %d: it went backwards",
			ErrStreamGap, s.b.stream, seq, s.last))
	}
	s.fresh = false
	s.last = seq
	// In JetStream mode a skip in a publisher's sequence numbers is a publish that
	// failed, which its publisher was told of: the stream's own sequence proves
	// that nothing it accepted was missed.
	s.frame(s.asm, msg.Data(), false, position{s.inc, seq})
}

// dropConsumer stops pulling and deletes the consumer, if the server is reachable
// (otherwise it expires by itself).
func (s *streamFeed) dropConsumer() {
	if s.it != nil {
		s.it.Stop()
		s.it = nil
	}
	if s.cons != nil {
		if s.b.nc.IsConnected() {
			ctx, cancel := context.WithTimeout(context.Background(), streamCleanupTimeout)
			_ = s.b.js.DeleteConsumer(ctx, s.b.stream, s.cons.CachedInfo().Name)
			cancel()
		}
		s.cons = nil
	}
}

// cleanup is the feed's release: it gives up the consumer and the status listener.
func (s *streamFeed) cleanup() {
	s.dropConsumer()
	if s.status != nil {
		s.b.nc.RemoveStatusListener(s.status)
	}
}
