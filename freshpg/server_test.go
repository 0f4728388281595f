package freshpg

// Private servers for the tests that kill or proxy theirs: a PostgreSQL made with
// initdb on a free port, and PgBouncer in front of the shared one.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDirs are where the PostgreSQL server binaries are looked for, after
// FRESH_PG_BIN.
var pgBinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin"}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// asPostgres makes cmd run as the user postgres when the tests run as root, which
// PostgreSQL and PgBouncer refuse to run as, and be killed if the test binary
// dies; it returns the owner to give the files they write.
func asPostgres(tb testing.TB, cmd *exec.Cmd) (uid, gid int) {
	tb.Helper()
	if cmd != nil {
		// A server outlives no test binary, even one that crashed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if os.Geteuid() != 0 {
		return os.Getuid(), os.Getgid()
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		skipOrFail(tb, "running as root and there is no user postgres to run the server as: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if cmd != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return uid, gid
}

// syncBuffer is a bytes.Buffer that a process's output and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// pgServer is a private PostgreSQL, killed at cleanup.
type pgServer struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// startPGServer makes a cluster with initdb and starts it. It skips the test when
// the binaries are missing (fails in CI).
func startPGServer(tb testing.TB) *pgServer {
	tb.Helper()
	dirs := pgBinDirs
	if d := os.Getenv("FRESH_PG_BIN"); d != "" {
		dirs = []string{d}
	}
	bin := ""
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			bin = d
			break
		}
	}
	if bin == "" {
		skipOrFail(tb, "no PostgreSQL server binaries (initdb) in %v; set FRESH_PG_BIN", dirs)
	}
	dir, err := os.MkdirTemp("", "freshpg-server-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	uid, gid := asPostgres(tb, nil)
	if err := os.Chown(dir, uid, gid); err != nil {
		tb.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	asPostgres(tb, initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &pgServer{tb: tb, bin: bin, dir: dir, port: freePort(tb)}
	tb.Cleanup(s.kill)
	s.start()
	return s
}

// url returns the URL of the server's database postgres.
func (s *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", s.port)
}

// start starts the server (again) and waits until it accepts connections. After a
// crash, the server refuses to start while a process of the old one is still
// attached to its shared memory: start retries until it is gone.
func (s *pgServer) start() {
	s.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port),
			"-k", s.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50",
			"-c", "shared_buffers=16MB", "-c", "log_min_messages=fatal")
		asPostgres(s.tb, cmd)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			s.tb.Fatalf("starting postgres: %v", err)
		}
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		s.mu.Lock()
		s.cmd, s.out, s.done = cmd, out, done
		s.mu.Unlock()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn, err := pgx.Connect(ctx, s.url())
			if err == nil {
				_ = conn.Close(ctx)
				cancel()
				return
			}
			cancel()
			exited := false
			select {
			case <-done:
				exited = true
			default:
			}
			if time.Now().After(deadline) {
				s.tb.Fatalf("postgres on port %d does not answer: %v\n%s", s.port, err, out.String())
			}
			if exited {
				break // start it again: the old one's processes may have been in the way
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill kills the postmaster and every process it started with SIGKILL, as a crash
// of the machine's server would, and waits until the postmaster has exited. It does
// nothing when the server is not running.
func (s *pgServer) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	children := childPIDs(cmd.Process.Pid)
	_ = cmd.Process.Kill()
	for _, pid := range children {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-done
}

// childPIDs returns the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so start after ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, child)
		}
	}
	return pids
}

// pgBouncer is a PgBouncer in front of the shared server, killed at cleanup.
type pgBouncer struct {
	port int
	out  *syncBuffer
}

// startPgBouncer starts PgBouncer with the given pool_mode in front of the shared
// server. It skips the test when pgbouncer is not installed, and fails it in CI,
// where scripts/services.sh installs it.
func startPgBouncer(tb testing.TB, poolMode string) *pgBouncer {
	tb.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		skipOrFail(tb, "pgbouncer is not installed (apt-get install pgbouncer): %v", err)
	}
	testPool(tb) // skips or fails when the shared server is missing
	u, err := url.Parse(testURL())
	if err != nil {
		tb.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	userName := u.User.Username()
	dir, err := os.MkdirTemp("", "freshpg-pgbouncer-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	b := &pgBouncer{port: freePort(tb), out: &syncBuffer{}}
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s user=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = %s
default_pool_size = 10
`, db, host, port, db, userName, b.port, poolMode)
	path := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		tb.Fatal(err)
	}
	uid, gid := asPostgres(tb, nil)
	if err := os.Chown(dir, uid, gid); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	asPostgres(tb, cmd)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting pgbouncer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(b.port))
		if err == nil {
			c.Close()
			return b
		}
		select {
		case <-done:
			tb.Fatalf("pgbouncer exited at start:\n%s", b.out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgbouncer does not listen: %v\n%s", err, b.out.String())
		}
	}
}

// url returns the URL of the shared database through the proxy. Statements are
// not prepared by name, which a transaction pooler cannot keep either.
func (b *pgBouncer) url() string {
	u, _ := url.Parse(testURL())
	u.Host = "127.0.0.1:" + strconv.Itoa(b.port)
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return u.String()
}
