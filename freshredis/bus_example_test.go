package freshredis_test

import (
	"context"
	"log"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshredis"
	"github.com/redis/go-redis/v9"
)

// Caches in several processes share invalidations through a stream. (Not run: it
// needs a Redis server.)
func ExampleNewStreamBus() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close() // the bus never closes it

	bus, err := freshredis.NewStreamBus(client, freshredis.StreamBusOptions{Namespace: "shop"})
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

// The lowest-latency bus, which reports a loss on every reconnect. (Not run: it
// needs a Redis server.)
func ExampleNewPubSubBus() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close() // the bus never closes it

	bus, err := freshredis.NewPubSubBus(client, freshredis.PubSubBusOptions{Namespace: "shop"})
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
	defer hub.Close(context.Background())
}
