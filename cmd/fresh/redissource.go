package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// A redisSource is the source of a multi-process run: the articles table kept in
// Redis, so that readers in one process and writers in another share it. Every load
// still pays the simulated round trip, after the Redis one.
//
// Like memSource, every commit takes the next value of a global version counter,
// which the row and the scopes the row was in before and after it record. For the
// staleness check across processes it also keeps, for every version of a row or a
// scope, the version that replaced it, and for every write the time (wall clock,
// which the processes of one host share) at which its invalidation returned. A read
// that began at t0 is checked against the version committed at t0 (want); when it is
// served an older version, judge finds the write that replaced it: if that write's
// invalidation had returned more than maxStaleness before t0, the read is stale.
//
// The keys (redisKeys) all carry the namespace's hash tag, so the scripts, which
// touch several, run in one cluster slot.
type redisSource struct {
	client       redis.UniversalClient
	keys         redisKeys
	latency      time.Duration
	maxStaleness time.Duration

	loads, writes atomic.Uint64
}

var _ source = (*redisSource)(nil)

// redisKeys are the keys of a run's source in namespace ns.
type redisKeys struct {
	rows     string // hash: id -> "category|published|version", published "1" or "0"
	versions string // hash: rowField or scopeField -> the version of the row or scope
	next     string // hash: field "@" version -> the version that replaced it
	settled  string // hash: version -> unix ns at which its write's invalidation returned
	counter  string // string: the global version counter
	members  string // prefix of the sets of the ids in each scope: members + scopeName
	// The probe's marker (probe.go): its version, and the unix ns at which the
	// invalidation of each version returned.
	marker, markerSettled string
}

func newRedisKeys(ns string) redisKeys {
	p := "fresh-demo:{" + ns + "}:"
	return redisKeys{
		rows: p + "rows", versions: p + "versions", next: p + "next", settled: p + "settled",
		counter: p + "counter", members: p + "members:", marker: p + "marker", markerSettled: p + "marker-settled",
	}
}

func newRedisSource(client redis.UniversalClient, ns string, latency, maxStaleness time.Duration) *redisSource {
	return &redisSource{client: client, keys: newRedisKeys(ns), latency: latency, maxStaleness: maxStaleness}
}

func scopeName(k scopeKey) string {
	if k.published {
		return k.category + ":1"
	}
	return k.category + ":0"
}

func rowField(id int) string                { return "a:" + strconv.Itoa(id) }
func scopeField(k scopeKey) string          { return "s:" + scopeName(k) }
func (k redisKeys) scope(s scopeKey) string { return k.members + scopeName(s) }

// versionField is the field of target t in the versions hash.
func versionField(t *target) string {
	if t.list {
		return scopeField(t.scope)
	}
	return rowField(t.id)
}

// encodeRowPrefix encodes a row but its version, which the commit script appends.
func encodeRowPrefix(a article) string {
	p := "0"
	if a.Published {
		p = "1"
	}
	return a.Category + "|" + p
}

func decodeRow(id int, s string) (article, error) {
	f := strings.Split(s, "|")
	if len(f) != 3 || (f[1] != "0" && f[1] != "1") {
		return article{}, fmt.Errorf("article %d: malformed row %q", id, s)
	}
	v, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return article{}, fmt.Errorf("article %d: malformed version in row %q", id, s)
	}
	return article{ID: id, Category: f[0], Published: f[1] == "1", Version: v}, nil
}

// seed writes the rows, at version 0, and the scopes' members.
func (s *redisSource) seed(ctx context.Context, rows []article) error {
	const chunk = 1000
	members := make(map[scopeKey][]any)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		fields := make([]any, 0, 2*chunk)
		for i, a := range rows {
			fields = append(fields, strconv.Itoa(a.ID), encodeRowPrefix(a)+"|0")
			members[a.scope()] = append(members[a.scope()], a.ID)
			if len(fields) == 2*chunk || i == len(rows)-1 {
				p.HSet(ctx, s.keys.rows, fields...)
				fields = fields[:0:0]
			}
		}
		for k, ids := range members {
			for len(ids) > 0 {
				n := min(len(ids), chunk)
				p.SAdd(ctx, s.keys.scope(k), ids[:n]...)
				ids = ids[n:]
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed the source: %w", err)
	}
	return nil
}

func (s *redisSource) article(ctx context.Context, id int) (article, error) {
	s.loads.Add(1)
	raw, err := s.client.HGet(ctx, s.keys.rows, strconv.Itoa(id)).Result()
	if err != nil {
		return article{}, fmt.Errorf("load article %d: %w", id, err)
	}
	a, err := decodeRow(id, raw)
	if err != nil {
		return article{}, err
	}
	return a, sleepCtx(ctx, s.latency)
}

// listScript reads a scope's version and rows in one step.
//
//	KEYS: the scope's members, rows, versions. ARGV: the scope's field.
var listScript = redis.NewScript(`
local ids = redis.call('SMEMBERS', KEYS[1])
local rows = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #part do rows[#rows + 1] = part[j] end
end
return {redis.call('HGET', KEYS[3], ARGV[1]) or '0', ids, rows}
`)

func (s *redisSource) list(ctx context.Context, k scopeKey) ([]article, uint64, error) {
	s.loads.Add(1)
	res, err := listScript.Run(ctx, s.client, []string{s.keys.scope(k), s.keys.rows, s.keys.versions}, scopeField(k)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("load list %s: %w", scopeName(k), err)
	}
	rows, v, err := decodeList(res)
	if err != nil {
		return nil, 0, fmt.Errorf("load list %s: %w", scopeName(k), err)
	}
	return rows, v, sleepCtx(ctx, s.latency)
}

// decodeList decodes listScript's reply: the rows in id order, and the version.
func decodeList(res []any) ([]article, uint64, error) {
	bad := errors.New("malformed reply")
	if len(res) != 3 {
		return nil, 0, bad
	}
	vs, _ := res[0].(string)
	v, err := strconv.ParseUint(vs, 10, 64)
	ids, ok1 := res[1].([]any)
	raws, ok2 := res[2].([]any)
	if err != nil || !ok1 || !ok2 || len(ids) != len(raws) {
		return nil, 0, bad
	}
	rows := make([]article, len(ids))
	for i := range ids {
		is, _ := ids[i].(string)
		id, err := strconv.Atoi(is)
		if err != nil {
			return nil, 0, bad
		}
		raw, ok := raws[i].(string)
		if !ok {
			return nil, 0, fmt.Errorf("article %d of the scope has no row", id)
		}
		if rows[i], err = decodeRow(id, raw); err != nil {
			return nil, 0, err
		}
	}
	slices.SortFunc(rows, func(a, b article) int { return cmp.Compare(a.ID, b.ID) })
	return rows, v, nil
}

// commitScript commits a row change if the row is still as the writer read it:
// it takes the next version, writes the row, records the version of the row and of
// the scopes it was in before and after as replacing their previous versions, and
// moves the row between the scopes' members. It returns the version, or nil when
// the row had changed.
//
//	KEYS: rows, versions, next, counter, the old scope's members, the new scope's.
//	ARGV: id, the row as read, the new row without its version, the row's field,
//	      the old scope's field, the new scope's field.
var commitScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
local v = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. '|' .. v)
local function replace(field)
  local prev = redis.call('HGET', KEYS[2], field) or '0'
  redis.call('HSET', KEYS[3], field .. '@' .. prev, v)
  redis.call('HSET', KEYS[2], field, v)
end
replace(ARGV[4])
replace(ARGV[5])
if ARGV[6] ~= ARGV[5] then
  replace(ARGV[6])
  redis.call('SREM', KEYS[5], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[1])
end
return v
`)

// maxCommitTries bounds the retries of a commit whose row other writers keep
// changing.
const maxCommitTries = 100

func (s *redisSource) commit(ctx context.Context, id int, change func(*article)) (write, error) {
	field := strconv.Itoa(id)
	for range maxCommitTries {
		raw, err := s.client.HGet(ctx, s.keys.rows, field).Result()
		if err != nil {
			return write{}, err
		}
		old, err := decodeRow(id, raw)
		if err != nil {
			return write{}, err
		}
		a := old
		change(&a)
		keys := []string{s.keys.rows, s.keys.versions, s.keys.next, s.keys.counter, s.keys.scope(old.scope()), s.keys.scope(a.scope())}
		v, err := commitScript.Run(ctx, s.client, keys,
			field, raw, encodeRowPrefix(a), rowField(id), scopeField(old.scope()), scopeField(a.scope())).Uint64()
		if errors.Is(err, redis.Nil) {
			continue // another writer changed the row: read it again
		}
		if err != nil {
			return write{}, err
		}
		a.Version = v
		s.writes.Add(1)
		return write{old: old, new: a}, nil
	}
	return write{}, fmt.Errorf("article %d changed under %d tries", id, maxCommitTries)
}

// settle records the time at which w's invalidation returned: now.
func (s *redisSource) settle(ctx context.Context, w write) error {
	at := time.Now().UnixNano()
	return s.client.HSet(ctx, s.keys.settled, strconv.FormatUint(w.new.Version, 10), at).Err()
}

// want returns the version of t committed now.
func (s *redisSource) want(ctx context.Context, t *target) (uint64, error) {
	v, err := s.client.HGet(ctx, s.keys.versions, versionField(t)).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// judgeScript returns the version that replaced a version of a row or scope, and
// the time its invalidation returned (nil if it has not).
//
//	KEYS: next, settled. ARGV: field "@" version.
var judgeScript = redis.NewScript(`
local n = redis.call('HGET', KEYS[1], ARGV[1])
if not n then return {} end
return {n, redis.call('HGET', KEYS[2], n)}
`)

// judge finds the write that replaced version got of t and when its invalidation
// returned: a read that began more than maxStaleness after that is stale (fresh's
// G1 bound across processes), one that began less is behind within the bound, and
// one that began before it returned is in the window the application leaves
// between a commit and its invalidation.
func (s *redisSource) judge(ctx context.Context, t *target, got, want uint64, begin time.Time) (verdict, error) {
	field := versionField(t) + "@" + strconv.FormatUint(got, 10)
	res, err := judgeScript.Run(ctx, s.client, []string{s.keys.next, s.keys.settled}, field).Slice()
	if err != nil {
		return verdict{}, err
	}
	if len(res) == 0 {
		return verdict{}, fmt.Errorf("%s: version %d was served, but the source never had it (version %d is current)", t.key, got, want)
	}
	ns, _ := res[0].(string)
	next, err := strconv.ParseUint(ns, 10, 64)
	if err != nil {
		return verdict{}, fmt.Errorf("%s: malformed next version %q", t.key, ns)
	}
	if len(res) < 2 || res[1] == nil {
		return verdict{lag: lagPending, next: next}, nil
	}
	as, _ := res[1].(string)
	at, err := strconv.ParseInt(as, 10, 64)
	if err != nil {
		return verdict{}, fmt.Errorf("%s: malformed settle time %q", t.key, as)
	}
	return judgeAge(next, time.Duration(begin.UnixNano()-at), s.maxStaleness), nil
}

// judgeAge judges a read that began age after the invalidation of next, the
// version that replaced the one it was served, returned: before it (age < 0), the
// window between a commit and its invalidation; within bound; or stale.
func judgeAge(next uint64, age, bound time.Duration) verdict {
	switch {
	case age < 0:
		return verdict{lag: lagPending, next: next}
	case age <= bound:
		return verdict{lag: lagWithin, next: next, age: age}
	}
	return verdict{lag: lagStale, next: next, age: age}
}

func (s *redisSource) loadCount() uint64  { return s.loads.Load() }
func (s *redisSource) writeCount() uint64 { return s.writes.Load() }

// commitMarker takes the marker's next version.
func (s *redisSource) commitMarker(ctx context.Context) (uint64, error) {
	v, err := s.client.Incr(ctx, s.keys.marker).Result()
	return uint64(v), err
}

// settleMarker records that the invalidation of marker version v returned at at.
func (s *redisSource) settleMarker(ctx context.Context, v uint64, at time.Time) error {
	return s.client.HSet(ctx, s.keys.markerSettled, strconv.FormatUint(v, 10), at.UnixNano()).Err()
}

// markerVersion returns the marker's current version.
func (s *redisSource) markerVersion(ctx context.Context) (uint64, error) {
	v, err := s.client.Get(ctx, s.keys.marker).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// markerSettledAt returns when the invalidation of marker version v returned, and
// false if it has not yet been recorded.
func (s *redisSource) markerSettledAt(ctx context.Context, v uint64) (time.Time, bool, error) {
	ns, err := s.client.HGet(ctx, s.keys.markerSettled, strconv.FormatUint(v, 10)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.Unix(0, ns), true, nil
}
