package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// TestLimiterPeekUnlock: Peek describes a spent key without spending,
// Unlock gives it its full budget back for every replica, and the
// FailoverAdmin clears the local store too.
func TestLimiterPeekUnlock(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testClient(t)
	l, err := NewLimiter(rdb, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	local, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fo, err := NewFailover(l, local, FailoverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := NewFailoverAdmin(fo, l, local)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req := []limit.Request{{Key: "ip:127.0.0.1", Limit: limit.Limit{Burst: 2, Period: time.Hour}}}
	for range 3 {
		if _, err := fo.Reserve(ctx, now, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := local.Reserve(ctx, now, req); err != nil { // as if spent during an outage
		t.Fatal(err)
	}
	st, err := admin.Peek(ctx, now, req)
	if err != nil || st[0].OK || st[0].RetryAfter <= 0 {
		t.Fatalf("peek of a spent key = %+v, %v; want refused with a retry", st, err)
	}
	if again, _ := admin.Peek(ctx, now, req); again[0] != st[0] && again[0].RetryAfter > st[0].RetryAfter {
		t.Fatalf("peek spent: %+v then %+v", st[0], again[0])
	}
	if err := admin.Unlock(ctx, now, req); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]interface {
		Peek(context.Context, time.Time, []limit.Request) ([]limit.KeyResult, error)
	}{"redis": l, "local": local} {
		st, err := s.Peek(ctx, now, req)
		if err != nil || !st[0].OK || st[0].Remaining != 2 {
			t.Errorf("%s after unlock = %+v, %v; want the full budget", name, st, err)
		}
	}
}
