//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMultiWorkersDieWithParent kills the command while it runs and checks that
// its workers exit by themselves.
func TestMultiWorkersDieWithParent(t *testing.T) {
	url := redisURL(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "demo", "-redis", url, "-procs", "3", "-duration", "1m", "-articles", "100", "-readers", "2")
	cmd.Env = append(os.Environ(), testMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ns string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() { // up to the first progress line: the workers run
		if m := namespaceRE.FindStringSubmatch(sc.Text()); m != nil {
			ns = m[1]
		}
		if strings.Contains(sc.Text(), "reads/s") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	workers := childrenOf(t, cmd.Process.Pid)
	if len(workers) != 3 {
		t.Errorf("the command has %d child processes %v; want 3", len(workers), workers)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(orphanGrace + 10*time.Second)
	for _, pid := range workers {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still runs %v after the command was killed", pid, orphanGrace+10*time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if ns == "" {
		t.Fatal("stderr named no namespace")
	}
	c, err := redisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := deleteNamespace(context.Background(), c, ns); err != nil { // the killed command could not
		t.Error(err)
	}
}

// childrenOf returns the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok && ppid == pid {
			kids = append(kids, p)
		}
	}
	return kids
}

// procStat returns the parent and the state of process pid, from /proc.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// alive says whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}
