//go:build unix

package freshsqlite

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// benchSubscribers is how many subscriptions each message fans out to in the
// in-process variants of BenchmarkFanout.
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

// reportLatency reports the median, 99th percentile and maximum of lats.
func reportLatency(b *testing.B, lats []time.Duration) {
	if len(lats) == 0 {
		return
	}
	p50, p99, worst := percentiles(lats)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(p50), "p50-µs")
	b.ReportMetric(us(p99), "p99-µs")
	b.ReportMetric(us(worst), "max-µs")
}

// BenchmarkFanout is the latency from a Publish call to the handler calls that
// receive the message, one message at a time: on subscriptions of the publishing
// bus (woken by the publish itself), of another bus on the file with a *sql.DB of its
// own (woken by file-system events, as another process would be), and in another
// process. One op is one message delivered everywhere.
func BenchmarkFanout(b *testing.B) {
	for _, tt := range []struct {
		name  string
		other bool
	}{{"SameBus", false}, {"OtherBus", true}} {
		b.Run(tt.name, func(b *testing.B) {
			path := testPath(b)
			pub := testBus(b, path, Options{})
			sub := pub
			if tt.other {
				sub = testBus(b, path, Options{})
			}
			h := &benchHandler{epoch: time.Now(), lat: make(chan time.Duration, benchSubscribers), lost: make(chan error, 1)}
			for range benchSubscribers {
				testSubscribe(b, sub, h)
			}
			var lats []time.Duration
			msg := make([]byte, 8)
			for b.Loop() {
				binary.BigEndian.PutUint64(msg, uint64(time.Since(h.epoch)))
				if err := pub.Publish(b.Context(), msg); err != nil {
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
			reportLatency(b, lats)
		})
	}
	b.Run("OtherProcess", func(b *testing.B) {
		path := testPath(b)
		pub := testBus(b, path, Options{})
		f := startChild(b, "follower", roleLatency, procConfig{Path: path})
		if l := f.nextLine(b, procWait); l != "ready" {
			b.Fatalf("the follower printed %q", l)
		}
		var lats []time.Duration
		i := 0
		for b.Loop() {
			called := time.Now().UnixNano()
			if err := pub.Publish(b.Context(), strconv.AppendInt(nil, int64(i), 10)); err != nil {
				b.Fatalf("Publish: %v", err)
			}
			var msg string
			var at int64
			l := f.nextLine(b, testWait)
			if _, err := fmt.Sscanf(l, "r %s %d", &msg, &at); err != nil || msg != strconv.Itoa(i) {
				b.Fatalf("the follower printed %q; want message %d", l, i)
			}
			lats = append(lats, time.Duration(at-called))
			i++
		}
		b.StopTimer()
		testPublish(b, pub, "stop")
		reportLatency(b, lats)
	})
}

// BenchmarkPublish is the cost of a Publish, from one goroutine and from many
// (whose messages share commits).
func BenchmarkPublish(b *testing.B) {
	msg := []byte("an invalidation of about this size")
	b.Run("Serial", func(b *testing.B) {
		bus := testBus(b, testPath(b), Options{})
		b.ReportAllocs()
		for b.Loop() {
			if err := bus.Publish(b.Context(), msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		bus := testBus(b, testPath(b), Options{})
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bus.Publish(b.Context(), msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
