package freshnats

import (
	"encoding/binary"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// benchHandler sends, for each message, the time from its Publish call to its
// delivery.
type benchHandler struct {
	epoch time.Time
	lat   chan time.Duration
	lost  chan error
}

func (h *benchHandler) HandleMessage(msg []byte) {
	if len(msg) == 8 {
		h.lat <- time.Since(h.epoch) - time.Duration(binary.BigEndian.Uint64(msg))
	}
}

func (h *benchHandler) HandleLoss(err error) {
	select {
	case h.lost <- err:
	default:
	}
}

// BenchmarkFanout measures the latency from a Publish call on one bus to the
// handler call of a subscriber of another bus on another connection (another
// process, as far as NATS can tell), one message at a time, in each mode, and
// reports its median, 99th percentile and maximum in microseconds. One op is one
// message delivered.
func BenchmarkFanout(b *testing.B) {
	for _, mode := range testModes {
		b.Run(mode.name, func(b *testing.B) {
			ncPub, ncSub := testModeConn(b, mode.js), testModeConn(b, mode.js)
			ns := testNamespace(b, ncPub)
			quiet := slog.New(slog.DiscardHandler)
			pub := testBus(b, ncPub, Options{Namespace: ns, JetStream: mode.js, Logger: quiet})
			sub := testBus(b, ncSub, Options{Namespace: ns, JetStream: mode.js, Logger: quiet})
			h := &benchHandler{epoch: time.Now(), lat: make(chan time.Duration, 1), lost: make(chan error, 1)}
			testSubscribe(b, sub, h)
			ctx := testCtx(b)
			lats := make([]time.Duration, 0, 1<<16)
			msg := make([]byte, 8)
			b.ReportAllocs()
			for b.Loop() {
				binary.BigEndian.PutUint64(msg, uint64(time.Since(h.epoch)))
				if err := pub.Publish(ctx, msg); err != nil {
					b.Fatalf("Publish: %v", err)
				}
				select {
				case d := <-h.lat:
					lats = append(lats, d)
				case err := <-h.lost:
					b.Fatalf("loss on a healthy bus: %v", err)
				case <-time.After(testWait):
					b.Fatal("a message did not arrive")
				}
			}
			slices.Sort(lats)
			us := func(q float64) float64 { return float64(lats[int(q*float64(len(lats)-1))]) / float64(time.Microsecond) }
			b.ReportMetric(us(0.50), "p50-µs")
			b.ReportMetric(us(0.99), "p99-µs")
			b.ReportMetric(us(1), "max-µs")
		})
	}
}
