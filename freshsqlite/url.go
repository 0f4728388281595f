package freshsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	// The driver that OpenURL opens databases with, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// driverName is the database/sql name of modernc.org/sqlite.
const driverName = "sqlite"

// OpenURL opens the SQLite database that rawURL names, with the modernc.org/sqlite
// driver, and returns a Bus on it (see New). The bus owns the *sql.DB: its Close
// closes it. rawURL is one of:
//
//	sqlite:PATH        sqlite:/var/lib/app/bus.db, or sqlite:bus.db (relative to the
//	                   working directory)
//	sqlite://PATH      sqlite:///var/lib/app/bus.db, or sqlite://bus.db
//	file:PATH[?QUERY]  a SQLite URI filename, given to the driver as it is
//
// A sqlite: URL takes no query (the bus's settings are in o), and its path may hold
// percent-escapes (%20, and %3F for a '?'). An in-memory database (":memory:",
// "file::memory:", mode=memory, vfs=memdb) is refused with ErrNotOnDisk: other
// processes could not open it. The file is created if it does not exist; its
// directory must.
func OpenURL(ctx context.Context, rawURL string, o Options) (*Bus, error) {
	if ctx == nil {
		return nil, errors.New("freshsqlite: OpenURL: nil context")
	}
	dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("freshsqlite: OpenURL: %w", err)
	}
	b, err := newBus(ctx, db, true, o)
	if err != nil {
		_ = db.Close()
		return nil, opError("OpenURL "+strconv.Quote(truncate(rawURL, 200)), err)
	}
	return b, nil
}

// parseURL returns the data source name for modernc.org/sqlite of the database that
// rawURL names.
func parseURL(rawURL string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("freshsqlite: OpenURL %q: "+format, append([]any{truncate(rawURL, 200)}, args...)...)
	}
	if strings.ContainsRune(rawURL, 0) {
		return bad("a NUL byte")
	}
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok || (!strings.EqualFold(scheme, "sqlite") && !strings.EqualFold(scheme, "file")) {
		return bad("want sqlite:PATH, sqlite://PATH or file:PATH")
	}
	if strings.EqualFold(scheme, "file") {
		return fileDSN(rawURL, rest, bad)
	}
	rest = strings.TrimPrefix(rest, "//")
	if strings.ContainsAny(rest, "?#") {
		return bad("a sqlite: URL takes no query or fragment (set Options instead; write '?' and '#' in a path as %%3F and %%23)")
	}
	path, err := url.PathUnescape(rest)
	switch {
	case err != nil:
		return bad("bad percent-escape in the path: %v", err)
	case path == "":
		return bad("no path")
	case strings.HasPrefix(path, ":memory"):
		return "", fmt.Errorf("%w: OpenURL %q: an in-memory database", ErrNotOnDisk, truncate(rawURL, 200))
	case strings.ContainsRune(path, 0):
		return bad("a NUL byte in the path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return bad("%v", err)
	}
	// A URI filename, so that no character of the path is read as an option.
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath(), nil
}

// fileDSN checks a file: URL, which is given to the driver as it is.
func fileDSN(rawURL, rest string, bad func(string, ...any) (string, error)) (string, error) {
	path, query, _ := strings.Cut(rest, "?")
	path, _, _ = strings.Cut(path, "#")
	if path == "" || strings.HasPrefix(path, ":memory") || strings.HasPrefix(strings.TrimPrefix(path, "//"), ":memory") {
		if path == "" {
			return bad("no path")
		}
		return "", fmt.Errorf("%w: OpenURL %q: an in-memory database", ErrNotOnDisk, truncate(rawURL, 200))
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return bad("bad query: %v", err)
	}
	if strings.EqualFold(q.Get("mode"), "memory") || strings.EqualFold(q.Get("vfs"), "memdb") {
		return "", fmt.Errorf("%w: OpenURL %q: an in-memory database", ErrNotOnDisk, truncate(rawURL, 200))
	}
	return rawURL, nil
}
