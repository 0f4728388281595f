package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// machine describes where the benchmarks ran.
type machine struct {
	CPU       string // model name, "unknown" when it cannot be read
	Cores     int    // runtime.NumCPU
	MaxProcs  int    // runtime.GOMAXPROCS
	GoVersion string
	OS, Arch  string
	MemTotal  uint64 // bytes; 0 when unknown
}

// readMachine describes this machine, from the runtime and, on Linux, /proc.
func readMachine() machine {
	m := machine{
		CPU:       "unknown",
		Cores:     runtime.NumCPU(),
		MaxProcs:  runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if cpu := parseCPUModel(bytes.NewReader(b)); cpu != "" {
			m.CPU = cpu
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = parseMemTotal(bytes.NewReader(b))
	}
	return m
}

// parseCPUModel returns the first processor's model from /proc/cpuinfo. x86
// names it "model name"; some arm64 kernels only give "Hardware" or "Model".
func parseCPUModel(r io.Reader) string {
	found := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.Join(strings.Fields(val), " ")
		if _, seen := found[key]; !seen && val != "" {
			found[key] = val
		}
	}
	for _, key := range []string{"model name", "Hardware", "Model", "cpu model", "cpu"} {
		if v := found[key]; v != "" {
			return v
		}
	}
	return ""
}

// parseMemTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func parseMemTotal(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0
			}
			if len(f) >= 3 && strings.EqualFold(f[2], "kB") {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

// A competitor is a cache the benchmarks compare fresh with, found in the build
// information by module path prefix.
type competitor struct {
	Name   string
	Prefix string // module path, without the major version suffix
}

var competitors = []competitor{
	{"otter", "github.com/maypok86/otter"},
	{"theine", "github.com/Yiling-J/theine-go"},
	{"ristretto", "github.com/dgraph-io/ristretto"},
	{"sturdyc", "github.com/viccon/sturdyc"},
	{"ttlcache", "github.com/jellydator/ttlcache"},
	{"gocache", "github.com/eko/gocache"},
	{"xsync", "github.com/puzpuzpuz/xsync"},
	// The Redis workload's competitors.
	{"go-redis", "github.com/redis/go-redis"},
	{"rueidis", "github.com/redis/rueidis"},
	{"go-redis/cache", "github.com/go-redis/cache"},
}

// A version is one competitor module linked into this binary.
type version struct {
	Name    string // competitor name
	Module  string // path@version, or "not linked into this binary"
	Missing bool
}

// competitorVersions reads the competitors' module versions from this
// binary's build information, which go.mod pins.
func competitorVersions() []version {
	var deps []*debug.Module
	if bi, ok := debug.ReadBuildInfo(); ok {
		deps = bi.Deps
	}
	return matchVersions(deps)
}

func matchVersions(deps []*debug.Module) []version {
	var vs []version
	for _, c := range competitors {
		n := len(vs)
		for _, d := range deps {
			if d.Path != c.Prefix && !strings.HasPrefix(d.Path, c.Prefix+"/") {
				continue
			}
			mod := d.Path + "@" + d.Version
			if d.Replace != nil {
				mod += " => " + d.Replace.Path
				if d.Replace.Version != "" {
					mod += "@" + d.Replace.Version
				}
			}
			vs = append(vs, version{Name: c.Name, Module: mod})
		}
		if len(vs) == n {
			vs = append(vs, version{Name: c.Name, Module: c.Prefix + " (not linked into this binary)", Missing: true})
		}
	}
	return vs
}

// freshVersion describes the fresh checkout the benchmarks were built from:
// the benchmarks module replaces fresh with the parent directory, so its Git
// commit is the version. It returns "" when Git cannot tell.
func freshVersion(ctx context.Context, moduleDir string) string {
	if moduleDir == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	root := filepath.Dir(moduleDir)
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := "commit " + strings.TrimSpace(string(out))
	// Tracked files only: the benchmarks directory itself may be new.
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && strings.TrimSpace(string(status)) != "" {
		v += " with uncommitted changes"
	}
	return v
}
