package guard

import (
	"context"
	"errors"
	"sync"
	"time"
)

// BucketCount is one time bucket of the attack detector: the failures in
// it and how many of those named unknown users.
type BucketCount struct {
	Failures, Unknown int
}

// SharedCounts is where the attack detectors of several replicas add up
// their failures, so that a botnet spreading its guesses over N replicas
// is seen as one attack and not as N small ones. A Detector without one
// counts alone, in memory (one node). Implementations are safe for
// concurrent use.
type SharedCounts interface {
	// Add adds failures and unknown (both may be 0: a read) to the
	// current bucket of width bucket and returns the counts of the n
	// buckets ending with it, oldest first. A shared store may take the
	// current bucket from its own clock rather than now, so that replica
	// clocks cannot disagree about it.
	Add(ctx context.Context, now time.Time, bucket time.Duration, n, failures, unknown int) ([]BucketCount, error)
}

// MemorySharedCounts is a SharedCounts in this process's memory: for
// detectors that share one process (tests, or several guards in one
// binary), and the reference the Redis implementation behaves like.
// The zero value is ready to use.
type MemorySharedCounts struct {
	mu      sync.Mutex
	buckets map[int64]BucketCount // requires mu held
}

var _ SharedCounts = (*MemorySharedCounts)(nil)

// Add implements SharedCounts on now's bucket.
func (m *MemorySharedCounts) Add(_ context.Context, now time.Time, bucket time.Duration, n, failures, unknown int) ([]BucketCount, error) {
	if bucket <= 0 || n < 1 {
		return nil, errors.New("guard: shared counts need a positive bucket and window")
	}
	cur := now.UnixNano() / int64(bucket)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		m.buckets = map[int64]BucketCount{}
	}
	for idx := range m.buckets {
		if idx <= cur-int64(n) {
			delete(m.buckets, idx) // out of every window from now on
		}
	}
	b := m.buckets[cur]
	b.Failures += failures
	b.Unknown += unknown
	m.buckets[cur] = b
	out := make([]BucketCount, n)
	for i := range out {
		out[i] = m.buckets[cur-int64(n)+1+int64(i)]
	}
	return out, nil
}
