package redisstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

func TestDividedBurst(t *testing.T) {
	for _, tc := range []struct{ burst, replicas, want int }{
		{10, 1, 10}, {10, 2, 5}, {10, 3, 4}, {1, 4, 1}, {3, 10, 1}, {7, 0, 7},
	} {
		if got := DividedBurst(tc.burst, tc.replicas); got != tc.want {
			t.Errorf("DividedBurst(%d, %d) = %d, want %d", tc.burst, tc.replicas, got, tc.want)
		}
	}
}

// TestFailover stops a test-owned Redis mid-run: no error reaches the
// caller, the Failover reports degraded and applies divided local
// budgets, and it shares Redis again after the restart.
func TestFailover(t *testing.T) {
	srv := startOwnRedis(t)
	ctx := context.Background()
	newReplica := func(onChange func(bool, error)) *Failover {
		rl := newTestLimiter(t, srv.client(), "fo:")
		mem, err := limit.NewMemory(limit.MemoryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFailover(rl, mem, FailoverConfig{Replicas: 2, ProbeEvery: time.Minute, OnChange: onChange})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var mu sync.Mutex
	var changes []bool
	a := newReplica(func(d bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if d == (err == nil) {
			t.Errorf("OnChange(%v, %v): want an error exactly when degraded", d, err)
		}
		changes = append(changes, d)
	})
	b := newReplica(nil)
	l := limit.Limit{Burst: 10, Period: time.Hour}
	reqs := []limit.Request{{Key: "ip:198.51.100.7", Limit: l}}
	now := time.Unix(1_800_000_000, 0)
	// spend counts the allowed Reserves of n through f.
	spend := func(f *Failover, n int) int {
		t.Helper()
		ok := 0
		for range n {
			res, err := f.Reserve(ctx, now, reqs)
			if err != nil {
				t.Fatalf("reserve: %v", err)
			}
			if res.Allowed {
				ok++
			}
		}
		return ok
	}

	// Shared: two replicas spend one budget.
	if got := spend(a, 6) + spend(b, 6); got != 10 {
		t.Fatalf("shared: %d of 12 allowed across two replicas, want 10", got)
	}
	if a.Degraded() {
		t.Fatal("degraded while Redis answers")
	}

	srv.Stop()
	// Degraded: a's local budget is 10/2 = 5, refunds work locally.
	if got := spend(a, 8); got != 5 {
		t.Fatalf("degraded: %d of 8 allowed, want the divided burst 5", got)
	}
	if err := a.Refund(ctx, now, reqs); err != nil {
		t.Fatalf("refund while degraded: %v", err)
	}
	if got := spend(a, 2); got != 1 {
		t.Fatalf("degraded after a refund: %d of 2 allowed, want 1", got)
	}
	if !a.Degraded() {
		t.Fatal("not degraded with Redis gone")
	}
	// The caller's own cancellation is an error, not a failover.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Reserve(cctx, now, reqs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reserve: %v, want context.Canceled", err)
	}
	// Invalid requests stay errors while degraded.
	if _, err := a.Reserve(ctx, now, []limit.Request{{Key: "x"}}); !errors.Is(err, limit.ErrInvalidLimit) {
		t.Fatalf("invalid limit while degraded: %v", err)
	}

	srv.Restart() // empty: no persistence
	// No probe before ProbeEvery: still local, still spent.
	if got := spend(a, 1); got != 0 || !a.Degraded() {
		t.Fatalf("before the probe: %d allowed, degraded %v; want 0 and true", got, a.Degraded())
	}
	now = now.Add(time.Minute)
	if got := spend(a, 6) + spend(b, 6); got != 10 {
		t.Fatalf("after recovery: %d of 12 allowed across two replicas, want 10", got)
	}
	if a.Degraded() || b.Degraded() {
		t.Fatal("still degraded after Redis came back")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("OnChange calls %v, want [true false]", changes)
	}
}
