package redisstore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/redis/go-redis/v9"
)

// fullFraction is how close used_memory may come to maxmemory before
// ChallengeReplay.Full says the cache is full.
const fullFraction = 0.95

// ChallengeReplay is a challenge.ReplayCache in Redis, shared by every
// replica: each spent nonce is a key set with SET NX and a PX expiry at
// the challenge's expiry, so the first replica to see it wins and Redis
// forgets it when it can no longer be replayed. With maxmemory-policy
// noeviction (see the package documentation) no entry is dropped early;
// a Redis out of memory refuses the SET, which Seen reports as
// challenge.ErrReplayCacheFull.
//
// Create one with NewChallengeReplay; it is safe for concurrent use.
type ChallengeReplay struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ challenge.ReplayCache = (*ChallengeReplay)(nil)

// NewChallengeReplay returns a ChallengeReplay over rdb; prefix as in
// Config.
func NewChallengeReplay(rdb redis.UniversalClient, prefix string) *ChallengeReplay {
	return &ChallengeReplay{rdb: rdb, prefix: prefixOr(prefix)}
}

// Seen implements challenge.ReplayCache. The expiry is computed from the
// caller's now, so a replica whose clock runs behind keeps a nonce a
// little longer, never shorter than its own check of the expiry needs.
func (c *ChallengeReplay) Seen(ctx context.Context, now time.Time, nonce []byte, expires time.Time) (bool, error) {
	if len(nonce) != challenge.NonceSize {
		return false, fmt.Errorf("redisstore: challenge nonce of %d bytes, want %d", len(nonce), challenge.NonceSize)
	}
	key := c.prefix + "cn:" + base64.RawURLEncoding.EncodeToString(nonce)
	ok, err := c.rdb.SetNX(ctx, key, 1, ttl(now, expires)).Result()
	if err != nil {
		if isOOM(err) {
			return false, fmt.Errorf("redisstore: challenge replay: %w", challenge.ErrReplayCacheFull)
		}
		return false, fmt.Errorf("redisstore: challenge replay: %w", err)
	}
	return ok, nil
}

// Full implements challenge.ReplayCache: it reports whether Redis has a
// maxmemory and uses 95% of it or more (one INFO memory round trip).
// Without a maxmemory Redis is never full as far as it can tell.
func (c *ChallengeReplay) Full(ctx context.Context, _ time.Time) (bool, error) {
	info, err := c.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: challenge replay: info: %w", err)
	}
	used, maxMem := infoField(info, "used_memory"), infoField(info, "maxmemory")
	return maxMem > 0 && float64(used) >= fullFraction*float64(maxMem), nil
}

// infoField returns an integer field of an INFO reply, or 0.
func infoField(info, name string) int64 {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && k == name {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// DPoPReplay is a dpop.ReplayCache in Redis, shared by every replica:
// SET NX with a PX expiry, as ChallengeReplay. Keys are hashed (SHA-256,
// 16 bytes) so their length is fixed whatever a client sends. Each proof
// key's unexpired entries are also listed in a sorted set by expiry, and
// past perKey of them that key's new proofs are refused with
// dpop.ErrReplayQuota: Redis's memory, which the guard's budgets share,
// cannot be filled by one token holder.
//
// Create one with NewDPoPReplay; it is safe for concurrent use.
type DPoPReplay struct {
	rdb    redis.UniversalClient
	prefix string
	perKey int
}

var _ dpop.ReplayCache = (*DPoPReplay)(nil)

// NewDPoPReplay returns a DPoPReplay over rdb that keeps at most
// dpop.DefaultReplayPerKey unexpired proofs per proof key; prefix as in
// Config.
func NewDPoPReplay(rdb redis.UniversalClient, prefix string) *DPoPReplay {
	return &DPoPReplay{rdb: rdb, prefix: prefixOr(prefix), perKey: dpop.DefaultReplayPerKey}
}

// dpopRememberScript records one proof (KEYS[1], for ARGV[2] ms) and
// lists it in its proof key's set (KEYS[2], scored by expiry ARGV[3] on
// the caller's clock ARGV[1]) unless it is recorded already (0) or the set
// holds ARGV[4] unexpired entries (-1). Both keys share a hash tag, so
// the script touches one cluster slot.
var dpopRememberScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`)

// Remember implements dpop.ReplayCache. An entry whose expires is not
// after now is already expired and is not recorded. A key without a
// proof-key part (dpop.ReplayScope) is recorded without a quota.
func (c *DPoPReplay) Remember(ctx context.Context, now time.Time, key string, expires time.Time) error {
	if !expires.After(now) {
		return nil
	}
	scope := dpop.ReplayScope(key)
	var res int64
	var err error
	if scope == "" {
		var ok bool
		if ok, err = c.rdb.SetNX(ctx, c.prefix+"dp:"+hashKey(key), 1, ttl(now, expires)).Result(); ok {
			res = 1
		}
	} else {
		tag := "{" + hashKey(scope) + "}"
		keys := []string{c.prefix + "dp:" + tag + hashKey(key), c.prefix + "dpk:" + tag}
		res, err = dpopRememberScript.Run(ctx, c.rdb, keys, now.UnixMilli(), ttl(now, expires).Milliseconds(), expires.UnixMilli(), c.perKey).Int64()
	}
	switch {
	case err != nil && isOOM(err):
		return fmt.Errorf("redisstore: dpop replay: %w", dpop.ErrReplayCacheFull)
	case err != nil:
		return fmt.Errorf("redisstore: dpop replay: %w", err)
	case res == 0:
		return dpop.ErrReplay
	case res < 0:
		return dpop.ErrReplayQuota
	}
	return nil
}

// KnownNetworks is a guard.KnownNetworks in Redis, shared by every
// replica: one key per (user, network) pair, hashed (SHA-256, 16 bytes) so
// usernames are not stored in clear, holding the Unix nanosecond it is
// known until and expiring then. Remember overwrites, so the latest call
// wins (the guard always remembers until now plus a fixed TTL).
//
// Create one with NewKnownNetworks; it is safe for concurrent use.
type KnownNetworks struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ guard.KnownNetworks = (*KnownNetworks)(nil)

// NewKnownNetworks returns a KnownNetworks over rdb; prefix as in Config.
func NewKnownNetworks(rdb redis.UniversalClient, prefix string) *KnownNetworks {
	return &KnownNetworks{rdb: rdb, prefix: prefixOr(prefix)}
}

func (k *KnownNetworks) key(username string, network netip.Prefix) string {
	return k.prefix + "kn:" + hashKey(username+"\x00"+network.Masked().String())
}

// Known implements guard.KnownNetworks.
func (k *KnownNetworks) Known(ctx context.Context, now time.Time, username string, network netip.Prefix) (bool, error) {
	v, err := k.rdb.Get(ctx, k.key(username, network)).Int64()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: known networks: %w", err)
	}
	return now.UnixNano() < v, nil
}

// Remember implements guard.KnownNetworks. An until not after now
// records nothing.
func (k *KnownNetworks) Remember(ctx context.Context, now time.Time, username string, network netip.Prefix, until time.Time) error {
	if !until.After(now) {
		return nil
	}
	if err := k.rdb.Set(ctx, k.key(username, network), until.UnixNano(), ttl(now, until)).Err(); err != nil {
		return fmt.Errorf("redisstore: known networks: %w", err)
	}
	return nil
}

// ttl is the PX expiry of an entry kept from now until expires: at least
// a millisecond, rounded up so it never ends early.
func ttl(now, expires time.Time) time.Duration {
	d := expires.Sub(now)
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d.Truncate(time.Millisecond) + time.Millisecond
}

// hashKey is the unpadded base64url of the first 16 bytes of SHA-256(s).
func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// isOOM reports whether err is Redis refusing a write for lack of memory.
func isOOM(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM ")
}
