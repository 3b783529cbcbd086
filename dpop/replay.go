package dpop

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/replay"
)

// ReplayCache remembers accepted proofs until they expire, so a captured
// proof cannot be replayed while its iat is still acceptable. The Checker
// declares the interface; a Redis implementation serves several replicas.
//
// The Checker's keys are two unpadded base64url fields joined by a dot:
// the first names the proof's key (a hash of its thumbprint), the second
// the proof. An implementation should bound how many unexpired entries
// share one first field (ReplayScope) and refuse more with ErrReplayQuota:
// otherwise one token holder, sending fresh proofs as fast as it can,
// fills the cache and every other DPoP client is refused.
type ReplayCache interface {
	// Remember records key until expires as one atomic check-and-set. It
	// returns ErrReplay if key is already recorded and unexpired at now,
	// ErrReplayQuota if key's scope holds its share, and
	// ErrReplayCacheFull if it cannot record key. It must never forget an
	// unexpired key to make room: eviction would re-open the replay.
	Remember(ctx context.Context, now time.Time, key string, expires time.Time) error
}

// ReplayScope returns the part of a replay-cache key that names the
// proof's key, "" for a key without one.
func ReplayScope(key string) string {
	scope, _, ok := strings.Cut(key, ".")
	if !ok {
		return ""
	}
	return scope
}

// ReplayShare is the share of a MemoryReplayCache one proof key may hold:
// 1/ReplayShare of its capacity. Fifty keys at their share fill it; one
// cannot.
const ReplayShare = 50

// DefaultReplayPerKey is how many unexpired proofs of one key a cache
// without a capacity of its own (Redis) remembers: the share one key has
// of a MemoryReplayCache of DefaultReplayCapacity, about 33 requests a
// second for the default 60 s window.
const DefaultReplayPerKey = DefaultReplayCapacity / ReplayShare

// DefaultReplayCapacity is the capacity NewChecker gives the in-memory cache
// when Config.Replay is nil. At the default 60 s window it admits about
// 1,600 proofs per second before failing closed; each entry costs roughly
// 150 bytes.
const DefaultReplayCapacity = 100_000

// MemoryReplayCache is a bounded in-memory ReplayCache for one process,
// over the bounded cache the challenge replay cache also uses.
// Expired entries are swept, earliest expiry first, on every call; when it
// holds capacity unexpired entries it refuses new ones with
// ErrReplayCacheFull rather than evicting any, and when one proof key
// (ReplayScope) holds 1/ReplayShare of capacity it refuses that key's new
// ones with ErrReplayQuota.
//
// Create it with NewMemoryReplayCache; the zero value has capacity 0 and
// refuses everything. It is safe for concurrent use.
type MemoryReplayCache struct {
	proofs *replay.Cache[string] // nil in the zero value: capacity 0
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// NewMemoryReplayCache returns a cache holding at most capacity unexpired
// entries.
func NewMemoryReplayCache(capacity int) *MemoryReplayCache {
	return &MemoryReplayCache{proofs: replay.New(capacity,
		replay.Quota[string]{Scope: ReplayScope, Max: max(capacity/ReplayShare, 1)})}
}

// Remember implements ReplayCache. An entry whose expires is not after now
// is already expired and is not recorded.
func (c *MemoryReplayCache) Remember(_ context.Context, now time.Time, key string, expires time.Time) error {
	if !expires.After(now) {
		return nil
	}
	switch err := c.proofs.Add(now, key, expires); {
	case errors.Is(err, replay.ErrSeen):
		return ErrReplay
	case errors.Is(err, replay.ErrFull):
		return ErrReplayCacheFull
	case errors.Is(err, replay.ErrQuota):
		return ErrReplayQuota
	default:
		return err
	}
}

// Len reports how many entries the cache holds, expired ones not yet swept
// included.
func (c *MemoryReplayCache) Len() int { return c.proofs.Stored() }
