package buses

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/freshcache/fresh/benchmarks/internal/childproc"
)

// EnvChild is the environment variable that makes a process a child of Run: its
// value is the child's configuration, as JSON.
const EnvChild = "FRESHBENCH_BUSES_CHILD"

// IsChild reports whether this process was started by Run as a peer or an idle
// follower.
func IsChild() bool { return os.Getenv(EnvChild) != "" }

// Roles of the children.
const (
	rolePeer = "peer" // holds values in L1 and reports when it refuses one (fan-out)
	roleIdle = "idle" // subscribes and reports the CPU it uses while nothing happens
)

// childConfig is what a child is told, in EnvChild.
type childConfig struct {
	Role string    `json:"role"`
	Name string    `json:"name"` // for errors: "sqlite/peer1", ...
	Bus  busConfig `json:"bus"`
	// Hub, for an idle follower: a fresh hub with a cache follows the bus, as an
	// application would; otherwise the bus alone, with a handler that does nothing.
	Hub      bool  `json:"hub,omitempty"`
	Deadline int64 `json:"deadline"` // unix ns: the child exits by then whatever happens
}

// A command goes from the parent to a child, one JSON line on its stdin; the child
// exits when its stdin closes.
type command struct {
	Op    string        `json:"op"` // "arm" (peer), "idle" (idle follower)
	Round int           `json:"round,omitempty"`
	For   time.Duration `json:"for,omitempty"` // idle: how long to measure
}

// A childMsg goes from a child to the parent, one JSON line on its stdout.
type childMsg struct {
	Op    string `json:"op"` // "ready", "armed", "refused", "idle", "error"
	Round int    `json:"round,omitempty"`
	At    int64  `json:"at,omitempty"`  // refused: unix ns (CLOCK_REALTIME) of the first miss seen
	By    string `json:"by,omitempty"`  // refused: "delivery", "loss" or "poll"
	CPU   int64  `json:"cpu,omitempty"` // idle: CPU time (user + system), ns
	Wall  int64  `json:"wall,omitempty"`
	Err   string `json:"err,omitempty"`
}

// Kind and Failure make a childMsg a childproc.Message.
func (m childMsg) Kind() string { return m.Op }

func (m childMsg) Failure() error {
	if m.Op == "error" {
		return errors.New(m.Err)
	}
	return nil
}

type proc = childproc.Proc[childMsg]

func startProcs(ctx context.Context, cfgs []childConfig) ([]*proc, error) {
	specs := make([]childproc.Spec, len(cfgs))
	for i, c := range cfgs {
		specs[i] = childproc.Spec{Name: c.Name, Config: c}
	}
	return childproc.Start(ctx, EnvChild, specs, func(m childMsg) bool { return m.Op == "ready" })
}
