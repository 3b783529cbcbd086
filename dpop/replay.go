package dpop

import (
	"container/heap"
	"context"
	"strings"
	"sync"
	"time"
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

// MemoryReplayCache is a bounded in-memory ReplayCache for one process.
// Expired entries are swept, earliest expiry first, on every call; when it
// holds capacity unexpired entries it refuses new ones with
// ErrReplayCacheFull rather than evicting any, and when one proof key
// (ReplayScope) holds 1/ReplayShare of capacity it refuses that key's new
// ones with ErrReplayQuota.
//
// Create it with NewMemoryReplayCache; the zero value has capacity 0 and
// refuses everything. It is safe for concurrent use.
type MemoryReplayCache struct {
	mu       sync.Mutex
	capacity int
	perScope int
	entries  map[string]int64 // key -> expiry (Unix nanoseconds)
	scopes   map[string]int   // scope -> unexpired entries; requires mu held
	byExpiry expiryHeap       // one element per entry
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// NewMemoryReplayCache returns a cache holding at most capacity unexpired
// entries.
func NewMemoryReplayCache(capacity int) *MemoryReplayCache {
	return &MemoryReplayCache{capacity: capacity, perScope: max(capacity/ReplayShare, 1),
		entries: make(map[string]int64), scopes: make(map[string]int)}
}

// Remember implements ReplayCache. An entry whose expires is not after now
// is already expired and is not recorded.
func (c *MemoryReplayCache) Remember(_ context.Context, now time.Time, key string, expires time.Time) error {
	if !expires.After(now) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now.UnixNano())
	if _, ok := c.entries[key]; ok {
		return ErrReplay // every entry left after the sweep is unexpired
	}
	if len(c.entries) >= c.capacity {
		return ErrReplayCacheFull
	}
	scope := ReplayScope(key)
	if scope != "" && c.scopes[scope] >= c.perScope {
		return ErrReplayQuota
	}
	exp := expires.UnixNano()
	c.entries[key] = exp
	if scope != "" {
		c.scopes[scope]++
	}
	heap.Push(&c.byExpiry, expiryEntry{key: key, exp: exp})
	return nil
}

// Len reports how many entries the cache holds, expired ones not yet swept
// included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// sweepLocked drops every entry expired at now. Requires c.mu held.
func (c *MemoryReplayCache) sweepLocked(now int64) {
	for len(c.byExpiry) > 0 && c.byExpiry[0].exp <= now {
		e := heap.Pop(&c.byExpiry).(expiryEntry)
		delete(c.entries, e.key)
		if scope := ReplayScope(e.key); scope != "" {
			if c.scopes[scope]--; c.scopes[scope] <= 0 {
				delete(c.scopes, scope)
			}
		}
	}
}

// expiryEntry is one heap element.
type expiryEntry struct {
	key string
	exp int64
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}
