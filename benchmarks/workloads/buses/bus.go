package buses

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"

	"github.com/freshcache/fresh"
	"github.com/freshcache/fresh/freshnats"
	"github.com/freshcache/fresh/freshpg"
	"github.com/freshcache/fresh/freshredis"
	"github.com/freshcache/fresh/freshsqlite"
)

// The buses, for Options.Buses.
const (
	BusRedisStream = "redis-stream"
	BusRedisPubSub = "redis-pubsub"
	BusSQLite      = "sqlite"
	BusPostgres    = "postgres"
	BusNATS        = "nats"
	BusJetStream   = "nats-jetstream"
)

// A busKind is one bus under test, in the order of the report.
type busKind struct {
	id     string
	name   string        // in the table
	short  string        // in the chart's legend
	target time.Duration // the fan-out p99 it should stay under on loopback; 0 for none
}

var allBuses = []busKind{
	{BusRedisStream, "Redis Streams (freshredis StreamBus)", "Redis Streams", 300 * time.Microsecond},
	{BusRedisPubSub, "Redis Pub/Sub (freshredis PubSubBus)", "Redis Pub/Sub", 300 * time.Microsecond},
	{BusSQLite, "SQLite file (freshsqlite)", "SQLite", 2 * time.Millisecond},
	{BusPostgres, "PostgreSQL (freshpg)", "PostgreSQL", 0},
	{BusNATS, "NATS core (freshnats)", "NATS core", 0},
	{BusJetStream, "NATS JetStream (freshnats, file storage)", "NATS JetStream", 0},
}

func findBus(id string) (busKind, bool) {
	for _, b := range allBuses {
		if b.id == id {
			return b, true
		}
	}
	return busKind{}, false
}

// A busConfig says how to open one bus of this run, in the parent and in the
// children alike; it travels to the children as JSON.
type busConfig struct {
	Kind      string `json:"kind"`                // a Bus* constant; "" for no bus
	URL       string `json:"url"`                 // the server's URL, or sqlite:PATH
	Namespace string `json:"namespace,omitempty"` // Redis and NATS
	Table     string `json:"table,omitempty"`     // PostgreSQL
}

// busLog is the buses' logger: warnings and errors on stderr, with the progress of
// the run; their Info lines (a stream created, a reconnection) are left out.
var busLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// open opens a bus of its own (its own connections) and returns it with the
// function that closes it and what it owns.
func (c busConfig) open(ctx context.Context) (fresh.Bus, func() error, error) {
	switch c.Kind {
	case BusRedisStream, BusRedisPubSub:
		opts, err := goredis.ParseURL(c.URL)
		if err != nil {
			return nil, nil, err
		}
		client := goredis.NewClient(opts)
		if err := client.Ping(ctx).Err(); err != nil {
			return nil, nil, errors.Join(err, client.Close())
		}
		if c.Kind == BusRedisStream {
			b, err := freshredis.NewStreamBus(client, freshredis.StreamBusOptions{Namespace: c.Namespace, Logger: busLog})
			if err != nil {
				return nil, nil, errors.Join(err, client.Close())
			}
			return b, func() error { return errors.Join(b.Close(), client.Close()) }, nil
		}
		b, err := freshredis.NewPubSubBus(client, freshredis.PubSubBusOptions{Namespace: c.Namespace, Logger: busLog})
		if err != nil {
			return nil, nil, errors.Join(err, client.Close())
		}
		return b, func() error { return errors.Join(b.Close(), client.Close()) }, nil
	case BusSQLite:
		b, err := freshsqlite.OpenURL(ctx, c.URL, freshsqlite.Options{Logger: busLog})
		if err != nil {
			return nil, nil, err
		}
		return b, b.Close, nil
	case BusPostgres:
		b, err := freshpg.OpenURL(ctx, c.URL, freshpg.Options{Table: c.Table, Logger: busLog})
		if err != nil {
			return nil, nil, err
		}
		return b, b.Close, nil
	case BusNATS, BusJetStream:
		b, err := freshnats.OpenURL(ctx, c.URL, freshnats.Options{Namespace: c.Namespace, JetStream: c.Kind == BusJetStream, Logger: busLog})
		if err != nil {
			return nil, nil, err
		}
		return b, b.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown bus %q", c.Kind)
}

// newBusConfig returns the configuration of bus id in run, with the names (Redis
// and NATS namespace, PostgreSQL table, SQLite file in dir) unique to the run.
func newBusConfig(id string, o Options, run, dir string) busConfig {
	c := busConfig{Kind: id}
	switch id {
	case BusRedisStream, BusRedisPubSub:
		c.URL, c.Namespace = o.RedisURL, "busbench-"+run+"-"+id
	case BusSQLite:
		c.URL = "sqlite:" + filepath.Join(dir, "bus.db")
	case BusPostgres:
		c.URL, c.Table = o.PostgresURL, "fresh_busbench_"+run
	case BusNATS, BusJetStream:
		c.URL, c.Namespace = o.NATSURL, "busbench_"+run+"_"+strings.ReplaceAll(id, "-", "_")
	}
	return c
}

// errUnreachable marks a bus whose server did not answer: its row says so and the
// run goes on.
var errUnreachable = errors.New("unreachable")

// probe checks that the bus can be opened: a plain TCP dial to its server first
// (clients retry a refused connection and log each try), then an open and a close,
// which also creates what the bus keeps on the server (table, stream).
func (c busConfig) probe(ctx context.Context) error {
	if addr, ok := serverAddr(c.URL); ok {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: %s", errUnreachable, firstLine(err.Error()))
		}
		_ = conn.Close() // only the dial mattered
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, closeBus, err := c.open(octx)
	if err != nil {
		return err
	}
	return closeBus()
}

// serverAddr returns host:port of a server URL, with the scheme's default port.
func serverAddr(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || strings.Contains(u.Host, ",") {
		return "", false
	}
	port := map[string]string{"redis": "6379", "rediss": "6379", "postgres": "5432", "postgresql": "5432", "nats": "4222", "tls": "4222"}[u.Scheme]
	if port == "" {
		return "", false
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port), true
}

// cleanup removes what the bus left on its server: the Redis stream, the
// PostgreSQL table, the JetStream stream. The SQLite file goes with the run's
// directory.
func (c busConfig) cleanup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch c.Kind {
	case BusRedisStream, BusRedisPubSub:
		opts, err := goredis.ParseURL(c.URL)
		if err != nil {
			return err
		}
		client := goredis.NewClient(opts)
		var keys []string
		iter := client.Scan(ctx, 0, "fresh:v1:{"+c.Namespace+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err = iter.Err()
		if len(keys) > 0 {
			err = errors.Join(err, client.Unlink(ctx, keys...).Err())
		}
		return errors.Join(err, client.Close())
	case BusPostgres:
		conn, err := pgx.Connect(ctx, c.URL)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{c.Table}.Sanitize())
		return errors.Join(err, conn.Close(ctx))
	case BusJetStream:
		nc, err := nats.Connect(c.URL, nats.Timeout(5*time.Second))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		err = js.DeleteStream(ctx, "fresh_v1_"+c.Namespace)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			err = nil
		}
		return err
	}
	return nil
}

// newRunDir makes the directory of the run's SQLite file.
func newRunDir(run string) (string, error) {
	return os.MkdirTemp("", "freshbench-buses-"+run+"-")
}
