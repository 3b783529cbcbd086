// Package replay is a bounded in-memory replay cache: it remembers keys
// (spent challenge nonces, accepted DPoP proofs) until they expire, so the
// same one is accepted once. One process, one Cache; several replicas
// share a Redis implementation of their package's interface instead.
//
// # Never evict before expiry
//
// A cache that dropped a live key to make room would accept its replay,
// so a flood of fresh keys would re-open the replay of a captured one.
// A full Cache refuses new keys (ErrFull) until some expire; callers fail
// closed on it. Expired keys are swept, soonest expiry first, on every
// call, so a full cache frees itself as time passes, and memory is bounded
// by the capacity whatever is sent.
//
// A Quota bounds how many live keys one scope (one DPoP proof key) holds,
// so one sender cannot fill the cache and lock everyone else out.
//
// Time is a parameter of every call: tests step through it and never
// sleep.
package replay

import (
	"container/heap"
	"errors"
	"sync"
	"time"
)

var (
	// ErrSeen means the key is remembered and unexpired: a replay.
	ErrSeen = errors.New("replay: already seen")
	// ErrFull means the cache holds its capacity of unexpired keys.
	ErrFull = errors.New("replay: cache full")
	// ErrQuota means the key's scope holds its quota of unexpired keys.
	ErrQuota = errors.New("replay: scope quota reached")
)

// Quota bounds the unexpired keys that share a scope. Scope names a key's
// scope, "" for none (no bound); Max is the bound. The zero Quota bounds
// nothing.
type Quota[K comparable] struct {
	Scope func(K) string
	Max   int
}

// Cache remembers up to a fixed number of unexpired keys, each until its
// own expiry. Create one with New. A nil *Cache has capacity 0: it refuses
// every key with ErrFull. A Cache is safe for concurrent use.
type Cache[K comparable] struct {
	mu       sync.Mutex
	capacity int
	quota    Quota[K]
	entries  map[K]struct{} // requires mu held
	scopes   map[string]int // scope -> unexpired entries; requires mu held
	byExpiry expiryHeap[K]  // the same entries, soonest expiry first; requires mu held
}

// New returns an empty Cache holding at most capacity unexpired keys,
// bounded per scope by q.
func New[K comparable](capacity int, q Quota[K]) *Cache[K] {
	return &Cache[K]{capacity: capacity, quota: q, entries: make(map[K]struct{}), scopes: make(map[string]int)}
}

// Add remembers key until expires as one atomic check-and-set at now. It
// returns nil for a key it had not seen, ErrSeen for one remembered and
// unexpired, ErrFull when it holds its capacity, ErrQuota when the key's
// scope holds its quota. A key already expired at now (expires not after
// now) is answered like any other but not stored: from its expiry on it
// need not be remembered.
func (c *Cache[K]) Add(now time.Time, key K, expires time.Time) error {
	if c == nil {
		return ErrFull
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if _, ok := c.entries[key]; ok {
		return ErrSeen // every entry left after the sweep is unexpired
	}
	if len(c.entries) >= c.capacity {
		return ErrFull
	}
	if !expires.After(now) {
		return nil
	}
	scope := c.scopeOf(key)
	if scope != "" && c.scopes[scope] >= c.quota.Max {
		return ErrQuota
	}
	c.entries[key] = struct{}{}
	if scope != "" {
		c.scopes[scope]++
	}
	heap.Push(&c.byExpiry, entry[K]{expires: expires.UnixNano(), key: key})
	return nil
}

// Full reports whether the cache holds its capacity of keys unexpired at
// now.
func (c *Cache[K]) Full(now time.Time) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	return len(c.entries) >= c.capacity
}

// Len returns the number of keys unexpired at now, for metrics.
func (c *Cache[K]) Len(now time.Time) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	return len(c.entries)
}

// Stored returns the number of keys stored, expired ones the last call did
// not sweep included.
func (c *Cache[K]) Stored() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache[K]) scopeOf(key K) string {
	if c.quota.Scope == nil {
		return ""
	}
	return c.quota.Scope(key)
}

// sweepLocked drops the keys whose expiry is not after now. Requires c.mu
// held.
func (c *Cache[K]) sweepLocked(now time.Time) {
	t := now.UnixNano()
	for len(c.byExpiry) > 0 && c.byExpiry[0].expires <= t {
		e := heap.Pop(&c.byExpiry).(entry[K])
		delete(c.entries, e.key)
		if scope := c.scopeOf(e.key); scope != "" {
			if c.scopes[scope]--; c.scopes[scope] <= 0 {
				delete(c.scopes, scope)
			}
		}
	}
}

// entry is a remembered key and its expiry in Unix nanoseconds.
type entry[K comparable] struct {
	expires int64
	key     K
}

// expiryHeap is a container/heap of entries, soonest expiry first.
type expiryHeap[K comparable] []entry[K]

func (h expiryHeap[K]) Len() int           { return len(h) }
func (h expiryHeap[K]) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap[K]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap[K]) Push(x any)        { *h = append(*h, x.(entry[K])) }
func (h *expiryHeap[K]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry[K]{} // let a string key be collected
	*h = old[:len(old)-1]
	return e
}
