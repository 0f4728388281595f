package redis

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// EnvChild is the environment variable that makes a process a child of Run: its
// value is the child's configuration, as JSON.
const EnvChild = "FRESHBENCH_REDIS_CHILD"

// IsChild reports whether this process was started by Run as a peer or a stampede
// process.
func IsChild() bool { return os.Getenv(EnvChild) != "" }

// Roles of the children.
const (
	rolePeer     = "peer"     // holds values in L1 and reports when it refuses one (fan-out)
	roleStampede = "stampede" // misses one key with many goroutines at a given time
)

// childConfig is what a child is told, in EnvChild.
type childConfig struct {
	Role       string        `json:"role"`
	Name       string        `json:"name"` // for errors: "peer1", "stampede3", ...
	URL        string        `json:"url"`
	Run        string        `json:"run"` // the run's unique part of every key
	Namespace  string        `json:"namespace"`
	Bus        string        `json:"bus"`        // "stream" or "pubsub"
	Goroutines int           `json:"goroutines"` // stampede: callers per round
	Load       time.Duration `json:"load"`       // stampede: the loader's duration
	Deadline   int64         `json:"deadline"`   // unix ns: the child exits by then whatever happens
}

// A command goes from the parent to a child, one JSON line on its stdin.
type command struct {
	Op      string `json:"op"` // "arm", "stampede"; the child exits when stdin closes
	Round   int    `json:"round"`
	Subject string `json:"subject,omitempty"` // stampede: "fresh" or "go-redis/cache"
	At      int64  `json:"at,omitempty"`      // stampede: unix ns of the start
}

// A childMsg goes from a child to the parent, one JSON line on its stdout.
type childMsg struct {
	Op    string  `json:"op"` // "ready", "armed", "refused", "raw", "stampede", "error"
	Round int     `json:"round"`
	At    int64   `json:"at,omitempty"` // refused, raw: unix ns (CLOCK_REALTIME) of the first miss seen, of the receipt
	By    string  `json:"by,omitempty"` // refused: "delivery", "loss" or "poll"
	Lat   []int64 `json:"lat,omitempty"`
	Errs  int     `json:"errs,omitempty"`
	Err   string  `json:"err,omitempty"`
}

// Kind and Failure make a childMsg a childproc.Message.
func (m childMsg) Kind() string { return m.Op }

func (m childMsg) Failure() error {
	if m.Op == "error" {
		return errors.New(m.Err)
	}
	return nil
}

// A proc is a running child, seen from the parent.
type proc = childproc.Proc[childMsg]

// errTimeout is what recv returns when no wanted message came in time.
var errTimeout = childproc.ErrTimeout

// startProcs starts one child per configuration and waits until each is ready.
func startProcs(ctx context.Context, cfgs []childConfig) ([]*proc, error) {
	specs := make([]childproc.Spec, len(cfgs))
	for i, c := range cfgs {
		specs[i] = childproc.Spec{Name: c.Name, Config: c}
	}
	return childproc.Start(ctx, EnvChild, specs, func(m childMsg) bool { return m.Op == "ready" })
}

// stopProcs ends the children (see childproc.Stop).
func stopProcs(ps []*proc) { childproc.Stop(ps) }
