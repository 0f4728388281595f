package freshredis

import "github.com/redis/go-redis/v9"

// The Store's scripts. Each runs atomically in Redis and touches only keys of one
// namespace, all under the namespace's hash tag and all passed in KEYS, so that on
// Redis Cluster every script runs on the one node that owns the namespace's slot.
//
// Every script but the lease ones begins with luaPrelude and takes
//
//	KEYS[1] meta   KEYS[2] tombs   KEYS[3] marks
//
// The prelude's meta() reads the namespace's epoch, position and watermark, and
// starts a new epoch (reset) when the meta hash is missing or unreadable: FLUSHALL,
// a restart without persistence, an eviction, a first use, or garbage written by
// someone else. Nothing from before can then be trusted, so reset also drops the
// tombstones and the marks; entries of the old epoch are refused by their epoch
// field. The tombs and marks keys are type-checked for the same reason: a tombs key
// of the wrong type means tombstones were lost.
//
// Numbers are kept as decimal strings of integers below 2^53, so that Lua's doubles
// hold them exactly; num() accepts nothing else, and anything else reads as garbage.
// Numbers passed to redis.call are formatted with fmt(), never left to Redis's own
// conversion of Lua numbers (which may use an exponent).
//
// Scripts return arrays whose first elements are status codes and numbers (integer
// replies) followed by strings (bulk replies); the Go side (store.go) decodes them.
const luaPrelude = `
local MAXN = 9007199254740991
local M = {reset = 0}

local function num(x)
  if type(x) ~= 'string' or #x == 0 or #x > 16 or not string.find(x, '^%d+$') then return nil end
  local n = tonumber(x)
  if n == nil or n > MAXN then return nil end
  return n
end

local function fmt(n) return string.format('%.0f', n) end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function server()
  local ok, info = pcall(redis.call, 'INFO', 'server')
  if not ok or type(info) ~= 'string' then return '', '' end
  return string.match(info, 'run_id:(%x+)') or '', string.match(info, 'redis_version:([%w%.%-]+)') or ''
end

-- newepoch starts an epoch above old (when known) and above every epoch made from
-- an earlier reading of the server clock (microseconds since 1970). It drops the
-- tombstones and marks, and records the server's run_id. keep is the position to
-- keep (Flush keeps it; a reset of lost state starts again at 0).
local function newepoch(old, keep)
  local e = now_us()
  if old ~= nil and e <= old then e = old + 1 end
  local rid = server()
  redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', fmt(e), 'pos', fmt(keep), 'pruned', fmt(keep), 'runid', rid)
  M.e, M.p, M.w = e, keep, keep
  return e
end

local function reset(old)
  M.reset = 1
  newepoch(old, 0)
end

-- meta loads M.e, M.p, M.w (epoch, position, watermark), starting a new epoch if
-- the state is missing or unreadable.
local function meta()
  local ok, m = pcall(redis.call, 'HMGET', KEYS[1], 'epoch', 'pos', 'pruned')
  local e, p, w
  if ok then e, p, w = num(m[1]), num(m[2]), num(m[3]) end
  if e == nil or p == nil or w == nil or e == 0 or w > p then
    reset(e)
    return
  end
  local tt = redis.call('TYPE', KEYS[2])['ok']
  if tt ~= 'zset' and tt ~= 'none' then
    reset(e)
    return
  end
  -- Every advance of the position records at least one tombstone above the
  -- watermark, and only tombstones at or below it are pruned: while pos > pruned
  -- the set cannot be empty. Missing, it was evicted or deleted, and the
  -- invalidations it held are lost.
  if tt == 'none' and p > w then
    reset(e)
    return
  end
  local mt = redis.call('TYPE', KEYS[3])['ok']
  if mt ~= 'list' and mt ~= 'none' then redis.call('UNLINK', KEYS[3]) end
  M.e, M.p, M.w = e, p, w
end

-- decode splits a dependency list encoded as <decimal length>:<bytes>, repeated;
-- it returns nil for a malformed one.
local function decode(d)
  local out, i, n = {}, 1, #d
  while i <= n do
    local c = string.find(d, ':', i, true)
    if c == nil or c == i or c - i > 10 then return nil end
    local l = string.sub(d, i, c - 1)
    if not string.find(l, '^%d+$') then return nil end
    l = tonumber(l)
    if c + l > n then return nil end
    out[#out + 1] = string.sub(d, c + 1, c + l)
    i = c + l + 1
  end
  return out
end

-- stale reports whether any of members (tombstone names) has a tombstone above a.
-- A missing tombstone reads as the watermark, which the caller has checked a
-- against, so only present ones matter. ZMSCORE is called for at most 1000 members
-- at a time, within Lua's unpack limit.
local function stale(members, a)
  for i = 1, #members, 1000 do
    local s = redis.call('ZMSCORE', KEYS[2], unpack(members, i, math.min(i + 999, #members)))
    for j = 1, #s do
      if s[j] then
        local v = tonumber(s[j])
        if v == nil or v > a then return true end
      end
    end
  end
  return false
end

-- zaddgt records position p as the tombstone of prefix..ARGV[i] for i >= from,
-- keeping the greater (a max-register), 500 members per ZADD.
local function zaddgt(prefix, from, p)
  local args, score = {}, fmt(p)
  for i = from, #ARGV do
    args[#args + 1] = score
    args[#args + 1] = prefix .. ARGV[i]
    if #args >= 1000 then
      redis.call('ZADD', KEYS[2], 'GT', unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('ZADD', KEYS[2], 'GT', unpack(args)) end
end

local function parsemark(s)
  if type(s) ~= 'string' then return nil end
  local t, p = string.match(s, '^(%d+):(%d+)$')
  t, p = num(t), num(p)
  if t == nil or p == nil then return nil end
  return t, p
end

-- retain applies the retention rule (see Store): after a write (mark true) it
-- pushes a mark "time:position" unless the newest is younger than the interval;
-- it retires marks older than the retention, raising the watermark to their
-- positions; and it drops at most limit tombstones at or below the watermark. It
-- returns how many tombstones it dropped.
local function retain(R, I, limit, mark)
  local now = now_us()
  if mark then
    local lt = parsemark(redis.call('LINDEX', KEYS[3], -1))
    if lt == nil or now - lt >= I then
      redis.call('RPUSH', KEYS[3], fmt(now) .. ':' .. fmt(M.p))
    end
  end
  local w = M.w
  for _ = 1, 64 do
    local first = redis.call('LINDEX', KEYS[3], 0)
    if not first then break end
    local mt, mp = parsemark(first)
    -- A mark from the future (a server clock that moved back) waits; one too far
    -- in the future is garbage and goes.
    if mt ~= nil and now - mt <= R and mt - now <= R then break end
    redis.call('LPOP', KEYS[3])
    if mt ~= nil and now - mt > R and mp <= M.p and mp > w then w = mp end
  end
  if w > M.w then
    redis.call('HSET', KEYS[1], 'pruned', fmt(w))
    M.w = w
  end
  if w == 0 then return 0 end
  local n = redis.call('ZCOUNT', KEYS[2], '-inf', fmt(w))
  if n > limit then n = limit end
  if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], '0', fmt(n - 1)) end
  return n
end
`

// luaPosition returns {epoch, pos, reset}.
const luaPosition = luaPrelude + `
meta()
return {M.e, M.p, M.reset}
`

// luaGet reads an entry.
//
//	KEYS[4] the entry   ARGV[1] the key's tombstone name ("k:"..key)
//
// It returns {status, epoch, pos, reset} and, for a hit, then a, pttl, timed, v, d.
// Status: 0 absent, 1 hit, 2 garbage (deleted), 3 no longer valid (deleted).
const luaGet = luaPrelude + `
meta()
local ok, h = pcall(redis.call, 'HMGET', KEYS[4], 'v', 'a', 'p', 'd', 't')
if not ok then
  redis.call('UNLINK', KEYS[4])
  return {2, M.e, M.p, M.reset}
end
if not h[1] and not h[2] and not h[3] and not h[4] and not h[5] then
  if redis.call('EXISTS', KEYS[4]) == 0 then return {0, M.e, M.p, M.reset} end
  redis.call('UNLINK', KEYS[4]) -- a hash without any of our fields
  return {2, M.e, M.p, M.reset}
end
local a, ep = num(h[2]), num(h[3])
local deps = nil
if type(h[4]) == 'string' then deps = decode(h[4]) end
if type(h[1]) ~= 'string' or a == nil or ep == nil or deps == nil then
  redis.call('UNLINK', KEYS[4])
  return {2, M.e, M.p, M.reset}
end
if ep == M.e and a > M.p then -- no fill of this epoch can be ahead of it
  redis.call('UNLINK', KEYS[4])
  return {2, M.e, M.p, M.reset}
end
if ep ~= M.e or a < M.w then
  redis.call('UNLINK', KEYS[4])
  return {3, M.e, M.p, M.reset}
end
local members = {ARGV[1]}
for i = 1, #deps do members[i + 1] = 'd:' .. deps[i] end
if stale(members, a) then
  redis.call('UNLINK', KEYS[4])
  return {3, M.e, M.p, M.reset}
end
local pttl, timed = 0, 0
if h[5] then
  timed = 1
  pttl = redis.call('PTTL', KEYS[4])
end
return {1, M.e, M.p, M.reset, a, pttl, timed, h[1], h[4]}
`

// luaFill stores an entry if its fill position is still valid.
//
//	KEYS[4] the entry
//	ARGV[1] at.Epoch  ARGV[2] at.Pos  ARGV[3] value  ARGV[4] encoded deps
//	ARGV[5] lifetime in ms  ARGV[6] "1" if the fill gave a ttl  ARGV[7] "k:"..key
//
// It returns {status, epoch, pos, reset}. Status: 1 stored, 0 refused (another
// epoch), 3 refused (below the watermark), 4 refused (a tombstone above at.Pos),
// -1 at.Pos is ahead of the store, -2 the deps are malformed.
const luaFill = luaPrelude + `
meta()
local ae, ap = num(ARGV[1]), num(ARGV[2])
if ae == nil or ae ~= M.e then return {0, M.e, M.p, M.reset} end
if ap == nil or ap > M.p then return {-1, M.e, M.p, M.reset} end
if ap < M.w then return {3, M.e, M.p, M.reset} end
local deps = decode(ARGV[4])
if deps == nil then return {-2, M.e, M.p, M.reset} end
local members = {ARGV[7]}
for i = 1, #deps do members[i + 1] = 'd:' .. deps[i] end
if stale(members, ap) then return {4, M.e, M.p, M.reset} end
redis.call('UNLINK', KEYS[4])
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[4], 'v', ARGV[3], 'a', fmt(ap), 'p', fmt(M.e), 'd', ARGV[4], 't', '1')
else
  redis.call('HSET', KEYS[4], 'v', ARGV[3], 'a', fmt(ap), 'p', fmt(M.e), 'd', ARGV[4])
end
redis.call('PEXPIRE', KEYS[4], ARGV[5])
return {1, M.e, M.p, M.reset}
`

// luaInvalidate advances the position and records it as the tombstone of every
// dependency.
//
//	ARGV[1] retention (µs)  ARGV[2] mark interval (µs)  ARGV[3] prune limit
//	ARGV[4...] the dependencies
//
// It returns {epoch, pos, reset}.
const luaInvalidate = luaPrelude + `
meta()
M.p = redis.call('HINCRBY', KEYS[1], 'pos', '1')
zaddgt('d:', 4, M.p)
retain(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), true)
return {M.e, M.p, M.reset}
`

// luaDelete advances the position, records it as the tombstone of every key, and
// removes the keys' entries.
//
//	KEYS[4...] the entries
//	ARGV[1] retention (µs)  ARGV[2] mark interval (µs)  ARGV[3] prune limit
//	ARGV[4...] the keys, in the order of KEYS[4...]
//
// It returns {epoch, pos, reset}.
const luaDelete = luaPrelude + `
meta()
M.p = redis.call('HINCRBY', KEYS[1], 'pos', '1')
zaddgt('k:', 4, M.p)
for i = 4, #KEYS, 1000 do
  redis.call('UNLINK', unpack(KEYS, i, math.min(i + 999, #KEYS)))
end
retain(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), true)
return {M.e, M.p, M.reset}
`

// luaFlush starts a new epoch, keeping the position. It returns {epoch, pos, reset}.
const luaFlush = luaPrelude + `
meta()
newepoch(M.e, M.p)
return {M.e, M.p, M.reset}
`

// luaMonitor is the monitor's periodic check. It compares the server's run_id with
// the one recorded in meta by the server that last started an epoch; when they
// differ, the server restarted (and may have restored an old snapshot) or another
// server took over (from a replica that may lag), so it starts a new epoch. Then it
// applies the retention rule without pushing a mark.
//
//	ARGV[1] retention (µs)  ARGV[2] mark interval (µs)  ARGV[3] prune limit
//
// It returns {epoch, pos, reset, bumped, pruned, run_id, old run_id, version}.
const luaMonitor = luaPrelude + `
meta()
local rid, version = server()
local old = redis.call('HGET', KEYS[1], 'runid')
if type(old) ~= 'string' then old = '' end
local bumped = 0
if rid ~= '' and old ~= rid then
  newepoch(M.e, M.p)
  bumped = 1
end
local n = retain(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), false)
return {M.e, M.p, M.reset, bumped, n, rid, old, version}
`

// luaLease takes a lease: KEYS[1] the lease, ARGV[1] the token, ARGV[2] the ttl in
// ms. It returns {1, 0} when granted, else {0, ms left}. A lease key with no expiry
// (not written by a Store) is given the ttl, so that it lapses.
const luaLease = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  t = tonumber(ARGV[2])
end
return {0, t}
`

// luaRelease deletes KEYS[1] if it holds the token ARGV[1]. It returns 1 if it did.
const luaRelease = `
local ok, v = pcall(redis.call, 'GET', KEYS[1])
if ok and v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`

var (
	scriptPosition   = redis.NewScript(luaPosition)
	scriptGet        = redis.NewScript(luaGet)
	scriptFill       = redis.NewScript(luaFill)
	scriptInvalidate = redis.NewScript(luaInvalidate)
	scriptDelete     = redis.NewScript(luaDelete)
	scriptFlush      = redis.NewScript(luaFlush)
	scriptMonitor    = redis.NewScript(luaMonitor)
	scriptLease      = redis.NewScript(luaLease)
	scriptRelease    = redis.NewScript(luaRelease)
)
