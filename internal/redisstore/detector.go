package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/redis/go-redis/v9"
)

// countsScript adds to the current detector bucket and reads the window
// in one round trip. The bucket comes from the Redis server's TIME, so
// replicas whose clocks disagree still add to the same bucket.
//
// KEYS[1]: the key prefix of the buckets (a bucket is KEYS[1] .. index,
// a hash with fields f and u). ARGV: bucket width in ms, buckets in the
// window, failures, unknown. Returns {f_1, u_1, ..., f_n, u_n}, oldest
// first. Bucket keys are derived inside the script, which is fine on one
// node or Sentinel; Redis Cluster is out of scope (see the package doc).
var countsScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local bms = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local f, u = tonumber(ARGV[3]), tonumber(ARGV[4])
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = math.floor(now_ms / bms)
if f > 0 or u > 0 then
  local k = KEYS[1] .. string.format('%d', cur)
  if f > 0 then redis.call('HINCRBY', k, 'f', f) end
  if u > 0 then redis.call('HINCRBY', k, 'u', u) end
  redis.call('PEXPIRE', k, bms * (n + 1))
end
local out = {}
for i = cur - n + 1, cur do
  local v = redis.call('HMGET', KEYS[1] .. string.format('%d', i), 'f', 'u')
  out[#out + 1] = tonumber(v[1]) or 0
  out[#out + 1] = tonumber(v[2]) or 0
end
return out
`)

// DetectorCounts is a guard.SharedCounts in Redis: one hash per detector
// bucket (Prefix + "dc:" + bucket width + ":" + index, fields f and u),
// added to with HINCRBY and expiring one window after its bucket ends,
// so every replica's attack detector sees the failures of all. It follows
// a Failover: while that is degraded it answers ErrUnavailable at once,
// and the detectors count locally until Redis is back. A detector calls
// Add only from its own goroutine (guard.Detector.Run), never on a login,
// so a Redis that hangs delays the shared view, not the logins.
//
// Create one with NewDetectorCounts; it is safe for concurrent use.
type DetectorCounts struct {
	rdb    redis.UniversalClient
	prefix string
	f      *Failover
}

var _ guard.SharedCounts = (*DetectorCounts)(nil)

// NewDetectorCounts returns a DetectorCounts over rdb following f (nil:
// always try Redis); prefix as in Config.
func NewDetectorCounts(rdb redis.UniversalClient, prefix string, f *Failover) (*DetectorCounts, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	return &DetectorCounts{rdb: rdb, prefix: prefixOr(prefix), f: f}, nil
}

// Add implements guard.SharedCounts. The current bucket is Redis's, not
// now's.
func (d *DetectorCounts) Add(ctx context.Context, _ time.Time, bucket time.Duration, n, failures, unknown int) ([]guard.BucketCount, error) {
	ms := bucket.Milliseconds()
	if ms < 1 || n < 1 || failures < 0 || unknown < 0 {
		return nil, fmt.Errorf("redisstore: detector counts: bucket %v, %d buckets, %d failures, %d unknown", bucket, n, failures, unknown)
	}
	if d.f != nil && !d.f.healthy() {
		return nil, fmt.Errorf("redisstore: detector counts: %w", ErrUnavailable)
	}
	var vals []int64
	call := func(ctx context.Context) (err error) {
		key := d.prefix + "dc:" + strconv.FormatInt(ms, 10) + ":"
		vals, err = countsScript.Run(ctx, d.rdb, []string{key}, ms, n, failures, unknown).Int64Slice()
		return err
	}
	var err error
	if d.f != nil {
		err = d.f.callPrimary(ctx, call)
	} else {
		err = call(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: detector counts: %w", err)
	}
	if len(vals) != 2*n {
		return nil, fmt.Errorf("redisstore: detector counts: script returned %d values for %d buckets", len(vals), n)
	}
	out := make([]guard.BucketCount, n)
	for i := range out {
		out[i] = guard.BucketCount{Failures: int(vals[2*i]), Unknown: int(vals[2*i+1])}
	}
	return out, nil
}
