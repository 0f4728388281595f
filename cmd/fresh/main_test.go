package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Usage: fresh <command>"},
		{[]string{"-h"}, "Usage: fresh <command>"},
		{[]string{"--help"}, "Usage: fresh <command>"},
		{[]string{"help", "demo"}, "Usage: fresh demo [flags]"},
		{[]string{"demo", "-h"}, "-write-every"},
		{[]string{"demo", "-h"}, "-redis URL"},
		{[]string{"help", "demo"}, "with -redis or -bus: number of processes"},
		{[]string{"demo", "-h"}, "-bus URL"},
		{[]string{"demo", "-h"}, "-rate"},
		{[]string{"help"}, "demo-memory"},
		{[]string{"help", "demo-memory"}, "Usage: fresh demo-memory [flags]"},
		{[]string{"demo-memory", "-h"}, "-latency"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, &stdout, &stderr)
		if err != nil {
			t.Errorf("run(%q) = %v; want nil", tt.args, err)
		}
		if !strings.Contains(stdout.String(), tt.want) {
			t.Errorf("run(%q) stdout = %q; want it to contain %q", tt.args, stdout.String(), tt.want)
		}
		if stderr.Len() != 0 {
			t.Errorf("run(%q) stderr = %q; want nothing", tt.args, stderr.String())
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		usage   string // what the usage printed with the error begins with
	}{
		{"no command", nil, "no command given", "Usage: fresh <command>"},
		{"unknown command", []string{"frob"}, `unknown command "frob"`, "Usage: fresh <command>"},
		{"help for unknown command", []string{"help", "frob"}, `unknown command "frob"`, "Usage: fresh <command>"},
		{"unknown flag", []string{"demo", "-bogus"}, "flag provided but not defined: -bogus", "Usage: fresh demo"},
		{"malformed duration", []string{"demo", "-duration", "soon"}, `invalid value "soon"`, "Usage: fresh demo"},
		{"negative duration", []string{"demo", "-duration", "-1s"}, "-duration -1s must be positive", "Usage: fresh demo"},
		{"zero duration", []string{"demo", "-duration", "0"}, "-duration 0s must be positive", "Usage: fresh demo"},
		{"no readers", []string{"demo", "-readers", "0"}, "-readers 0 must be between", "Usage: fresh demo"},
		{"negative writers", []string{"demo", "-writers", "-1"}, "-writers -1 must be between", "Usage: fresh demo"},
		{"no articles", []string{"demo", "-articles", "0"}, "-articles 0 must be between", "Usage: fresh demo"},
		{"too many articles", []string{"demo", "-articles", "1000000000"}, "-articles 1000000000 must be between", "Usage: fresh demo"},
		{"negative latency", []string{"demo", "-latency", "-3ms"}, "-latency -3ms must be between", "Usage: fresh demo"},
		{"zero write interval", []string{"demo", "-write-every", "0s"}, "-write-every 0s must be positive", "Usage: fresh demo"},
		{"negative seed", []string{"demo", "-seed", "-1"}, `invalid value "-1"`, "Usage: fresh demo"},
		{"several bad flags", []string{"demo", "-readers", "0", "-articles", "0"}, "-readers 0 must be between 1 and 10000; -articles 0", "Usage: fresh demo"},
		{"extra argument", []string{"demo", "now"}, `unexpected argument "now"`, "Usage: fresh demo"},
		{"procs without redis", []string{"demo", "-procs", "3"}, "demo: -procs needs -redis", "Usage: fresh demo"},
		{"max staleness without redis", []string{"demo", "-max-staleness", "2s"}, "demo: -max-staleness needs -redis", "Usage: fresh demo"},
		{"both without redis", []string{"demo", "-procs", "3", "-max-staleness", "2s"}, "demo: -max-staleness and -procs need -redis", "Usage: fresh demo"},
		{"one process", []string{"demo", "-redis", "redis://127.0.0.1:1/0", "-procs", "1"}, "-procs 1 must be between 2 and 64", "Usage: fresh demo"},
		{"too many processes", []string{"demo", "-redis", "redis://127.0.0.1:1/0", "-procs", "65"}, "-procs 65 must be between 2 and 64", "Usage: fresh demo"},
		{"tiny max staleness", []string{"demo", "-redis", "redis://127.0.0.1:1/0", "-max-staleness", "1ms"}, "-max-staleness 1ms must be between 10ms and 1m0s", "Usage: fresh demo"},
		{"bus of another scheme", []string{"demo", "-bus", "http://u:hunter2@127.0.0.1:4222"}, `-bus http://u:xxxxx@127.0.0.1:4222: unknown scheme "http"; want sqlite:PATH, postgres://..., nats://host:port or redis://host:port`, "Usage: fresh demo"},
		{"bus without a scheme", []string{"demo", "-bus", "/tmp/bus.db"}, "-bus /tmp/bus.db: no scheme; want sqlite:PATH", "Usage: fresh demo"},
		{"empty bus URL", []string{"demo", "-bus", " "}, "-bus: empty URL", "Usage: fresh demo"},
		{"bus with one process", []string{"demo", "-bus", "sqlite:/tmp/bus.db", "-procs", "1"}, "-procs 1 must be between 2 and 64", "Usage: fresh demo"},
		{"procs without redis or bus", []string{"demo", "-procs", "3"}, "demo: -procs needs -redis or -bus", "Usage: fresh demo"},
		{"empty redis URL", []string{"demo", "-redis", " "}, "-redis: empty Redis URL", "Usage: fresh demo"},
		{"redis URL of another scheme", []string{"demo", "-redis", "http://127.0.0.1:6379"}, "-redis: malformed Redis URL: redis: invalid URL scheme: http", "Usage: fresh demo"},
		{"malformed redis URL", []string{"demo", "-redis", "redis://[::1"}, "-redis: malformed Redis URL: missing ']' in host", "Usage: fresh demo"},
		{"redis URL with a bad database", []string{"demo", "-redis", "redis://127.0.0.1:6379/x"}, `invalid database number: "x"`, "Usage: fresh demo"},
		{"redis address without a port", []string{"demo", "-redis", "localhost"}, "-redis: not a URL (redis://host:port/db) nor host:port", "Usage: fresh demo"},
		{"redis address list", []string{"demo", "-redis", "a:1,b:2"}, "-redis: a list of Redis addresses", "Usage: fresh demo"},
		{"worker by hand", []string{"demo-worker"}, `demo-worker is run by "fresh demo -redis" or "-bus", not by hand`, "Usage: fresh <command>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("run(%q) = %v; want a *usageError", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %q; want it to contain %q", tt.args, err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("run(%q) stdout = %q; want nothing", tt.args, stdout.String())
			}
			var diag bytes.Buffer
			if code := report(err, &diag); code != 2 {
				t.Errorf("report(%v) = %d; want 2", err, code)
			}
			want := "fresh: " + err.Error() + "\n\n" + tt.usage
			if !strings.HasPrefix(diag.String(), want) {
				t.Errorf("report printed %q; want it to begin with %q", diag.String(), want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{errors.New("3 stale reads"), 1, "fresh: 3 stale reads\n"},
		{&usageError{err: errors.New("bad"), usage: "Usage: x\n"}, 2, "fresh: bad\n\nUsage: x\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if code := report(tt.err, &b); code != tt.code || b.String() != tt.out {
			t.Errorf("report(%v) = %d, printed %q; want %d, %q", tt.err, code, b.String(), tt.code, tt.out)
		}
	}
}
