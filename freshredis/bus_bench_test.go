package freshredis

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// busBenchSubscribers is how many subscriptions each published message fans out to.
const busBenchSubscribers = 4

// busBenchHandler sends, for each message, the time from its Publish call to its
// delivery.
type busBenchHandler struct {
	epoch time.Time
	lat   chan time.Duration
	lost  chan error
}

func (h *busBenchHandler) HandleMessage(msg []byte) {
	if len(msg) == 8 {
		h.lat <- time.Since(h.epoch) - time.Duration(binary.BigEndian.Uint64(msg))
	}
}

func (h *busBenchHandler) HandleLoss(err error) {
	select {
	case h.lost <- err:
	default:
	}
}

// busBenchFanout measures the latency from a Publish call to the handler call, on
// busBenchSubscribers subscriptions, one message at a time, and reports its median
// and 99th percentile in microseconds. One op is one message delivered everywhere.
func busBenchFanout(b *testing.B, makeBus func(b *testing.B, c redis.UniversalClient, ns string) busTestClosable) {
	c := busTestClient(b, nil)
	bus := makeBus(b, c, busTestNamespace(b, c))
	ctx := busTestCtx(b)
	h := &busBenchHandler{epoch: time.Now(), lat: make(chan time.Duration, busBenchSubscribers), lost: make(chan error, 1)}
	for range busBenchSubscribers {
		if _, err := bus.Subscribe(ctx, h); err != nil {
			b.Fatalf("Subscribe: %v", err)
		}
	}
	var lats []time.Duration
	msg := make([]byte, 8)
	for b.Loop() {
		binary.BigEndian.PutUint64(msg, uint64(time.Since(h.epoch)))
		if err := bus.Publish(ctx, msg); err != nil {
			b.Fatalf("Publish: %v", err)
		}
		for range busBenchSubscribers {
			select {
			case d := <-h.lat:
				lats = append(lats, d)
			case err := <-h.lost:
				b.Fatalf("loss on a healthy bus: %v", err)
			case <-time.After(busTestWait):
				b.Fatal("a message did not arrive")
			}
		}
	}
	slices.Sort(lats)
	us := func(q float64) float64 { return float64(lats[int(q*float64(len(lats)-1))]) / float64(time.Microsecond) }
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
}

// BenchmarkStreamBusFanout is the Publish-to-handler latency of a StreamBus.
func BenchmarkStreamBusFanout(b *testing.B) {
	busBenchFanout(b, func(b *testing.B, c redis.UniversalClient, ns string) busTestClosable {
		return busTestStreamBus(b, c, StreamBusOptions{Namespace: ns})
	})
}

// BenchmarkPubSubBusFanout is the Publish-to-handler latency of a PubSubBus.
func BenchmarkPubSubBusFanout(b *testing.B) {
	busBenchFanout(b, func(b *testing.B, c redis.UniversalClient, ns string) busTestClosable {
		return busTestPubSubBus(b, c, PubSubBusOptions{Namespace: ns})
	})
}
