package freshredis

// Helpers of the buses' tests: the shared server at FRESH_REDIS_URL, a unique
// namespace per test, a recording handler, and killing a client's connections.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshcache/fresh"
	"github.com/redis/go-redis/v9"
)

// busTestDefaultURL is the server the tests use when FRESH_REDIS_URL is not set.
const busTestDefaultURL = "redis://127.0.0.1:6379/0"

// busTestWait bounds every wait of the buses' tests.
const busTestWait = 10 * time.Second

// busTestOptions returns the options of the server at FRESH_REDIS_URL, or of
// busTestDefaultURL.
func busTestOptions(tb testing.TB) *redis.Options {
	tb.Helper()
	u := os.Getenv("FRESH_REDIS_URL")
	if u == "" {
		u = busTestDefaultURL
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("FRESH_REDIS_URL: %v", err)
	}
	return o
}

// busTestClient returns a client of the test server, with configure (if not nil)
// applied to its options, and closes it when the test ends. It skips the test if
// the server does not answer, or fails it when CI is set.
func busTestClient(tb testing.TB, configure func(*redis.Options)) *redis.Client {
	tb.Helper()
	o := busTestOptions(tb)
	if configure != nil {
		configure(o)
	}
	c := redis.NewClient(o)
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			tb.Fatalf("CI is set, so this cannot be skipped: no Redis at %s (FRESH_REDIS_URL): %v", o.Addr, err)
		}
		tb.Skipf("no Redis at %s; set FRESH_REDIS_URL to run this test: %v", o.Addr, err)
	}
	return c
}

// busTestNamespace returns a namespace of its own for the test, and deletes the
// bus's key in it when the test ends.
func busTestNamespace(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(tb.Name(), "_")
	ns := busTestRandomName("bustest-" + name + "-")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Del(ctx, busKey(ns))
	})
	return ns
}

// busTestStreamBus returns a StreamBus on c in namespace ns and closes it when the
// test ends.
func busTestStreamBus(tb testing.TB, c redis.UniversalClient, o StreamBusOptions) *StreamBus {
	tb.Helper()
	b, err := NewStreamBus(c, o)
	if err != nil {
		tb.Fatalf("NewStreamBus: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// busTestPubSubBus returns a PubSubBus on c and closes it when the test ends.
func busTestPubSubBus(tb testing.TB, c redis.UniversalClient, o PubSubBusOptions) *PubSubBus {
	tb.Helper()
	b, err := NewPubSubBus(c, o)
	if err != nil {
		tb.Fatalf("NewPubSubBus: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// busTestCtx returns a context that ends after busTestWait or with the test.
func busTestCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), busTestWait)
	tb.Cleanup(cancel)
	return ctx
}

// busTestEvent is one handler call recorded by a busTestRecorder: a message, or a
// loss when loss is set.
type busTestEvent struct {
	msg  []byte
	loss error
}

func (e busTestEvent) String() string {
	if e.loss != nil {
		return "loss(" + e.loss.Error() + ")"
	}
	return "message(" + string(e.msg) + ")"
}

// busTestRecorder is a fresh.Handler that records every call, in order. Its
// optional hook runs inside HandleMessage, before the message is recorded.
type busTestRecorder struct {
	mu     sync.Mutex
	events []busTestEvent
	signal chan struct{} // capacity 1: events grew
	hook   func(msg []byte)
}

func newBusTestRecorder() *busTestRecorder {
	return &busTestRecorder{signal: make(chan struct{}, 1)}
}

func (r *busTestRecorder) HandleMessage(msg []byte) {
	if r.hook != nil {
		r.hook(msg)
	}
	r.add(busTestEvent{msg: bytes.Clone(msg)})
}

func (r *busTestRecorder) HandleLoss(err error) {
	if err == nil {
		err = errors.New("HandleLoss(nil)")
	}
	r.add(busTestEvent{loss: err})
}

func (r *busTestRecorder) add(e busTestEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// snapshot returns a copy of the events so far.
func (r *busTestRecorder) snapshot() []busTestEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]busTestEvent(nil), r.events...)
}

// losses returns the losses recorded so far.
func (r *busTestRecorder) losses() []error {
	var errs []error
	for _, e := range r.snapshot() {
		if e.loss != nil {
			errs = append(errs, e.loss)
		}
	}
	return errs
}

// waitFor waits until cond holds for the events, failing the test after
// busTestWait.
func (r *busTestRecorder) waitFor(tb testing.TB, what string, cond func([]busTestEvent) bool) []busTestEvent {
	tb.Helper()
	timer := time.NewTimer(busTestWait)
	defer timer.Stop()
	for {
		events := r.snapshot()
		if cond(events) {
			return events
		}
		select {
		case <-r.signal:
		case <-timer.C:
			tb.Fatalf("timed out waiting for %s; the handler received %s", what, busTestSummary(events))
		}
	}
}

// waitMessage waits until a message equal to want was recorded, and returns the
// events up to and including it.
func (r *busTestRecorder) waitMessage(tb testing.TB, want string) []busTestEvent {
	tb.Helper()
	var upTo []busTestEvent
	r.waitFor(tb, "message "+want, func(events []busTestEvent) bool {
		for i, e := range events {
			if e.loss == nil && string(e.msg) == want {
				upTo = events[:i+1]
				return true
			}
		}
		return false
	})
	return upTo
}

// busTestSummary describes events briefly, for failure messages.
func busTestSummary(events []busTestEvent) string {
	if len(events) == 0 {
		return "nothing"
	}
	shown := events
	if len(events) > 25 {
		shown = append(append(events[:20:20], busTestEvent{msg: []byte("...")}), events[len(events)-5:]...)
	}
	parts := make([]string, len(shown))
	for i, e := range shown {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

// busTestKillClients kills, through admin, every connection whose client name is
// name, and returns how many it killed.
func busTestKillClients(tb testing.TB, admin redis.UniversalClient, name string) int {
	tb.Helper()
	ctx := busTestCtx(tb)
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		tb.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for line := range strings.Lines(list) {
		var id string
		named := false
		for field := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(field, "=")
			switch {
			case k == "id":
				id = v
			case k == "name" && v == name:
				named = true
			}
		}
		if !named || id == "" {
			continue
		}
		n, err := admin.ClientKillByFilter(ctx, "ID", id).Result()
		if err != nil {
			tb.Fatalf("CLIENT KILL ID %s: %v", id, err)
		}
		killed += int(n)
	}
	return killed
}

// busTestSplit is a fresh.Bus that spreads its calls over several buses on one
// namespace, each standing for another process: Publish and Subscribe take turns.
type busTestSplit struct {
	buses      []fresh.Bus
	pubs, subs atomic.Uint64
}

func (s *busTestSplit) Publish(ctx context.Context, msg []byte) error {
	return s.buses[s.pubs.Add(1)%uint64(len(s.buses))].Publish(ctx, msg)
}

func (s *busTestSplit) Subscribe(ctx context.Context, h fresh.Handler) (fresh.Subscription, error) {
	return s.buses[s.subs.Add(1)%uint64(len(s.buses))].Subscribe(ctx, h)
}

// busTestRandomName returns prefix followed by random hex digits.
func busTestRandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
