package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// TestDetectorCountsShared: two detectors on one Redis prefix add their
// failures up (neither crosses the threshold alone), every bucket key has
// a TTL, and a degraded Failover makes Add refuse at once.
func TestDetectorCountsShared(t *testing.T) {
	rdb, prefix := testClient(t)
	counts, err := NewDetectorCounts(rdb, prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	newDetector := func() *guard.Detector {
		cfg := guard.DefaultDetectorConfig()
		cfg.MinFailures = 10
		cfg.Shared, cfg.SyncEvery = counts, time.Millisecond
		d, err := guard.NewDetector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := newDetector(), newDetector()
	now := time.Now()
	for i := range 12 {
		now = now.Add(2 * time.Millisecond)
		sig := guard.SignalFailure
		if i < 4 {
			sig = guard.SignalUnknownFailure
		}
		if st, _ := []*guard.Detector{a, b}[i%2].Observe(now, sig); i < 9 && st.UnderAttack {
			t.Fatalf("under attack after %d failures", i+1)
		}
	}
	now = now.Add(2 * time.Millisecond)
	for name, d := range map[string]*guard.Detector{"a": a, "b": b} {
		st, _ := d.State(now)
		if !st.UnderAttack || st.Failures != 12 || st.Unknown != 4 {
			t.Errorf("%s: %+v; want under attack on 12 failures, 4 unknown, from both", name, st)
		}
	}
	keys := keysUnder(t, rdb, prefix)
	if len(keys) == 0 {
		t.Fatal("no bucket keys in Redis")
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 70*time.Second {
			t.Errorf("%s: TTL %v, want one window and a bucket at most", k, ttl)
		}
	}

	// Degraded: refused at once, without a round trip.
	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFailover(newTestLimiter(t, rdb, prefix), mem, FailoverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f.setDegraded(time.Now(), true, errors.New("test"))
	fc, _ := NewDetectorCounts(rdb, prefix, f)
	if _, err := fc.Add(context.Background(), now, 10*time.Second, 6, 1, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Add while degraded: %v, want ErrUnavailable", err)
	}
}
