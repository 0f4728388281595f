package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// quietRedisLog is a go-redis logger that drops everything.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// redisPingTimeout bounds the check that the server answers.
const redisPingTimeout = 5 * time.Second

// redisClient returns a new client, which the caller closes, of the Redis that
// rawURL names: redis://[user:password@]host[:port][/db][?options], rediss:// for
// TLS, unix://path, a URL with addr=host:port parameters for a Redis Cluster of
// those seed nodes (as redis.ParseClusterURL reads it), or a bare host:port. It
// does not connect. Its errors never show the URL, which may hold a password.
func redisClient(rawURL string) (redis.UniversalClient, error) {
	raw := strings.TrimSpace(rawURL)
	switch {
	case raw == "":
		return nil, errors.New("empty Redis URL")
	case strings.Contains(raw, ","):
		return nil, errors.New("a list of Redis addresses; name a cluster as redis://host:port?addr=host2:port2")
	case !strings.Contains(raw, "://"):
		host, port, err := net.SplitHostPort(raw)
		if err != nil || host == "" || strings.ContainsAny(host, "@/?#") {
			return nil, errors.New("not a URL (redis://host:port/db) nor host:port")
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, errors.New("an address without a valid port")
		}
		return redis.NewClient(&redis.Options{Addr: raw}), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // a *url.Error quotes the URL
		}
		return nil, fmt.Errorf("malformed Redis URL: %w", err)
	}
	if u.Query().Has("addr") {
		o, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, redisURLError(err)
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, redisURLError(err)
	}
	return redis.NewClient(o), nil
}

// redisURLError wraps an error of go-redis's URL parsers, withholding it if it
// shows user information.
func redisURLError(err error) error {
	if strings.Contains(err.Error(), "@") {
		return errors.New("malformed Redis URL (details withheld: they would show its user information)")
	}
	return fmt.Errorf("malformed Redis URL: %w", err)
}

// redactURL returns rawURL for messages, with its password masked.
func redactURL(rawURL string) string {
	raw := strings.TrimSpace(rawURL)
	if u, err := url.Parse(raw); err == nil && strings.Contains(raw, "://") {
		return u.Redacted()
	}
	if strings.Contains(raw, "@") {
		return "(a Redis URL with user information)"
	}
	return raw
}

// pingRedis checks that client's server answers.
func pingRedis(ctx context.Context, client redis.UniversalClient, rawURL string) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis at %s: %w", redactURL(rawURL), err)
	}
	return nil
}

// deleteNamespace deletes every key that carries the hash tag {ns}: the run's
// source (redisKeys) and the freshredis Store's and Bus's keys of namespace ns. It
// returns how many it deleted. On a cluster it scans every primary; the keys all
// live in the tag's slot, so they are deleted in batches.
func deleteNamespace(ctx context.Context, client redis.UniversalClient, ns string) (int, error) {
	pattern := "*{" + ns + "}*"
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, client)
	}
	if err != nil {
		return 0, fmt.Errorf("scan the keys of namespace %s: %w", ns, err)
	}
	deleted := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		n, err := client.Unlink(ctx, batch...).Result()
		deleted += int(n)
		if err != nil {
			return deleted, fmt.Errorf("delete the keys of namespace %s: %w", ns, err)
		}
	}
	return deleted, nil
}
