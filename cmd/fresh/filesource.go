package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A fileSource is the source of a multi-process run without Redis (demo -bus
// alone): the articles table kept in two files of a directory that the parent
// creates, so that the readers in one process and the writers in another share
// it without a server. It keeps what redisSource keeps, and is judged the same way
// (see redisSource): the version committed when a read began is the one checked
// against, and a read served an older one is stale when the write that replaced
// it had been invalidated more than maxStaleness before.
//
// The files, little-endian int64s:
//
//   - state: the global version counter, the marker's version (probe.go), the
//     number of articles and of categories; then the version of each scope
//     (scopeIndex); then, for each article, its category's index, its published
//     flag (0 or 1) and its version. Updated in place.
//   - log: append-only records of fileRecordLen bytes: a version replacing another
//     of a row or scope (recNext), and the time at which the invalidation of a
//     write (recSettled) or of a marker version (recMarkerSettled) returned. Each
//     process reads it as it grows, into the maps that judge consults.
//
// Locking: every access to either file holds an flock of the state file, shared
// to read and exclusive to write, so that a reader never sees half a commit nor
// half a record. An flock belongs to the open file, which this process's
// goroutines share, so mu serializes them first: the flock orders the processes,
// mu the goroutines of one. Accesses are short (one pread or pwrite, or a read of
// the rows for a list), and the simulated latency is paid after the lock is
// released.
type fileSource struct {
	latency      time.Duration
	maxStaleness time.Duration
	articles     int
	categories   int

	mu    sync.Mutex // guards what follows, and the flock of state
	state *os.File
	log   *os.File
	// What this process has read of log: up to logOff.
	logOff        int64
	next          map[fileNextKey]uint64 // (row or scope, version) -> the version that replaced it
	settled       map[uint64]int64       // write version -> unix ns of its invalidation's return
	markerSettled map[uint64]int64       // marker version -> unix ns of its invalidation's return

	loads, writes atomic.Uint64
}

var _ source = (*fileSource)(nil)

// Names and layout of the files.
const (
	fileStateName = "state"
	fileLogName   = "log"

	fileHeaderLen = 4 // int64s: counter, marker, articles, categories
	fileRowLen    = 3 // int64s: category index, published, version
	fileRecordLen = 4 * 8

	recNext          = 1 // field, previous version, next version
	recSettled       = 2 // version, unix ns
	recMarkerSettled = 3 // version, unix ns
)

// A fileNextKey is a version of a row (field >= 0, the row's id) or of a scope
// (field < 0, -1-scopeIndex).
type fileNextKey struct {
	field int64
	ver   uint64
}

// scopeIndex numbers the scopes of demoCategories; -1 for an unknown category.
func scopeIndex(k scopeKey) int {
	c := slices.Index(demoCategories, k.category)
	if c < 0 {
		return -1
	}
	if k.published {
		return 2*c + 1
	}
	return 2 * c
}

// seedFileSource creates the files of a fileSource in dir, with rows at version 0.
func seedFileSource(dir string, rows []article) error {
	buf := make([]byte, 8*(fileHeaderLen+2*len(demoCategories)+fileRowLen*len(rows)))
	put := func(i int, v int64) { binary.LittleEndian.PutUint64(buf[8*i:], uint64(v)) }
	put(2, int64(len(rows)))
	put(3, int64(len(demoCategories)))
	base := fileHeaderLen + 2*len(demoCategories)
	for i, a := range rows {
		c := slices.Index(demoCategories, a.Category)
		if c < 0 || a.ID != i {
			return fmt.Errorf("seed the source: bad row %+v", a)
		}
		put(base+fileRowLen*i, int64(c))
		if a.Published {
			put(base+fileRowLen*i+1, 1)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, fileStateName), buf, 0o600); err != nil {
		return fmt.Errorf("seed the source: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, fileLogName), nil, 0o600); err != nil {
		return fmt.Errorf("seed the source: %w", err)
	}
	return nil
}

// openFileSource opens the source that seedFileSource made in dir.
func openFileSource(dir string, latency, maxStaleness time.Duration) (_ *fileSource, err error) {
	s := &fileSource{
		latency: latency, maxStaleness: maxStaleness,
		next:          make(map[fileNextKey]uint64),
		settled:       make(map[uint64]int64),
		markerSettled: make(map[uint64]int64),
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("open the source in %s: %w", dir, err), s.close())
		}
	}()
	if s.state, err = os.OpenFile(filepath.Join(dir, fileStateName), os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if s.log, err = os.OpenFile(filepath.Join(dir, fileLogName), os.O_RDWR|os.O_APPEND, 0); err != nil {
		return nil, err
	}
	hdr := make([]byte, 8*fileHeaderLen)
	if _, err := s.state.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	s.articles = int(binary.LittleEndian.Uint64(hdr[16:]))
	s.categories = int(binary.LittleEndian.Uint64(hdr[24:]))
	if s.categories != len(demoCategories) || s.articles < 1 || s.articles > maxDemoArticles {
		return nil, fmt.Errorf("malformed state file (%d articles, %d categories)", s.articles, s.categories)
	}
	return s, nil
}

// close closes the files.
func (s *fileSource) close() error {
	var errs []error
	for _, f := range []*os.File{s.state, s.log} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// locked runs f holding mu and the flock of state, exclusive or shared.
func (s *fileSource) locked(exclusive bool, f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := lockFile(s.state, exclusive); err != nil {
		return fmt.Errorf("lock the source: %w", err)
	}
	err := f()
	if uerr := unlockFile(s.state); uerr != nil {
		err = errors.Join(err, fmt.Errorf("unlock the source: %w", uerr))
	}
	return err
}

// Offsets, in int64s, in the state file.
func (s *fileSource) scopeOff(i int) int64 { return int64(fileHeaderLen + i) }
func (s *fileSource) rowOff(id int) int64 {
	return int64(fileHeaderLen + 2*s.categories + fileRowLen*id)
}

// readInts reads len(dst) int64s of state from offset off (in int64s). mu is held.
func (s *fileSource) readInts(off int64, dst []int64) error {
	buf := make([]byte, 8*len(dst))
	if _, err := s.state.ReadAt(buf, 8*off); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return nil
}

// writeInts writes vs to state at offset off (in int64s). mu is held.
func (s *fileSource) writeInts(off int64, vs ...int64) error {
	buf := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(buf[8*i:], uint64(v))
	}
	_, err := s.state.WriteAt(buf, 8*off)
	return err
}

// decodeFileRow decodes the three int64s of article id.
func decodeFileRow(id int, r []int64) (article, error) {
	if r[0] < 0 || int(r[0]) >= len(demoCategories) || r[1] < 0 || r[1] > 1 || r[2] < 0 {
		return article{}, fmt.Errorf("article %d: malformed row %v", id, r)
	}
	return article{ID: id, Category: demoCategories[r[0]], Published: r[1] == 1, Version: uint64(r[2])}, nil
}

// readRow reads article id. mu is held.
func (s *fileSource) readRow(id int) (article, error) {
	if id < 0 || id >= s.articles {
		return article{}, fmt.Errorf("no article %d", id)
	}
	r := make([]int64, fileRowLen)
	if err := s.readInts(s.rowOff(id), r); err != nil {
		return article{}, fmt.Errorf("load article %d: %w", id, err)
	}
	return decodeFileRow(id, r)
}

func (s *fileSource) article(ctx context.Context, id int) (article, error) {
	s.loads.Add(1)
	var a article
	err := s.locked(false, func() (err error) {
		a, err = s.readRow(id)
		return err
	})
	if err != nil {
		return article{}, err
	}
	return a, sleepCtx(ctx, s.latency)
}

func (s *fileSource) list(ctx context.Context, k scopeKey) ([]article, uint64, error) {
	s.loads.Add(1)
	si := scopeIndex(k)
	if si < 0 {
		return nil, 0, fmt.Errorf("load list %s: no such scope", scopeName(k))
	}
	var (
		rows []article
		v    int64
	)
	err := s.locked(false, func() error {
		all := make([]int64, fileRowLen*s.articles)
		ver := make([]int64, 1)
		if err := s.readInts(s.scopeOff(si), ver); err != nil {
			return err
		}
		if err := s.readInts(s.rowOff(0), all); err != nil {
			return err
		}
		v = ver[0]
		for id := range s.articles {
			a, err := decodeFileRow(id, all[fileRowLen*id:fileRowLen*(id+1)])
			if err != nil {
				return err
			}
			if a.scope() == k {
				rows = append(rows, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("load list %s: %w", scopeName(k), err)
	}
	return rows, uint64(v), sleepCtx(ctx, s.latency)
}

// appendRecords appends records of four int64s to log. The exclusive flock is held.
func (s *fileSource) appendRecords(recs ...[4]int64) error {
	buf := make([]byte, 0, fileRecordLen*len(recs))
	for _, r := range recs {
		for _, v := range r {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
	}
	_, err := s.log.Write(buf) // O_APPEND
	return err
}

// commit commits the change of row id, in one exclusive hold of the flock: it
// takes the next version, writes the row and the versions of the scopes it was in
// before and after, and logs that version as replacing their previous ones.
func (s *fileSource) commit(_ context.Context, id int, change func(*article)) (write, error) {
	var w write
	err := s.locked(true, func() error {
		old, err := s.readRow(id)
		if err != nil {
			return err
		}
		a := old
		change(&a)
		oi, ni := scopeIndex(old.scope()), scopeIndex(a.scope())
		if oi < 0 || ni < 0 {
			return fmt.Errorf("article %d: unknown category %q", id, a.Category)
		}
		hdr := make([]int64, 1)
		if err := s.readInts(0, hdr); err != nil {
			return err
		}
		v := hdr[0] + 1
		a.Version = uint64(v)
		recs := [][4]int64{{recNext, int64(id), int64(old.Version), v}}
		scopes := []int{oi}
		if ni != oi {
			scopes = append(scopes, ni)
		}
		for _, si := range scopes {
			prev := make([]int64, 1)
			if err := s.readInts(s.scopeOff(si), prev); err != nil {
				return err
			}
			recs = append(recs, [4]int64{recNext, int64(-1 - si), prev[0], v})
			if err := s.writeInts(s.scopeOff(si), v); err != nil {
				return err
			}
		}
		pub := int64(0)
		if a.Published {
			pub = 1
		}
		if err := s.writeInts(s.rowOff(id), int64(slices.Index(demoCategories, a.Category)), pub, v); err != nil {
			return err
		}
		if err := s.writeInts(0, v); err != nil {
			return err
		}
		if err := s.appendRecords(recs...); err != nil {
			return err
		}
		w = write{old: old, new: a}
		return nil
	})
	if err != nil {
		return write{}, fmt.Errorf("commit article %d: %w", id, err)
	}
	s.writes.Add(1)
	return w, nil
}

// settle records the time at which w's invalidation returned: now.
func (s *fileSource) settle(_ context.Context, w write) error {
	at := time.Now().UnixNano()
	return s.locked(true, func() error {
		return s.appendRecords([4]int64{recSettled, int64(w.new.Version), at, 0})
	})
}

// want returns the version of t committed now.
func (s *fileSource) want(_ context.Context, t *target) (uint64, error) {
	off := s.rowOff(t.id) + 2 // the row's version
	if t.list {
		off = s.scopeOff(scopeIndex(t.scope))
	}
	v := make([]int64, 1)
	err := s.locked(false, func() error { return s.readInts(off, v) })
	return uint64(v[0]), err
}

// catchUp reads what has been appended to log since the last call into the maps.
// mu and the flock are held, so the log holds whole records only.
func (s *fileSource) catchUp() error {
	fi, err := s.log.Stat()
	if err != nil {
		return err
	}
	n := fi.Size() - s.logOff
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	if _, err := s.log.ReadAt(buf, s.logOff); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if n%fileRecordLen != 0 {
		return fmt.Errorf("the log's %d new bytes are not whole records", n)
	}
	for b := buf; len(b) > 0; b = b[fileRecordLen:] {
		var r [4]int64
		for i := range r {
			r[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		switch r[0] {
		case recNext:
			s.next[fileNextKey{field: r[1], ver: uint64(r[2])}] = uint64(r[3])
		case recSettled:
			s.settled[uint64(r[1])] = r[2]
		case recMarkerSettled:
			s.markerSettled[uint64(r[1])] = r[2]
		default:
			return fmt.Errorf("the log has a record of unknown kind %d", r[0])
		}
	}
	s.logOff += n
	return nil
}

// judge finds the write that replaced version got of t and when its invalidation
// returned, and judges the read by the bound, as redisSource.judge does.
func (s *fileSource) judge(_ context.Context, t *target, got, want uint64, begin time.Time) (verdict, error) {
	field := int64(t.id)
	if t.list {
		field = int64(-1 - scopeIndex(t.scope))
	}
	var (
		next     uint64
		at       int64
		ok, done bool
	)
	err := s.locked(false, func() error {
		if err := s.catchUp(); err != nil {
			return err
		}
		next, ok = s.next[fileNextKey{field: field, ver: got}]
		at, done = s.settled[next]
		return nil
	})
	if err != nil {
		return verdict{}, err
	}
	if !ok {
		return verdict{}, fmt.Errorf("%s: version %d was served, but the source never had it (version %d is current)", t.key, got, want)
	}
	if !done {
		return verdict{lag: lagPending, next: next}, nil
	}
	return judgeAge(next, time.Duration(begin.UnixNano()-at), s.maxStaleness), nil
}

func (s *fileSource) loadCount() uint64  { return s.loads.Load() }
func (s *fileSource) writeCount() uint64 { return s.writes.Load() }

// commitMarker takes the marker's next version.
func (s *fileSource) commitMarker(context.Context) (uint64, error) {
	var v int64
	err := s.locked(true, func() error {
		m := make([]int64, 1)
		if err := s.readInts(1, m); err != nil {
			return err
		}
		v = m[0] + 1
		return s.writeInts(1, v)
	})
	return uint64(v), err
}

// settleMarker records that the invalidation of marker version v returned at at.
func (s *fileSource) settleMarker(_ context.Context, v uint64, at time.Time) error {
	return s.locked(true, func() error {
		return s.appendRecords([4]int64{recMarkerSettled, int64(v), at.UnixNano(), 0})
	})
}

// markerVersion returns the marker's current version.
func (s *fileSource) markerVersion(context.Context) (uint64, error) {
	m := make([]int64, 1)
	err := s.locked(false, func() error { return s.readInts(1, m) })
	return uint64(m[0]), err
}

// markerSettledAt returns when the invalidation of marker version v returned, and
// false if it has not yet been recorded.
func (s *fileSource) markerSettledAt(_ context.Context, v uint64) (time.Time, bool, error) {
	var (
		at int64
		ok bool
	)
	err := s.locked(false, func() error {
		if err := s.catchUp(); err != nil {
			return err
		}
		at, ok = s.markerSettled[v]
		return nil
	})
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return time.Unix(0, at), true, nil
}
