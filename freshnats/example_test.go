package freshnats_test

import (
	"context"
	"log"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshnats"
	"github.com/nats-io/nats.go"
)

// Caches in several processes share invalidations through a NATS subject. (Not
// run: it needs a NATS server.)
func ExampleNew() {
	ctx := context.Background()
	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.MaxReconnects(-1))
	if err != nil {
		log.Print(err)
		return
	}
	defer nc.Close() // the bus never closes a connection it was given

	bus, err := freshnats.New(nc, freshnats.Options{Namespace: "shop"})
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

// A JetStream bus from a URL, as the CLI's --bus flag gives it: a subscriber that
// loses its connection reads on from where it was rather than flush. The bus owns
// the connection it opened. (Not run: it needs a NATS server with JetStream.)
func ExampleOpenURL() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bus, err := freshnats.OpenURL(ctx, "nats://127.0.0.1:4222?jetstream=1&namespace=shop", freshnats.Options{
		MaxAge: time.Hour, // a subscriber away for longer loses messages and flushes
	})
	if err != nil {
		log.Print(err)
		return
	}
	defer bus.Close() // closes the connection too

	hub, err := fresh.NewHub(fresh.HubOptions{Bus: bus})
	if err != nil {
		log.Print(err)
		return
	}
	defer hub.Close(context.Background())
}
