// Package redisstore provides the guard's shared state in Redis, so that
// several credshield replicas enforce one budget per client: a limit.Store
// (Limiter), the challenge and DPoP replay caches, the guard's known
// networks, the attack detector's counts (DetectorCounts), and Failover,
// which falls back to divided local budgets while Redis cannot be reached
// (with FailoverKnownNetworks and the Failover replay caches following it:
// local known networks, refused replays).
//
// It works with single-node or Sentinel Redis through a
// redis.UniversalClient. Redis Cluster is out of scope: one Reserve touches
// several keys in one Lua script, and a script's keys must share one hash
// slot, which unrelated client keys do not.
//
// Every key carries a TTL, so Redis memory follows activity. The entries
// that must not be dropped early (spent challenges, DPoP proofs) rely on
// Redis refusing writes rather than evicting: run Redis with
// maxmemory-policy noeviction. Every policy that evicts (allkeys-* and
// volatile-*, volatile-ttl included, since all these keys have TTLs) could
// drop a spent nonce and reopen its replay; with noeviction a full Redis
// makes writes fail with OOM, which the caches report as full.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/limit"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when a Config leaves it empty.
const DefaultPrefix = "credshield:"

// MaxPeriod is the longest Limit.Period the Limiter accepts. Lua numbers
// are doubles, exact to 2^53; the script works in nanoseconds relative to
// now, so a key's TAT may run at most 2^52 ns (about 52 days) ahead.
const MaxPeriod = time.Duration(1 << 52)

// ttlMargin is added to every key's TTL beyond its TAT, so a key is never
// expired while it still holds a penalty, whatever rounding to
// milliseconds does.
const ttlMargin = time.Second

// reserveScript evaluates and reserves all keys atomically.
//
// KEYS: one per request. ARGV[1], ARGV[2]: now as seconds and nanoseconds
// within the second, or empty strings to use the server's TIME. Then per
// request its interval T and tolerance B*T in ns.
//
// It returns {allowed, cur_1, ..., cur_n}: allowed is 1 or 0, cur_i the
// TAT request i started from, in ns relative to now and at least 0 (a
// repeated key starts where its previous request left it). Allowed
// requests are written with their new TAT and a PX TTL; denied Reserves
// write nothing.
const luaPrelude = `
if redis.replicate_commands then redis.replicate_commands() end
local now_s, now_f
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_s, now_f = tonumber(t[1]), tonumber(t[2]) * 1000
else
  now_s, now_f = tonumber(ARGV[1]), tonumber(ARGV[2])
end
-- rel reads a stored absolute TAT (decimal ns) as ns after now.
local function rel(v)
  if not v then return nil end
  local n = #v
  local s, f = 0, tonumber(v)
  if n > 9 then
    s = tonumber(string.sub(v, 1, n - 9))
    f = tonumber(string.sub(v, n - 8))
  end
  local d = s - now_s
  if d < -4000000 then return -4000000000000000 end
  if d > 4000000 then d = 4000000 end
  return d * 1000000000 + (f - now_f)
end
-- put stores a TAT r ns after now (r > 0), expiring a margin after it.
local function put(k, r)
  local t = now_f + r
  local s = now_s + math.floor(t / 1000000000)
  local f = t % 1000000000
  local px = math.ceil(r / 1000000) + ARGV[3]
  redis.call('SET', k, string.format('%d%09d', s, f), 'PX', string.format('%d', px))
end
`

// luaReserve defines reserve(ks, as): the body of reserveScript over the
// keys KEYS[ks[1]], KEYS[ks[2]]..., whose interval and tolerance are
// ARGV[as[i]] and ARGV[as[i] + 1], so that reserveKnownScript runs the
// very same decision.
const luaReserve = `
local function reserve(ks, as)
  local n = #ks
  local out = {1}
  local seen = {}
  local mk = {}
  for i = 1, n do mk[i] = KEYS[ks[i]] end
  -- One MGET instead of a GET per key: each redis.call from Lua has a
  -- fixed cost that a refused login pays once per key.
  local vals = {}
  if n > 0 then vals = redis.call('MGET', unpack(mk)) end
  for i = 1, n do
    local T, tol = tonumber(ARGV[as[i]]), tonumber(ARGV[as[i] + 1])
    local k = mk[i]
    local cur = seen[k]
    if cur == nil then
      cur = rel(vals[i]) or 0
      if cur < 0 then cur = 0 end
    end
    out[i + 1] = cur
    if cur + T <= tol then
      seen[k] = cur + T
    else
      out[1] = 0
      seen[k] = cur
    end
  end
  if out[1] == 1 then
    for k, r in pairs(seen) do put(k, r) end
  end
  return out
end
`

var reserveScript = redis.NewScript(luaPrelude + luaReserve + `
local ks, as = {}, {}
for i = 1, #KEYS do ks[i], as[i] = i, 2 + 2*i end
return reserve(ks, as)
`)

// reserveKnownScript is KnownNetworks.Known and reserveScript in one
// round trip. KEYS[1] is the pair's known-network key, KEYS[2..n+1] the
// keys to reserve when it is not known, then the keys only the known
// set has. ARGV[1..3] as reserveScript; ARGV[4] is n; ARGV[5] the
// caller's now in Unix ns (KnownNetworks compares its entries with the
// caller's clock); ARGV[6] is m, the number of keys to reserve when the
// pair is known, and ARGV[7..m+6] their indexes in KEYS; then the
// interval and tolerance of KEYS[2], KEYS[3]... in order. It returns
// reserveScript's answer with known (1 or 0) in front.
//
// The stored value and ARGV[5] are decimal integers, compared as
// strings: Lua's doubles are not exact at 19 digits.
var reserveKnownScript = redis.NewScript(luaPrelude + luaReserve + `
-- gt(a, b) is a > b for decimal integers without leading zeros.
local function gt(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return nb end
  if a == b then return false end
  local c
  if #a ~= #b then c = #a > #b else c = a > b end
  if na then return not c end
  return c
end
local v = redis.call('GET', KEYS[1])
local known = v and gt(v, ARGV[5])
local n, m = tonumber(ARGV[4]), tonumber(ARGV[6])
local base = 7 + m
local ks, as = {}, {}
if known then
  for i = 1, m do
    local j = tonumber(ARGV[6 + i])
    ks[i], as[i] = j, base + 2*(j - 2)
  end
else
  for i = 1, n do ks[i], as[i] = 1 + i, base + 2*(i - 1) end
end
local out = reserve(ks, as)
table.insert(out, 1, known and 1 or 0)
return out
`)

// refundScript gives one unit back per key still held. KEYS and ARGV as
// reserveScript, with ARGV[4], ARGV[6], ... the intervals (the tolerances
// are ignored). A key that falls back to now is deleted: idle keys hold
// their full budget, so that is exact.
var refundScript = redis.NewScript(luaPrelude + `
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 + 2*i])
  local k = KEYS[i]
  local cur = rel(redis.call('GET', k))
  if cur ~= nil then
    cur = cur - T
    if cur > 0 then put(k, cur) else redis.call('DEL', k) end
  end
end
return 1
`)

// Config configures NewLimiter.
type Config struct {
	// Prefix starts every key, so one Redis can serve several
	// deployments or tests. Empty means DefaultPrefix.
	Prefix string
}

// Limiter is a limit.Store in Redis, shared by every replica using the
// same Redis and Prefix. Each Reserve and each Refund is one Lua script
// (EVALSHA, falling back to EVAL once when Redis does not hold it yet):
// one round trip, atomic over all its keys.
//
// Decisions use the Redis server's clock (TIME), so replicas whose clocks
// disagree still share one budget: the now passed to Reserve and Refund
// is ignored.
//
// A key is stored as Prefix + "l:" + the unpadded base64url of the first
// 16 bytes of SHA-256(burst, period, key): the Limit is part of the
// identity as in limit.Memory, usernames and addresses are not stored in
// clear, and keys have a fixed length whatever clients send. The value is
// the TAT in Unix nanoseconds, with a TTL of TAT - now plus a second.
//
// Create one with NewLimiter; the zero value is not usable. A Limiter is
// safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	// callerNow makes the scripts use the now argument instead of the
	// server's clock, so tests can compare decisions with limit.Memory.
	callerNow bool
	// margin is added to every TTL; ttlMargin unless a test changes it.
	margin time.Duration
}

var _ limit.Store = (*Limiter)(nil)

// NewLimiter returns a Limiter over rdb.
func NewLimiter(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	return &Limiter{rdb: rdb, prefix: prefixOr(cfg.Prefix), margin: ttlMargin}, nil
}

func prefixOr(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// Reserve implements limit.Store.
func (l *Limiter) Reserve(ctx context.Context, now time.Time, reqs []limit.Request) (limit.Result, error) {
	keys, args, err := l.scriptArgs(now, reqs)
	if err != nil {
		return limit.Result{}, err
	}
	vals, err := reserveScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		return limit.Result{}, fmt.Errorf("redisstore: reserve: %w", err)
	}
	return reserveResult(reqs, vals)
}

// ReserveKnown implements guard.KnownReserver for a Limiter and the
// KnownNetworks known in the same Redis: the pair's lookup and the
// Reserve of ifKnown or ifUnknown in one script, one round trip.
func (l *Limiter) ReserveKnown(ctx context.Context, now time.Time, kn *KnownNetworks, username string, network netip.Prefix, ifUnknown, ifKnown []limit.Request) (bool, limit.Result, error) {
	// The two sets share all but a key or two: each key is named, hashed
	// and sent once, and the known set refers to it by its index.
	keys, args, err := l.scriptArgs(now, ifUnknown)
	if err != nil {
		return false, limit.Result{}, err
	}
	n := len(keys)
	idx := make([]any, len(ifKnown))
	var extra []limit.Request
	for i, r := range ifKnown {
		j := slices.Index(ifUnknown, r)
		if j < 0 {
			j = n + len(extra)
			extra = append(extra, r)
		}
		idx[i] = strconv.Itoa(j + 2) // KEYS[1] is the known-network key
	}
	ekeys, eargs, err := l.scriptArgs(now, extra)
	if err != nil {
		return false, limit.Result{}, err
	}
	all := make([]any, 0, 6+len(idx)+len(args)-3+len(eargs)-3)
	all = append(all, args[:3]...)
	all = append(all, strconv.Itoa(n), strconv.FormatInt(now.UnixNano(), 10), strconv.Itoa(len(idx)))
	all = append(append(append(all, idx...), args[3:]...), eargs[3:]...)
	keys = append(append([]string{kn.key(username, network)}, keys...), ekeys...)
	vals, err := reserveKnownScript.Run(ctx, l.rdb, keys, all...).Int64Slice()
	if err != nil {
		return false, limit.Result{}, fmt.Errorf("redisstore: known networks and reserve: %w", err)
	}
	if len(vals) == 0 {
		return false, limit.Result{}, errors.New("redisstore: known networks and reserve: empty answer")
	}
	known, reqs := vals[0] == 1, ifUnknown
	if known {
		reqs = ifKnown
	}
	res, err := reserveResult(reqs, vals[1:])
	return known, res, err
}

// reserveResult reads reserveScript's answer vals to reqs.
func reserveResult(reqs []limit.Request, vals []int64) (limit.Result, error) {
	if len(vals) != len(reqs)+1 {
		return limit.Result{}, fmt.Errorf("redisstore: reserve: script returned %d values for %d keys", len(vals), len(reqs))
	}
	res := limit.Result{Allowed: vals[0] == 1, Denied: -1, Keys: make([]limit.KeyResult, len(reqs))}
	for i, r := range reqs {
		cur := vals[i+1]
		t, tol := interval(r.Limit), interval(r.Limit)*int64(r.Limit.Burst)
		ok := cur+t <= tol
		if res.Allowed {
			res.Keys[i] = state(r.Limit, cur+t, true)
			continue
		}
		res.Keys[i] = state(r.Limit, cur, ok)
		if !ok {
			if res.Denied < 0 {
				res.Denied = i
			}
			res.RetryAfter = max(res.RetryAfter, res.Keys[i].RetryAfter)
		}
	}
	return res, nil
}

// Refund implements limit.Store. Keys that expired are skipped: they are
// back at their full budget already.
func (l *Limiter) Refund(ctx context.Context, now time.Time, reqs []limit.Request) error {
	keys, args, err := l.scriptArgs(now, reqs)
	if err != nil {
		return err
	}
	if err := refundScript.Run(ctx, l.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("redisstore: refund: %w", err)
	}
	return nil
}

// scriptArgs validates reqs and builds the scripts' KEYS and ARGV.
func (l *Limiter) scriptArgs(now time.Time, reqs []limit.Request) ([]string, []any, error) {
	keys := make([]string, len(reqs))
	args := make([]any, 3, 3+2*len(reqs))
	args[0], args[1] = "", ""
	if l.callerNow {
		ns := now.UnixNano()
		args[0], args[1] = strconv.FormatInt(ns/1e9, 10), strconv.FormatInt(ns%1e9, 10)
	}
	args[2] = strconv.FormatInt(l.margin.Milliseconds(), 10)
	for i, r := range reqs {
		if r.Limit.Burst < 1 || r.Limit.Period <= 0 || r.Limit.Period > MaxPeriod {
			return nil, nil, fmt.Errorf("redisstore: request %d: burst %d per %v (period at most %v): %w", i, r.Limit.Burst, r.Limit.Period, MaxPeriod, limit.ErrInvalidLimit)
		}
		keys[i] = l.limitKey(r)
		t := interval(r.Limit)
		args = append(args, strconv.FormatInt(t, 10), strconv.FormatInt(t*int64(r.Limit.Burst), 10))
	}
	return keys, args, nil
}

// limitKey names r's key in Redis (see Limiter).
func (l *Limiter) limitKey(r limit.Request) string {
	// On the stack for every key of a usual length: this runs for each
	// key of each login.
	var in [128]byte
	b := binary.BigEndian.AppendUint64(in[:0], uint64(r.Limit.Burst))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Limit.Period))
	sum := sha256.Sum256(append(b, r.Key...))
	var out [64]byte
	k := append(append(out[:0], l.prefix...), "l:"...)
	return string(base64.RawURLEncoding.AppendEncode(k, sum[:16]))
}

// interval is limit's emission interval in ns, as limit.Limit computes it.
func interval(l limit.Limit) int64 {
	return max(int64(l.Period)/int64(l.Burst), 1)
}

// state describes a key whose TAT is tat ns after now (clamped at now),
// exactly as limit.Memory does.
func state(l limit.Limit, tat int64, ok bool) limit.KeyResult {
	t := interval(l)
	tol := t * int64(l.Burst)
	tat = max(tat, 0)
	kr := limit.KeyResult{
		OK:         ok,
		Remaining:  int(max((tol-tat)/t, 0)),
		ResetAfter: time.Duration(tat),
	}
	if kr.Remaining == 0 {
		kr.RetryAfter = time.Duration(tat + t - tol)
	}
	return kr
}
