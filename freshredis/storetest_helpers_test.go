package freshredis

// Helpers of the Store's tests: the shared server at FRESH_REDIS_URL, a unique
// namespace per test, and private redis-server processes for the tests that
// restart or reconfigure a server.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const storeTestDefaultURL = "redis://127.0.0.1:6379/0"

// storeTestCI reports whether the tests run in CI, where a skip is a failure.
func storeTestCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// storeTestSkip skips the test, or fails it in CI.
func storeTestSkip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if storeTestCI() {
		tb.Fatalf("CI is set, so this cannot be skipped: "+format, args...)
	}
	tb.Skipf(format, args...)
}

// storeTestURL returns FRESH_REDIS_URL, or the default.
func storeTestURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return storeTestDefaultURL
}

// storeTestClient returns a client of the server at FRESH_REDIS_URL (default
// redis://127.0.0.1:6379/0), closed at cleanup. It skips the test when the server
// is unreachable (fails in CI).
func storeTestClient(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	u := storeTestURL()
	c, err := clientFromURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		storeTestSkip(tb, "Redis at %s (set %s) is unreachable: %v", redactURL(u), EnvURL, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// redactURL hides a password in u for a message.
func redactURL(u string) string {
	if i := strings.LastIndex(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "xxxxx" + u[i:]
		}
	}
	return u
}

// storeTestNamespace returns a namespace of its own for the test: its name, made
// safe, and random hex.
func storeTestNamespace(tb testing.TB) string {
	name := []byte(tb.Name())
	for i, c := range name {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			name[i] = '_'
		}
	}
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t-" + string(name) + "-" + hex.EncodeToString(b[:])
}

// storeTestNew returns a Store on client with options o, in a namespace of its own
// unless o names one. At cleanup the Store is closed and every key of its
// namespace deleted.
func storeTestNew(tb testing.TB, client redis.UniversalClient, o StoreOptions) *Store {
	tb.Helper()
	if o.Namespace == "" {
		o.Namespace = storeTestNamespace(tb)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(storeTestLogWriter{tb}, nil))
	}
	s, err := NewStore(client, o)
	if err != nil {
		tb.Fatalf("NewStore: %v", err)
	}
	tb.Cleanup(func() {
		s.Close()
		storeTestDeleteNamespace(tb, client, o.Namespace)
	})
	return s
}

// storeTestKeys returns the keys of namespace ns.
func storeTestKeys(tb testing.TB, client redis.UniversalClient, ns string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pattern := newStoreKeys(ns).prefix + "*" // test namespaces hold no glob characters
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
		tb.Errorf("scanning the keys of namespace %q: %v", ns, err)
	}
	return keys
}

// storeTestDeleteNamespace deletes every key of namespace ns.
func storeTestDeleteNamespace(tb testing.TB, client redis.UniversalClient, ns string) {
	tb.Helper()
	keys := storeTestKeys(tb, client, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(keys) > 0 { // all in one slot, so one UNLINK per batch works on a cluster too
		n := min(len(keys), 1000)
		if err := client.Unlink(ctx, keys[:n]...).Err(); err != nil {
			tb.Errorf("deleting the keys of namespace %q: %v", ns, err)
			return
		}
		keys = keys[n:]
	}
}

// storeTestLogWriter writes to the test's log, so that a Store's log lines show
// with the test's output (with -v, or when it fails).
type storeTestLogWriter struct{ tb testing.TB }

func (w storeTestLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// storeTestLogger returns a logger writing text to a buffer, and the buffer.
func storeTestLogger() (*slog.Logger, *storeTestBuffer) {
	b := &storeTestBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// storeTestBuffer is a bytes.Buffer safe for concurrent use.
type storeTestBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *storeTestBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *storeTestBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// storeTestWait polls cond every 20ms until it holds, failing the test after d.
func storeTestWait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storeTestServer is a private redis-server process, killed at cleanup.
type storeTestServer struct {
	tb   testing.TB
	bin  string
	port int
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *storeTestBuffer
	done chan struct{} // closed when cmd has exited
}

// storeTestRedisServer returns the path of redis-server, skipping the test (failing
// in CI) when it is not installed.
func storeTestRedisServer(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		storeTestSkip(tb, "redis-server is not installed: %v", err)
	}
	return bin
}

// storeTestFreePort returns a loopback port nothing listens on; with bus, port+10000
// (a cluster node's bus port) is free too.
func storeTestFreePort(tb testing.TB, bus bool) int {
	tb.Helper()
	free := func(p int) bool {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	for range 200 {
		p := 20000 + mathrand.IntN(25000)
		if free(p) && (!bus || free(p+10000)) {
			return p
		}
	}
	tb.Fatal("no free loopback port found")
	return 0
}

// storeTestStartServer starts redis-server on a free loopback port, without
// persistence unless args say otherwise (later arguments override earlier ones),
// and waits until it answers.
func storeTestStartServer(tb testing.TB, args ...string) *storeTestServer {
	tb.Helper()
	s := &storeTestServer{tb: tb, bin: storeTestRedisServer(tb), port: storeTestFreePort(tb, false), dir: tb.TempDir()}
	s.args = append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
	}, args...)
	tb.Cleanup(s.Kill)
	s.Start()
	return s
}

// Addr returns the server's address.
func (s *storeTestServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Client returns a new client of the server, closed at cleanup.
func (s *storeTestServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// Start starts the server (again) and waits until it answers PING.
func (s *storeTestServer) Start() {
	s.tb.Helper()
	s.mu.Lock()
	cmd := exec.Command(s.bin, s.args...)
	out := &storeTestBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.tb.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.out, s.done = cmd, out, done
	s.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			s.tb.Fatalf("redis-server %v exited at start:\n%s", s.args, out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on port %d does not answer: %v\n%s", s.port, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server (SIGKILL: no shutdown save) and waits until it has exited.
// It is a no-op when the server is not running.
func (s *storeTestServer) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart kills the server and starts it again on the same port with the same
// arguments.
func (s *storeTestServer) Restart() {
	s.tb.Helper()
	s.Kill()
	s.Start()
}

// Output returns what the running server has printed.
func (s *storeTestServer) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// storeTestCountingHook counts the commands a client sends (a pipeline counts as
// one round trip).
type storeTestCountingHook struct {
	mu         sync.Mutex
	roundTrips int
	names      []string
}

func (h *storeTestCountingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *storeTestCountingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.roundTrips++
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *storeTestCountingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.roundTrips++
		h.names = append(h.names, fmt.Sprintf("pipeline(%d)", len(cmds)))
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the counts since the last take, and resets them.
func (h *storeTestCountingHook) take() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, names := h.roundTrips, h.names
	h.roundTrips, h.names = 0, nil
	return n, names
}

var _ io.Writer = (*storeTestBuffer)(nil)
