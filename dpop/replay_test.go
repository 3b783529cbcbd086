package dpop

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryReplayCache(t *testing.T) {
	c := NewMemoryReplayCache(2)
	t0 := testNow
	type step struct {
		at      time.Duration // since t0
		key     string
		ttl     time.Duration
		want    error
		wantLen int
	}
	steps := []step{
		{0, "a", 10 * time.Second, nil, 1},
		{time.Second, "a", 10 * time.Second, ErrReplay, 1},
		{time.Second, "b", 20 * time.Second, nil, 2},
		{2 * time.Second, "c", 10 * time.Second, ErrReplayCacheFull, 2}, // full: nothing is evicted early
		{9 * time.Second, "a", 10 * time.Second, ErrReplay, 2},          // a still held one instant before expiry
		{10 * time.Second, "c", 10 * time.Second, nil, 2},               // a expired at 10 s and was swept
		{10 * time.Second, "a", 10 * time.Second, ErrReplayCacheFull, 2},
		{20 * time.Second, "b", 10 * time.Second, ErrReplay, 1}, // c expired at 20 s and was swept; b lasts until 21 s
		{21 * time.Second, "b", 10 * time.Second, nil, 1},
		{21 * time.Second, "x", 0, nil, 1}, // already expired: not recorded
	}
	for i, s := range steps {
		err := c.Remember(ctx, t0.Add(s.at), s.key, t0.Add(s.at+s.ttl))
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d (%s at %s): err = %v, want %v", i, s.key, s.at, err, s.want)
		}
		if n := c.Len(); n != s.wantLen {
			t.Fatalf("step %d: Len = %d, want %d", i, n, s.wantLen)
		}
	}
}

func TestMemoryReplayCacheZeroValueRefuses(t *testing.T) {
	var c MemoryReplayCache
	if err := c.Remember(ctx, testNow, "k", testNow.Add(time.Second)); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("err = %v, want ErrReplayCacheFull", err)
	}
}

// TestMemoryReplayCacheRace: of many parallel uses of one key, exactly one
// is accepted.
func TestMemoryReplayCacheRace(t *testing.T) {
	c := NewMemoryReplayCache(1000)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			if c.Remember(ctx, testNow, "same", testNow.Add(time.Minute)) == nil {
				ok.Add(1)
			}
			_ = c.Remember(ctx, testNow, fmt.Sprint("k", i), testNow.Add(time.Minute))
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d accepted, want 1", ok.Load())
	}
}

func TestNonceSource(t *testing.T) {
	key := randBytes(t, 32)
	ns, err := NewNonceSource(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewNonceSource(randBytes(t, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := testNow.Truncate(time.Minute)
	n := ns.Current(t0)
	if n == "" || n != ns.Current(t0.Add(59*time.Second)) {
		t.Fatal("nonce changes within its window")
	}
	if n == ns.Current(t0.Add(time.Minute)) {
		t.Fatal("nonce does not rotate")
	}
	tests := []struct {
		at    time.Duration
		nonce string
		want  bool
	}{
		{0, n, true},
		{59 * time.Second, n, true},
		{time.Minute, n, true}, // previous window still accepted
		{2*time.Minute - time.Nanosecond, n, true},
		{2 * time.Minute, n, false},   // two windows on: stale
		{-time.Nanosecond, n, false},  // a nonce from the future window
		{0, other.Current(t0), false}, // another server's key
		{0, "", false},
		{0, n[:len(n)-1], false},
	}
	for _, tt := range tests {
		if got := ns.Valid(t0.Add(tt.at), tt.nonce); got != tt.want {
			t.Errorf("Valid(t0%+v, %q) = %v, want %v", tt.at, tt.nonce, got, tt.want)
		}
	}
	if _, err := NewNonceSource(key[:31], time.Minute); !errors.Is(err, ErrConfig) {
		t.Errorf("short key: err = %v", err)
	}
	if _, err := NewNonceSource(key, time.Millisecond); !errors.Is(err, ErrConfig) {
		t.Errorf("short period: err = %v", err)
	}
	// The key is copied: changing the caller's slice changes nothing.
	key[0] ^= 1
	if !ns.Valid(t0, n) {
		t.Error("NonceSource shares the caller's key slice")
	}
}

// TestDPoPReplayCacheBoundedPerKey: one proof key, sending fresh proofs as
// fast as it can, takes its share of the cache and no more; the other keys
// keep being accepted, and its share comes back as its proofs expire.
func TestDPoPReplayCacheBoundedPerKey(t *testing.T) {
	c := NewMemoryReplayCache(10 * ReplayShare) // 10 proofs per key
	flood := replayKey("flooder-jkt", "")
	scope := ReplayScope(flood)
	if scope == "" {
		t.Fatalf("the Checker's key %q names no proof key", flood)
	}
	accepted := 0
	var last error
	for i := range 1000 {
		if last = c.Remember(ctx, testNow, replayKey("flooder-jkt", fmt.Sprint("jti-", i)), testNow.Add(time.Minute)); last == nil {
			accepted++
		}
	}
	if accepted != 10 || !errors.Is(last, ErrReplayQuota) {
		t.Fatalf("one key: %d of 1000 proofs accepted (last: %v); want 10 and ErrReplayQuota", accepted, last)
	}
	for i := range 40 {
		if err := c.Remember(ctx, testNow, replayKey(fmt.Sprint("client-", i), "jti"), testNow.Add(time.Minute)); err != nil {
			t.Fatalf("client %d after the flood: %v", i, err)
		}
	}
	if err := c.Remember(ctx, testNow.Add(time.Minute), replayKey("flooder-jkt", "later"), testNow.Add(2*time.Minute)); err != nil {
		t.Fatalf("the key's share after its proofs expired: %v", err)
	}
	// Keys that name no proof key (other users of the interface) have no quota.
	for i := range 20 {
		if err := c.Remember(ctx, testNow, fmt.Sprint("opaque-", i), testNow.Add(time.Minute)); err != nil {
			t.Fatalf("opaque key %d: %v", i, err)
		}
	}
}
