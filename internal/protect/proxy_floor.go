package protect

import (
	"sync"
	"time"
)

// Window of the proxy's learnt failure floor: the slowest login answer of
// the upstream in the last latencyBuckets*latencyBucketWidth.
const (
	latencyBuckets     = 10
	latencyBucketWidth = time.Minute
)

// latencyWindow remembers the slowest upstream login answer (success or
// failure) of the last ten minutes, in one-minute buckets, so the proxy
// can pad failures to it. Successes count because they verify a password
// as a wrong-password failure does: after any recent login the floor
// covers the app's slow path, and a fast "unknown user" failure is padded
// to it. Old buckets fall out, so a stall (which an attacker may cause)
// raises the floor for ten minutes at most, and floor.set caps it at
// gate.MaxFloor. The zero value is empty and ready; safe for concurrent use.
type latencyWindow struct {
	mu      sync.Mutex
	buckets [latencyBuckets]struct {
		minute int64 // unix minute of the bucket; requires mu held
		max    time.Duration
	}
}

// observe records d, an upstream login latency seen at now.
func (l *latencyWindow) observe(now time.Time, d time.Duration) {
	m := now.Unix() / int64(latencyBucketWidth/time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.buckets[m%latencyBuckets]
	if b.minute != m {
		b.minute, b.max = m, 0
	}
	b.max = max(b.max, d)
}

// max returns the slowest latency observed in the window ending at now.
func (l *latencyWindow) max(now time.Time) time.Duration {
	m := now.Unix() / int64(latencyBucketWidth/time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	var slowest time.Duration
	for _, b := range l.buckets {
		if m-b.minute < latencyBuckets && b.minute <= m {
			slowest = max(slowest, b.max)
		}
	}
	return slowest
}
