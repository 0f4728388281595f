package freshredis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Store's benchmarks run each operation side by side with the plain Redis
// command it is measured against, interleaved in one loop so that both see the
// same load, and report both and their ratio:
//
//	go test -run '^$' -bench BenchmarkStore -benchtime 2000x ./freshredis/

// storeBenchValue is the value of the benchmarks' entries: 256 bytes.
var storeBenchValue = make([]byte, 256)

// BenchmarkStoreGet times a Get hit of an entry with three dependencies (one
// script: meta, HMGET, ZMSCORE of four tombstones) against a plain GET.
func BenchmarkStoreGet(b *testing.B) {
	client := storeTestClient(b)
	s := storeTestNew(b, client, StoreOptions{})
	ctx := context.Background()
	at := storeTestPosition(b, s)
	deps := []string{"table:users", "row:users:1", "row:orgs:7"}
	if ok, err := s.Fill(ctx, "k", storeBenchValue, deps, at, 0); err != nil || !ok {
		b.Fatal(ok, err)
	}
	plain := s.keys.prefix + "plain"
	if err := client.Set(ctx, plain, storeBenchValue, time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	var store, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, ok, err := s.Get(ctx, "k"); err != nil || !ok {
			b.Fatal(ok, err)
		}
		t1 := time.Now()
		if err := client.Get(ctx, plain).Err(); err != nil {
			b.Fatal(err)
		}
		store, base = store+t1.Sub(t0), base+time.Since(t1)
	}
	storeBenchReport(b, "Get", store, "GET", base)
}

// BenchmarkStoreFill times a Fill with three dependencies (one script: meta,
// ZMSCORE of four tombstones, DEL, HSET, PEXPIRE) against a plain SET PX.
func BenchmarkStoreFill(b *testing.B) {
	client := storeTestClient(b)
	s := storeTestNew(b, client, StoreOptions{})
	ctx := context.Background()
	at := storeTestPosition(b, s)
	deps := []string{"table:users", "row:users:1", "row:orgs:7"}
	plain := s.keys.prefix + "plain"
	var store, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if ok, err := s.Fill(ctx, "k", storeBenchValue, deps, at, time.Minute); err != nil || !ok {
			b.Fatal(ok, err)
		}
		t1 := time.Now()
		if err := client.Set(ctx, plain, storeBenchValue, time.Minute).Err(); err != nil {
			b.Fatal(err)
		}
		store, base = store+t1.Sub(t0), base+time.Since(t1)
	}
	storeBenchReport(b, "Fill", store, "SET", base)
}

// BenchmarkStoreInvalidate shows that an invalidation costs the same however many
// entries depend on the dependency: it interleaves invalidations of a dependency
// of one entry and of a dependency of 100,000 entries, and reports both and their
// ratio (about 1).
func BenchmarkStoreInvalidate(b *testing.B) {
	const dependents = 100_000
	client := storeTestClient(b)
	s := storeTestNew(b, client, StoreOptions{})
	ctx := context.Background()
	at := storeTestPosition(b, s)
	if ok, err := s.Fill(ctx, "single", storeBenchValue, []string{"one"}, at, 0); err != nil || !ok {
		b.Fatal(ok, err)
	}
	storeBenchFillMany(b, client, s, dependents, "many")
	var one, many time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Invalidate(ctx, []string{"one"}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.Invalidate(ctx, []string{"many"}); err != nil {
			b.Fatal(err)
		}
		one, many = one+t1.Sub(t0), many+time.Since(t1)
	}
	storeBenchReport(b, "inv-1-dependent", one, "inv-100k-dependents", many)
	if n := client.Exists(ctx, s.keys.entry("dep-0"), s.keys.entry("dep-"+strconv.Itoa(dependents-1))).Val(); n != 2 {
		b.Fatalf("the dependents are missing")
	}
}

// storeBenchFillMany fills n entries that depend on dep, 1000 fills per pipeline.
func storeBenchFillMany(b *testing.B, client redis.UniversalClient, s *Store, n int, dep string) {
	b.Helper()
	ctx := context.Background()
	at := storeTestPosition(b, s)
	if ok, err := s.Fill(ctx, "warm-up", nil, nil, at, 0); err != nil || !ok { // loads the script
		b.Fatal(ok, err)
	}
	d := encodeDeps([]string{dep})
	life := strconv.FormatInt(ceilMillis(s.retention), 10)
	for i := 0; i < n; i += 1000 {
		pipe := client.Pipeline()
		for j := i; j < min(i+1000, n); j++ {
			key := "dep-" + strconv.Itoa(j)
			scriptFill.EvalSha(ctx, pipe, s.keys.with(s.keys.entry(key)),
				strconv.FormatUint(at.Epoch, 10), strconv.FormatUint(at.Pos, 10), storeBenchValue[:16], d, life, "0", "k:"+key)
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			if res, err := c.(*redis.Cmd).Slice(); err != nil || res[0] != int64(1) {
				b.Fatalf("pipelined fill: %v, %v", res, err)
			}
		}
	}
}

// storeBenchReport reports the mean time per operation of a and of b, and a/b.
func storeBenchReport(bm *testing.B, aName string, a time.Duration, bName string, b time.Duration) {
	n := float64(bm.N)
	bm.ReportMetric(float64(a.Nanoseconds())/n, "ns/"+aName)
	bm.ReportMetric(float64(b.Nanoseconds())/n, "ns/"+bName)
	if b > 0 {
		bm.ReportMetric(float64(a)/float64(b), aName+"/"+bName)
	}
}
