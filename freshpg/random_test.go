package freshpg

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var long = flag.Bool("freshpg.long", false, "run the randomised tests for a minute instead of a few seconds")

// TestRandomizedContinuity attacks the bus's promise, seeded and randomised:
// publishers publish plainly, in transactions that commit or roll back, and in slow
// transactions that hold the lock; meanwhile listening connections are terminated,
// handlers stall, and retention trims a small table (MaxCount 60). A trigger copies
// every committed message, with its id, into an audit table, the ground truth. Every
// follower must receive messages in strictly increasing id order and may skip a
// committed message only where it reported a loss in between; at the end it must
// have everything after its last loss.
func TestRandomizedContinuity(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	duration := 3 * time.Second
	if *long {
		duration = time.Minute
	}
	pool := testPool(t)
	table := testTableName(t, pool)
	pubs := []*Bus{
		testBus(t, pool, Options{Table: table, MaxCount: 60}),
		testBus(t, testPool(t), Options{Table: table, MaxCount: 60}),
	}
	audit := table + "_audit"
	ctx, cancel := context.WithTimeout(context.Background(), duration+testWait)
	defer cancel()
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+audit)
		_, _ = pool.Exec(context.Background(), "DROP FUNCTION IF EXISTS "+audit+"_fn() CASCADE")
	})
	q := pubs[0].table.quoted()
	execSQL(t, pool, "CREATE TABLE "+audit+" (id bigint PRIMARY KEY, msg bytea)")
	execSQL(t, pool, "CREATE FUNCTION "+audit+"_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "+audit+" VALUES (NEW.id, NEW.msg); RETURN NEW; END $$")
	execSQL(t, pool, "CREATE TRIGGER "+audit+"_trg AFTER INSERT ON "+q+" FOR EACH ROW WHEN (NEW.kind = 1) EXECUTE FUNCTION "+audit+"_fn()")

	// Followers: on both buses, some with handlers that stall now and then.
	type follower struct {
		r   *recorder
		sub *subscription
	}
	var followers []follower
	for i := range 4 {
		r := newRecorder()
		if i%2 == 1 {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			var mu sync.Mutex
			r.hook = func([]byte) {
				mu.Lock()
				stall := rng.IntN(400) == 0
				mu.Unlock()
				if stall {
					time.Sleep(500 * time.Millisecond)
				}
			}
		}
		followers = append(followers, follower{r, subscribe(t, pubs[i%2], r)})
	}

	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		errs    = make(chan error, 16)
		kills   atomic.Int64
		slowTxs atomic.Int64
	)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 100+uint64(g)))
			b := pubs[g%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				msg := []byte("m" + strconv.FormatInt(next.Add(1), 10))
				var err error
				switch k := rng.IntN(20); {
				case k < 14:
					err = b.Publish(ctx, msg)
				case k < 18:
					rollback := k == 17
					err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
						if err := b.PublishTx(ctx, tx, msg); err != nil {
							return err
						}
						if rollback {
							return errRollback
						}
						return nil
					})
					if rollback && errors.Is(err, errRollback) {
						err = nil
					}
				default:
					slowTxs.Add(1)
					err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
						if err := b.PublishTx(ctx, tx, msg); err != nil {
							return err
						}
						time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
						return nil
					})
				}
				if err != nil {
					errs <- fmt.Errorf("publisher %d: %w", g, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 200))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+rng.IntN(150)) * time.Millisecond):
			}
			f := followers[rng.IntN(len(followers))]
			if pid := f.sub.backendPID(); pid != 0 {
				if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err == nil {
					kills.Add(1)
				}
			}
		}
	})
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	publish(t, pubs[0], "end")

	// The ground truth: every committed message, by id.
	rows, err := pool.Query(ctx, "SELECT id, msg FROM "+audit+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	idOf := make(map[string]int64)
	var order []string
	for rows.Next() {
		var id int64
		var msg []byte
		if err := rows.Scan(&id, &msg); err != nil {
			t.Fatal(err)
		}
		idOf[string(msg)] = id
		order = append(order, string(msg))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	pos := make(map[string]int, len(order))
	for i, m := range order {
		pos[m] = i
	}
	t.Logf("%d messages committed (%d attempted), %d slow transactions, %d listener backends terminated", len(order), next.Load(), slowTxs.Load(), kills.Load())

	for fi, f := range followers {
		ev := f.r.waitMessage(t, "end")
		prev := -1        // position in order of the previous message delivered
		lossSince := true // a loss (or the start) since prev: a skip is allowed
		nLoss := 0
		for k, e := range ev {
			if e.loss != nil {
				lossSince = true
				nLoss++
				continue
			}
			p, ok := pos[string(e.msg)]
			if !ok {
				t.Fatalf("follower %d: event %d is %q, which never committed", fi, k, e.msg)
			}
			if p <= prev {
				t.Fatalf("follower %d: event %d is %q (id %d) after %q (id %d)", fi, k, e.msg, idOf[string(e.msg)], order[prev], idOf[order[prev]])
			}
			if p != prev+1 && !lossSince {
				t.Fatalf("follower %d: skipped %d committed messages (ids %d to %d) before %q without reporting a loss",
					fi, p-prev-1, idOf[order[prev+1]], idOf[order[p-1]], e.msg)
			}
			prev, lossSince = p, false
		}
		if prev != len(order)-1 {
			t.Fatalf("follower %d ended at %q; want end", fi, order[prev])
		}
		t.Logf("follower %d: %d messages, %d losses", fi, len(ev)-nLoss, nLoss)
	}
}

// errRollback makes pgx.BeginFunc roll back.
var errRollback = errors.New("freshpg test: roll back")
