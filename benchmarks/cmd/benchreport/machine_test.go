package main

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseCPUModel(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   Processor @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Other\n", "Intel(R) Xeon(R) Processor @ 2.20GHz"},
		{"arm64", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4\n", "BCM2835"},
		{"nothing", "processor: 0\n", ""},
	}
	for _, tt := range tests {
		if got := parseCPUModel(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	for in, want := range map[string]uint64{
		"MemTotal:       24684084 kB\nMemFree:  1 kB\n": 24684084 * 1024,
		"MemFree: 1 kB\n":     0,
		"MemTotal: lots kB\n": 0,
	} {
		if got := parseMemTotal(strings.NewReader(in)); got != want {
			t.Errorf("parseMemTotal(%q) = %d; want %d", in, got, want)
		}
	}
}

func TestReadMachine(t *testing.T) {
	m := readMachine()
	if m.Cores != runtime.NumCPU() || m.MaxProcs != runtime.GOMAXPROCS(0) || m.GoVersion != runtime.Version() ||
		m.OS != runtime.GOOS || m.Arch != runtime.GOARCH {
		t.Errorf("got %+v; want the runtime's values", m)
	}
	if runtime.GOOS == "linux" && (m.CPU == "unknown" || m.CPU == "" || m.MemTotal == 0) {
		t.Errorf("got CPU %q and MemTotal %d; want both read from /proc", m.CPU, m.MemTotal)
	}
}

func TestMatchVersions(t *testing.T) {
	deps := []*debug.Module{
		{Path: "github.com/maypok86/otter/v2", Version: "v2.4.0"},
		{Path: "github.com/maypok86/otterx", Version: "v1.0.0"},
		{Path: "github.com/eko/gocache/lib/v4", Version: "v4.2.4"},
		{Path: "github.com/eko/gocache/store/ristretto/v4", Version: "v4.3.2"},
		{Path: "github.com/viccon/sturdyc", Version: "v1.1.5", Replace: &debug.Module{Path: "../sturdyc"}},
	}
	var got []string
	for _, v := range matchVersions(deps) {
		got = append(got, v.Name+" "+v.Module)
	}
	want := []string{
		"otter github.com/maypok86/otter/v2@v2.4.0",
		"theine github.com/Yiling-J/theine-go (not linked into this binary)",
		"ristretto github.com/dgraph-io/ristretto (not linked into this binary)",
		"sturdyc github.com/viccon/sturdyc@v1.1.5 => ../sturdyc",
		"ttlcache github.com/jellydator/ttlcache (not linked into this binary)",
		"gocache github.com/eko/gocache/lib/v4@v4.2.4",
		"gocache github.com/eko/gocache/store/ristretto/v4@v4.3.2",
		"xsync github.com/puzpuzpuz/xsync (not linked into this binary)",
		"go-redis github.com/redis/go-redis (not linked into this binary)",
		"rueidis github.com/redis/rueidis (not linked into this binary)",
		"go-redis/cache github.com/go-redis/cache (not linked into this binary)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
