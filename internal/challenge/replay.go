package challenge

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryReplay is a ReplayCache in process memory for a single node. It
// holds at most a fixed number of spent challenges and never drops one
// before it expires: expired entries are swept, oldest expiry first, on
// every call, and when the live ones fill it, Seen answers
// ErrReplayCacheFull and Full true until some expire. An entry costs
// about 64 bytes, so DefaultReplayCapacity (2^19) takes some 33 MiB and
// absorbs 2^19 / DefaultTTL ≈ 4,300 verifications a second, more than
// two cores can evaluate (one takes about 0.65 ms).
//
// Create one with NewMemoryReplay; the zero value is not usable. It is
// safe for concurrent use.
type MemoryReplay struct {
	mu       sync.Mutex
	capacity int
	spent    map[[NonceSize]byte]struct{} // requires mu held
	byExpiry expiryHeap                   // the same entries, soonest expiry first; requires mu held
}

// DefaultReplayCapacity is a capacity for NewMemoryReplay sized for the
// default TTL on a small server; see MemoryReplay.
const DefaultReplayCapacity = 1 << 19

// NewMemoryReplay returns an empty MemoryReplay that holds up to
// capacity live entries.
func NewMemoryReplay(capacity int) (*MemoryReplay, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("replay cache capacity %d, want at least 1", capacity)
	}
	return &MemoryReplay{capacity: capacity, spent: make(map[[NonceSize]byte]struct{})}, nil
}

// Seen implements ReplayCache. Nonces must be NonceSize bytes.
func (r *MemoryReplay) Seen(_ context.Context, now time.Time, nonce []byte, expires time.Time) (bool, error) {
	if len(nonce) != NonceSize {
		return false, fmt.Errorf("replay cache: nonce of %d bytes, want %d", len(nonce), NonceSize)
	}
	key := [NonceSize]byte(nonce)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(now)
	if _, ok := r.spent[key]; ok {
		return false, nil
	}
	if len(r.spent) >= r.capacity {
		return false, ErrReplayCacheFull
	}
	r.spent[key] = struct{}{}
	heap.Push(&r.byExpiry, entry{expires: expires.UnixNano(), nonce: key})
	return true, nil
}

// Full implements ReplayCache.
func (r *MemoryReplay) Full(_ context.Context, now time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(now)
	return len(r.spent) >= r.capacity, nil
}

// Len returns the number of live entries at now, for metrics.
func (r *MemoryReplay) Len(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(now)
	return len(r.spent)
}

// sweepLocked drops the entries whose expiry is not after now: a
// challenge is refused from its expiry on, so its nonce need not be
// remembered. Requires r.mu held.
func (r *MemoryReplay) sweepLocked(now time.Time) {
	t := now.UnixNano()
	for len(r.byExpiry) > 0 && r.byExpiry[0].expires <= t {
		e := heap.Pop(&r.byExpiry).(entry)
		delete(r.spent, e.nonce)
	}
}

// entry is a spent nonce and its expiry in Unix nanoseconds.
type entry struct {
	expires int64
	nonce   [NonceSize]byte
}

// expiryHeap is a container/heap of entries, soonest expiry first.
type expiryHeap []entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

var _ ReplayCache = (*MemoryReplay)(nil)
