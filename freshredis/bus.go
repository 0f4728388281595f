package freshredis

// What StreamBus and PubSubBus share: the errors they return or report, the
// validation of their options, the closing protocol of their subscriptions and the
// pause between retries of a failed read.

import (
	"context"
	"errors"
	"fmt"
	"github.com/freshcache/fresh/internal/goid"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// Errors returned by the buses.
var (
	// ErrBusClosed is returned by Publish and Subscribe after the bus's Close.
	ErrBusClosed = errors.New("freshredis: bus closed")
	// ErrMessageTooLarge is returned by Publish for a message longer than the
	// bus's MaxMessageSize.
	ErrMessageTooLarge = errors.New("freshredis: message too large")
)

// Errors that the buses pass to fresh.Handler.HandleLoss, wrapped in an error that
// says what happened. Test them with errors.Is.
var (
	// ErrStreamGap reports that a StreamBus subscription could not prove that it
	// read every entry: the stream was trimmed past the subscription's position, or
	// deleted, emptied or replaced (FLUSHALL, a restart without persistence, a
	// failover to a replica that lacks the entry).
	ErrStreamGap = errors.New("freshredis: stream continuity lost")
	// ErrMalformedEntry reports an entry of a StreamBus stream (or a message on a
	// PubSubBus channel) that is not a message this package wrote. It could have
	// carried an invalidation, so it counts as a loss.
	ErrMalformedEntry = errors.New("freshredis: malformed stream entry")
	// ErrPubSubInterrupted reports that a PubSubBus subscription was interrupted
	// (its connection failed or stopped answering, or the server ended it), or that
	// it was subscribed again afterwards: Redis Pub/Sub does not replay what was
	// published in between.
	ErrPubSubInterrupted = errors.New("freshredis: pub/sub subscription interrupted")
)

// DefaultMaxMessageSize is the default bound of a message's size, the same as
// fresh's own bound on the messages it publishes.
const DefaultMaxMessageSize = 1 << 20

// busMaxNamespaceLen bounds the length of a bus namespace, in bytes: the same bound
// as a Store's.
const busMaxNamespaceLen = 128

// busKey returns the name of a bus's stream (StreamBus) or channel (PubSubBus) in
// namespace ns. It follows the layout of the Store's keys, "fresh:v1:{ns}:...": the
// hash tag puts the stream in the cluster slot of the namespace's other keys.
func busKey(ns string) string { return "fresh:v1:{" + ns + "}:bus" }

// busNamespace checks the Namespace field of the options struct named opts and
// returns it, or DefaultNamespace for an empty one. A namespace follows the rules
// of StoreOptions.Namespace: at most 128 bytes, without braces (which would break
// the hash tag).
func busNamespace(opts, ns string) (string, error) {
	switch {
	case ns == "":
		return DefaultNamespace, nil
	case len(ns) > busMaxNamespaceLen:
		return "", fmt.Errorf("freshredis: %s.Namespace is %d bytes long; the limit is %d", opts, len(ns), busMaxNamespaceLen)
	case strings.ContainsAny(ns, "{}"):
		return "", fmt.Errorf("freshredis: %s.Namespace %q contains a brace, which would break its hash tag", opts, ns)
	}
	return ns, nil
}

// busClientIsNil reports whether c is nil or a nil pointer in the interface, which
// go-redis would dereference at the first command.
func busClientIsNil(c redis.UniversalClient) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// busCheckPublish makes the checks that both buses' Publish make before sending.
func busCheckPublish(ctx context.Context, closed bool, msg []byte, maxSize int) error {
	switch {
	case ctx == nil:
		return errors.New("freshredis: publish: nil context")
	case len(msg) > maxSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), maxSize)
	case closed:
		return ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshredis: publish: %w", err)
	}
	return nil
}

// busCheckSubscribe makes the checks that both buses' Subscribe make first.
func busCheckSubscribe(ctx context.Context, closed bool, h fresh.Handler) error {
	switch {
	case ctx == nil:
		return errors.New("freshredis: subscribe: nil context")
	case h == nil:
		return errors.New("freshredis: subscribe: nil handler")
	case closed:
		return ErrBusClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshredis: subscribe: %w", err)
	}
	return nil
}

// busSub is what both kinds of subscription share: the handler and the protocol
// that makes Close keep the fresh.Subscription contract.
//
// Each subscription has one goroutine, its runner, which alone calls the handler,
// so calls never overlap. Close sets closed and cancels the runner's context; the
// runner checks closed before every handler call, and Close then waits until the
// runner has returned, so no call follows Close. A Close made by the handler itself,
// on the runner's goroutine, cannot wait for the runner: it returns at once, and the
// runner sees closed as soon as the handler returns.
type busSub struct {
	h       fresh.Handler
	cancel  context.CancelFunc // cancels the runner's context
	done    chan struct{}      // closed when the runner has returned
	closed  atomic.Bool
	runner  atomic.Uint64 // goroutine id of the runner, once it has started
	once    sync.Once
	scratch []byte // the runner's copy of the message being delivered
}

// init prepares s for a subscription of h and returns the context of its runner,
// which stop cancels.
func (s *busSub) init(h fresh.Handler) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	s.h, s.cancel, s.done = h, cancel, make(chan struct{})
	return ctx
}

// begin is called by the runner first.
func (s *busSub) begin() { s.runner.Store(goid.Current()) }

// stop marks the subscription closed and cancels the runner's context. It reports
// whether this call was the first.
func (s *busSub) stop() (first bool) {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		first = true
	})
	return first
}

// inRunner reports whether the caller is the runner (a handler).
func (s *busSub) inRunner() bool {
	id := goid.Current()
	return id != 0 && id == s.runner.Load()
}

// wait waits until the runner has returned, unless it is called by the runner
// itself (a handler that closes its own subscription).
func (s *busSub) wait() {
	if s.inRunner() {
		return
	}
	<-s.done
}

// message calls the handler with a copy of payload, unless the subscription is
// closed. Only the runner calls it.
func (s *busSub) message(payload string) {
	if s.closed.Load() {
		return
	}
	s.scratch = append(s.scratch[:0], payload...)
	s.h.HandleMessage(s.scratch)
	if cap(s.scratch) > 64<<10 {
		s.scratch = nil // do not hold on to the memory of a large message
	}
}

// loss reports err to the handler, unless the subscription is closed. Only the
// runner calls it.
func (s *busSub) loss(err error) {
	if s.closed.Load() {
		return
	}
	s.h.HandleLoss(err)
}

// busLogger returns l, or slog.Default() if l is nil.
func busLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
