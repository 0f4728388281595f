package freshpg

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// benchSubscribers is how many subscriptions each published message fans out to.
const benchSubscribers = 4

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
// handler calls of benchSubscribers subscriptions on another bus (another pool, as
// another process would have), one message at a time, and reports its median, 99th
// percentile and maximum in microseconds. One op is one message delivered
// everywhere. On the shared server every publish waits for its commit to reach
// the disk (fsync, synchronous_commit on), which dominates; on a private server
// with fsync off, what is left is the bus's own cost.
func BenchmarkFanout(b *testing.B) {
	b.Run("shared", func(b *testing.B) { benchFanout(b, testURL()) })
	private := startPGServer(b).url() // once: b.Run calls its function for each b.N
	b.Run("private-nofsync", func(b *testing.B) { benchFanout(b, private) })
}

func benchFanout(b *testing.B, url string) {
	pool := testPoolURL(b, url)
	table := testTableName(b, pool)
	pub := testBus(b, pool, Options{Table: table})
	sub := testBus(b, testPoolURL(b, url), Options{Table: table})
	h := &benchHandler{epoch: time.Now(), lat: make(chan time.Duration, benchSubscribers), lost: make(chan error, 1)}
	for range benchSubscribers {
		subscribe(b, sub, h)
	}
	ctx := testCtx(b)
	var lats []time.Duration
	msg := make([]byte, 8)
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint64(msg, uint64(time.Since(h.epoch)))
		if err := pub.Publish(ctx, msg); err != nil {
			b.Fatalf("Publish: %v", err)
		}
		for range benchSubscribers {
			select {
			case d := <-h.lat:
				lats = append(lats, d)
			case err := <-h.lost:
				b.Fatalf("loss on a healthy bus: %v", err)
			case <-time.After(testWait):
				b.Fatal("a message did not arrive")
			}
		}
	}
	slices.Sort(lats)
	us := func(q float64) float64 { return float64(lats[int(q*float64(len(lats)-1))]) / float64(time.Microsecond) }
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
	b.ReportMetric(us(1), "max-µs")
}

// BenchmarkPublish measures Publish alone, from several goroutines: each takes the
// table's publish lock in turn, which bounds the throughput of one table.
func BenchmarkPublish(b *testing.B) {
	b.Run("shared", func(b *testing.B) { benchPublish(b, testURL()) })
	private := startPGServer(b).url()
	b.Run("private-nofsync", func(b *testing.B) { benchPublish(b, private) })
}

func benchPublish(b *testing.B, url string) {
	pool := testPoolURL(b, url)
	bus := testBus(b, pool, Options{Table: testTableName(b, pool)})
	ctx := testCtx(b)
	msg := make([]byte, 64)
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bus.Publish(ctx, msg); err != nil {
				b.Errorf("Publish: %v", err)
				return
			}
		}
	})
}
