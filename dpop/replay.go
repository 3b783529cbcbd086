package dpop

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// ReplayCache remembers accepted proofs until they expire, so a captured
// proof cannot be replayed while its iat is still acceptable. The Checker
// declares the interface; a Redis implementation serves several replicas.
type ReplayCache interface {
	// Remember records key until expires as one atomic check-and-set. It
	// returns ErrReplay if key is already recorded and unexpired at now,
	// and ErrReplayCacheFull if it cannot record key. It must never forget
	// an unexpired key to make room: eviction would re-open the replay.
	Remember(ctx context.Context, now time.Time, key string, expires time.Time) error
}

// DefaultReplayCapacity is the capacity NewChecker gives the in-memory cache
// when Config.Replay is nil. At the default 60 s window it admits about
// 1,600 proofs per second before failing closed; each entry costs roughly
// 150 bytes.
const DefaultReplayCapacity = 100_000

// MemoryReplayCache is a bounded in-memory ReplayCache for one process.
// Expired entries are swept, earliest expiry first, on every call; when it
// holds capacity unexpired entries it refuses new ones with
// ErrReplayCacheFull rather than evicting any.
//
// Create it with NewMemoryReplayCache; the zero value has capacity 0 and
// refuses everything. It is safe for concurrent use.
type MemoryReplayCache struct {
	mu       sync.Mutex
	capacity int
	entries  map[string]int64 // key -> expiry (Unix nanoseconds)
	byExpiry expiryHeap       // one element per entry
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// NewMemoryReplayCache returns a cache holding at most capacity unexpired
// entries.
func NewMemoryReplayCache(capacity int) *MemoryReplayCache {
	return &MemoryReplayCache{capacity: capacity, entries: make(map[string]int64)}
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
	if c.entries == nil {
		c.entries = make(map[string]int64)
	}
	exp := expires.UnixNano()
	c.entries[key] = exp
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
