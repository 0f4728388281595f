// Command fresh is the command-line tool of the fresh cache library.
//
// Usage:
//
//	fresh <command> [flags]
//
// The commands are:
//
//	demo         cache SQLite reads through freshsql and check every one against the database, or (-redis, -bus) run a workload over several processes
//	demo-memory  run a workload over a simulated source in this process, checking every read for staleness
//
// Without -redis and -bus, demo creates a blog (authors, articles, comments) in a
// temporary SQLite file in WAL mode, opens it through freshsql, and runs readers
// whose queries are cached under freshsql.Cached and writers that insert and
// update rows, some in transactions, some rolled back. Every cached read is
// bracketed by two uncached reads of the same query while the writers' commits
// are counted, so that it is judged against exactly the answers the database
// gave in its lifetime; a read that matches none is stale, and the command then
// exits with status 1. It prints the hit ratio, the latency of hits, misses and
// uncached reads, the entries freshsql evicted per write next to those that
// invalidating whole tables would have, and freshsql's per-statement report.
// The file is deleted at the end unless -keep is given.
//
// With -redis URL, demo spreads the workload of demo-memory over -procs processes
// that share that Redis as their Store and Bus, and checks reads across processes
// against fresh's bound (-max-staleness). With -bus URL (sqlite:PATH, postgres://,
// nats:// or redis://) the processes share invalidations over that bus instead;
// without -redis they then share no Store, and keep the source of truth in files
// of a temporary directory, so that "fresh demo -bus sqlite:/tmp/bus.db" needs no
// server. It runs its processes as "fresh demo-worker", a hidden command that is
// not for use by hand.
//
// Run "fresh help <command>" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// A command is one subcommand of the tool.
type command struct {
	summary string
	// flags returns the command's flag set and the function that runs the command
	// once the flags are parsed, with the arguments that follow them. The function
	// returns a *usageError for a bad command line.
	flags func() (*flag.FlagSet, func(ctx context.Context, args []string, stdout, stderr io.Writer) error)
}

// commands are the subcommands by name. Adding one is adding an entry.
var commands = map[string]command{
	"demo": {
		summary: "cache SQLite reads through freshsql and check every one against the database, or (-redis, -bus) run a workload over several processes",
		flags:   demoCommand,
	},
	"demo-memory": {
		summary: "run a workload over a simulated source in this process, checking every read for staleness",
		flags:   memoryDemoCommand,
	},
}

// run runs the tool with args (without the program name): data goes to stdout,
// progress and diagnostics to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{err: errors.New("no command given"), usage: usage()}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest, stdout)
	case workerCommand: // hidden: a process of "demo -redis" or "demo -bus"
		return runWorker(ctx, rest, os.Stdin, stdout, stderr)
	}
	cmd, ok := commands[name]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown command %q", name), usage: usage()}
	}
	fs, runCmd := cmd.flags()
	fs.SetOutput(io.Discard) // errors are returned, and usage printed once, by report
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err := io.WriteString(stdout, commandUsage(name, fs))
			return err
		}
		return &usageError{err: fmt.Errorf("%s: %w", name, err), usage: commandUsage(name, fs)}
	}
	err := runCmd(ctx, fs.Args(), stdout, stderr)
	var ue *usageError
	if errors.As(err, &ue) && ue.usage == "" {
		ue.usage = commandUsage(name, fs)
	}
	return err
}

// help prints the tool's usage, or a command's with "help <command>".
func help(args []string, stdout io.Writer) error {
	text := usage()
	if len(args) > 0 {
		cmd, ok := commands[args[0]]
		if !ok {
			return &usageError{err: fmt.Errorf("help: unknown command %q", args[0]), usage: usage()}
		}
		fs, _ := cmd.flags()
		text = commandUsage(args[0], fs)
	}
	_, err := io.WriteString(stdout, text)
	return err
}

func usage() string {
	var b strings.Builder
	b.WriteString("Usage: fresh <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", name, commands[name].summary)
	}
	b.WriteString("\nRun \"fresh help <command>\" for a command's flags.\n")
	return b.String()
}

func commandUsage(name string, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: fresh %s [flags]\n\nfresh %s: %s.\n\nFlags:\n", name, name, commands[name].summary)
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	return b.String()
}

// A usageError is a mistake in the command line: it is reported with the usage
// text and exit status 2. A command returns it without the usage, which run adds.
type usageError struct {
	err   error
	usage string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// report prints err, if any, on stderr (with the usage after a usage error) and
// returns the exit status: 0, 1, or 2 for a usage error. A failure to print is
// ignored: the status still tells.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	msg, code := fmt.Sprintf("fresh: %v\n", err), 1
	var ue *usageError
	if errors.As(err, &ue) {
		msg, code = msg+"\n"+ue.usage, 2
	}
	_, _ = io.WriteString(stderr, msg)
	return code
}
