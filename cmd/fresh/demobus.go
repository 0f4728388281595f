package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshnats"
	"github.com/freshcache/fresh/freshpg"
	"github.com/freshcache/fresh/freshredis"
	"github.com/freshcache/fresh/freshsqlite"
	"github.com/redis/go-redis/v9"
)

// The kinds of bus that demo -bus opens, by the scheme of its URL.
const (
	busSQLite   = "sqlite"   // sqlite:PATH: freshsqlite, a log in a SQLite file
	busPostgres = "postgres" // postgres:// or postgresql://: freshpg
	busNATS     = "nats"     // nats://: freshnats, core NATS
	busRedis    = "redis"    // redis:// or rediss://: freshredis.StreamBus
)

// busOpenTimeout bounds the opening of a bus: its connection, and its setup.
const busOpenTimeout = 15 * time.Second

// busKind returns the kind of bus rawURL names, by its scheme.
func busKind(rawURL string) (string, error) {
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		return "", errors.New("-bus: empty URL")
	}
	scheme, _, ok := strings.Cut(raw, ":")
	switch s := strings.ToLower(scheme); {
	case !ok:
		return "", fmt.Errorf("-bus %s: no scheme; want sqlite:PATH, postgres://..., nats://host:port or redis://host:port", redactURL(raw))
	case s == "sqlite":
		return busSQLite, nil
	case s == "postgres" || s == "postgresql":
		return busPostgres, nil
	case s == "nats":
		return busNATS, nil
	case s == "redis" || s == "rediss":
		return busRedis, nil
	}
	return "", fmt.Errorf("-bus %s: unknown scheme %q; want sqlite:PATH, postgres://..., nats://host:port or redis://host:port", redactURL(raw), scheme)
}

// A demoBus is a bus that demo -bus opened, which it closes.
type demoBus interface {
	fresh.Bus
	Close() error
}

// openDemoBus opens the bus that rawURL names, for the processes of the run of
// namespace ns: a NATS bus and a Redis one take the namespace; a SQLite and a
// PostgreSQL bus are the log that the URL names (its default table, for
// PostgreSQL), which other runs may share: their messages only invalidate more.
func openDemoBus(ctx context.Context, rawURL, ns string, log *slog.Logger) (demoBus, error) {
	kind, err := busKind(rawURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, busOpenTimeout)
	defer cancel()
	switch kind {
	case busSQLite:
		b, err := freshsqlite.OpenURL(ctx, rawURL, freshsqlite.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return b, nil
	case busPostgres:
		b, err := freshpg.OpenURL(ctx, rawURL, freshpg.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return b, nil
	case busNATS:
		b, err := freshnats.OpenURL(ctx, rawURL, freshnats.Options{Namespace: ns, Logger: log})
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	client, err := redisClient(rawURL)
	if err != nil {
		return nil, fmt.Errorf("-bus: %w", err)
	}
	if err := pingRedis(ctx, client, rawURL); err != nil {
		return nil, errors.Join(err, client.Close())
	}
	b, err := freshredis.NewStreamBus(client, freshredis.StreamBusOptions{Namespace: ns, Logger: log})
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	return &redisDemoBus{StreamBus: b, client: client}, nil
}

// A redisDemoBus is a StreamBus with its own client, which Close closes too.
type redisDemoBus struct {
	*freshredis.StreamBus
	client redis.UniversalClient
}

func (b *redisDemoBus) Close() error {
	return errors.Join(b.StreamBus.Close(), b.client.Close())
}
