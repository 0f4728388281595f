package freshredis

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeTestCluster is a private Redis Cluster of three masters without replicas, on
// free loopback ports, stopped at cleanup.
type storeTestCluster struct {
	nodes []*storeTestServer
}

// Addrs returns the addresses of the cluster's nodes.
func (c *storeTestCluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Client returns a new cluster client, closed at cleanup.
func (c *storeTestCluster) Client(tb testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
		tb.Fatalf("cluster client: %v", err)
	}
	return cc
}

// storeTestStartCluster starts three redis-server processes in cluster mode, joins
// them with redis-cli --cluster create, and waits until every node reports
// cluster_state:ok. It skips the test (fails in CI) when redis-server or redis-cli
// is not installed.
func storeTestStartCluster(tb testing.TB) *storeTestCluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		storeTestSkip(tb, "redis-cli is not installed: %v", err)
	}
	bin := storeTestRedisServer(tb)
	c := &storeTestCluster{}
	for range 3 {
		s := &storeTestServer{tb: tb, bin: bin, port: storeTestFreePort(tb, true), dir: tb.TempDir()}
		s.args = []string{
			"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
			"--cluster-enabled", "yes", "--cluster-config-file", s.dir + "/nodes-" + strconv.Itoa(s.port) + ".conf",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
		}
		tb.Cleanup(s.Kill)
		s.Start()
		c.nodes = append(c.nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, n := range c.nodes {
		client := redis.NewClient(&redis.Options{Addr: n.Addr()})
		storeTestWait(tb, 30*time.Second, "cluster_state:ok on "+n.Addr(), func() bool {
			info, err := client.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		client.Close()
	}
	return c
}
