package freshsql

import (
	"context"
	"testing"
	"time"
)

// TestSlowReadAcrossACommit (G0, P3): a cached read whose query ran before a write
// committed, and whose result is stored after the write's invalidation, must not
// be served afterwards. The read is held between its query and the reading of its
// rows while another connection commits a new title.
func TestSlowReadAcrossACommit(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())

	loaded, release := make(chan struct{}), make(chan struct{})
	testHookLoaded = func(sql string) {
		if sql == qByID {
			close(loaded)
			<-release
		}
	}
	t.Cleanup(func() { testHookLoaded = nil })

	got := make(chan string, 1)
	go func() {
		// The reader holds a read transaction open on SQLite from its query on,
		// so its rows are the pre-write ones even when read after the commit.
		rows, _ := readAll(t, ctx, db, qByID, 10)
		got <- rows[0][1].(string)
	}()
	<-loaded
	if _, err := db.Exec(qRetitle, "after", 10); err != nil {
		t.Fatal(err)
	}
	testHookLoaded = nil
	close(release)
	select {
	case old := <-got:
		t.Logf("the slow read returned %q", old)
	case <-time.After(10 * time.Second):
		t.Fatal("the slow read did not return")
	}
	rows, _ := readAll(t, ctx, db, qByID, 10)
	if rows[0][1] != "after" {
		t.Errorf("read after the commit: %q; want %q (the slow read stored its pre-commit result)", rows[0][1], "after")
	}
	if s := c.CacheStats(); s.Fenced == 0 {
		t.Errorf("cache Stats = %+v; want the slow fill fenced", s)
	}
}
