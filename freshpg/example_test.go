package freshpg_test

import (
	"context"
	"log"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshpg"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Caches in several processes share invalidations through a log table. (Not run:
// it needs a PostgreSQL server.)
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/shop")
	if err != nil {
		log.Print(err)
		return
	}
	defer pool.Close() // the bus never closes it

	bus, err := freshpg.New(ctx, pool, freshpg.Options{Table: "fresh_bus"})
	if err != nil {
		log.Print(err)
		return
	}
	defer bus.Close()

	hub, err := fresh.NewHub(fresh.HubOptions{Bus: bus})
	if err != nil {
		log.Print(err)
		return
	}
	defer hub.Close(ctx)
	articles, err := fresh.New(fresh.Options[int, string]{Hub: hub, Name: "articles"})
	if err != nil {
		log.Print(err)
		return
	}

	// After a write commits: every process whose hub is on the bus drops what
	// depends on article 42.
	if err := articles.Invalidate(ctx, fresh.Entity("articles", 42)); err != nil {
		log.Print(err)
	}
}

// A bus from a URL, as the CLI's --bus flag gives it; the bus owns the pool. (Not
// run: it needs a PostgreSQL server.)
func ExampleOpenURL() {
	ctx := context.Background()
	bus, err := freshpg.OpenURL(ctx, "postgresql://app@127.0.0.1:5432/shop?fresh_table=app.fresh_bus", freshpg.Options{})
	if err != nil {
		log.Print(err)
		return
	}
	defer bus.Close() // closes the pool too
	log.Printf("invalidations go through table %s, channel %s", bus.Table(), bus.Channel())
}

// A message published in the writing transaction reaches the subscribers if and
// only if that transaction commits. (Not run: it needs a PostgreSQL server.)
func ExampleBus_PublishTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/shop")
	if err != nil {
		log.Print(err)
		return
	}
	defer pool.Close()
	bus, err := freshpg.New(ctx, pool, freshpg.Options{})
	if err != nil {
		log.Print(err)
		return
	}
	defer bus.Close()

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE articles SET title = $1 WHERE id = $2", "New title", 42); err != nil {
			return err
		}
		// Last in the transaction: the table's publish lock is held until COMMIT.
		return bus.PublishTx(ctx, tx, []byte("an encoded invalidation"))
	})
	if err != nil {
		log.Print(err)
	}
}
