package freshsqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseURL checks the data source names that OpenURL makes of its URLs.
func TestParseURL(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url, want string
	}{
		{"sqlite:/var/lib/bus.db", "file:/var/lib/bus.db"},
		{"sqlite:///var/lib/bus.db", "file:/var/lib/bus.db"},
		{"SQLITE:///var/lib/bus.db", "file:/var/lib/bus.db"},
		{"sqlite:bus.db", "file:" + filepath.Join(wd, "bus.db")},
		{"sqlite://data/bus.db", "file:" + filepath.Join(wd, "data/bus.db")},
		{"sqlite:/tmp/a%20b.db", "file:/tmp/a%20b.db"},
		{"sqlite:/tmp/a b.db", "file:/tmp/a%20b.db"},
		{"sqlite:/tmp/what%3F.db", "file:/tmp/what%3F.db"},
		{"sqlite:/tmp/100%25.db", "file:/tmp/100%25.db"},
		{"file:/var/lib/bus.db", "file:/var/lib/bus.db"},
		{"file:bus.db?_pragma=busy_timeout(100)", "file:bus.db?_pragma=busy_timeout(100)"},
	}
	for _, tt := range tests {
		got, err := parseURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("parseURL(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		url    string
		memory bool
	}{
		{"", false},
		{"bus.db", false},
		{"/var/lib/bus.db", false},
		{"postgres://localhost/db", false},
		{"http://example.com/bus.db", false},
		{"sqlite:", false},
		{"sqlite://", false},
		{"sqlite:/tmp/bus.db?mode=ro", false},
		{"sqlite:/tmp/bus.db#x", false},
		{"sqlite:/tmp/%zz.db", false},
		{"sqlite:/tmp/a%00b.db", false},
		{"sqlite:/tmp/a\x00b.db", false},
		{"file:", false},
		{"file:?mode=ro", false},
		{"file:bus.db?%zz", false},
		{"sqlite::memory:", true},
		{"sqlite://:memory:", true},
		{"file::memory:", true},
		{"file::memory:?cache=shared", true},
		{"file:memdb1?mode=memory&cache=shared", true},
		{"file:/x.db?vfs=memdb", true},
		{"file://:memory:", true},
	} {
		dsn, err := parseURL(tt.url)
		if err == nil {
			t.Errorf("parseURL(%q) = %q; want an error", tt.url, dsn)
			continue
		}
		if !strings.HasPrefix(err.Error(), "freshsqlite: ") {
			t.Errorf("parseURL(%q) error %q lacks the package prefix", tt.url, err)
		}
		if errors.Is(err, ErrNotOnDisk) != tt.memory {
			t.Errorf("parseURL(%q) = %v; ErrNotOnDisk: %v, want %v", tt.url, err, !tt.memory, tt.memory)
		}
	}
}

// FuzzParseURL checks that parseURL never panics, and that what it accepts is a
// file: name.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"sqlite:/a.db", "sqlite:///a%20b", "file:x?mode=memory", "sqlite::memory:", "file:%", "sqlite:%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dsn, err := parseURL(s)
		if err == nil && !strings.HasPrefix(dsn, "file:") {
			t.Errorf("parseURL(%q) = %q, not a file: name", s, dsn)
		}
	})
}

// TestOpenURL opens buses by URL, in each form, on one file, and has them talk.
func TestOpenURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "my bus?.db")
	escaped := strings.ReplaceAll(strings.ReplaceAll(path, " ", "%20"), "?", "%3F")
	var buses []*Bus
	for _, u := range []string{"sqlite:" + escaped, "sqlite://" + escaped, "file:" + escaped + "?_pragma=busy_timeout(1000)"} {
		b, err := OpenURL(testCtx(t), u, Options{})
		if err != nil {
			t.Fatalf("OpenURL(%q): %v", u, err)
		}
		t.Cleanup(func() { b.Close() })
		if b.Path() != path {
			t.Errorf("OpenURL(%q).Path() = %q; want %q", u, b.Path(), path)
		}
		buses = append(buses, b)
	}
	r := newRecorder()
	testSubscribe(t, buses[0], r)
	testPublish(t, buses[1], "one")
	testPublish(t, buses[2], "two")
	r.waitMessage(t, "two")

	//nolint:staticcheck // SA1012: a nil context is what is being tested
	if _, err := OpenURL(nil, "sqlite:"+path, Options{}); err == nil {
		t.Error("OpenURL(nil ctx) succeeded")
	}
	if _, err := OpenURL(t.Context(), "sqlite:"+path, Options{MaxRows: -1}); err == nil {
		t.Error("OpenURL with bad options succeeded")
	}
	if _, err := OpenURL(t.Context(), "sqlite:"+filepath.Join(dir, "no/such/dir/bus.db"), Options{}); err == nil {
		t.Error("OpenURL in a missing directory succeeded")
	} else if !strings.HasPrefix(err.Error(), "freshsqlite: ") {
		t.Errorf("OpenURL in a missing directory: %q lacks the package prefix", err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.WriteFile(foreign, []byte("this is not a database, but it is long enough to look like one at first...."), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenURL(t.Context(), "sqlite:"+foreign, Options{}); err == nil {
		t.Error("OpenURL of a file that is not a database succeeded")
	}
	if _, err := OpenURL(t.Context(), "sqlite::memory:", Options{}); !errors.Is(err, ErrNotOnDisk) {
		t.Errorf("OpenURL(sqlite::memory:) = %v; want ErrNotOnDisk", err)
	}
}
