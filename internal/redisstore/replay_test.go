package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
)

func TestChallengeReplaySingleUse(t *testing.T) {
	rdb, prefix := testClient(t)
	c := NewChallengeReplay(rdb, prefix)
	ctx := context.Background()
	now := time.Now()
	nonce := bytes.Repeat([]byte{7}, challenge.NonceSize)
	// Parallel verifications of one nonce: exactly one is fresh.
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ok, err := c.Seen(ctx, now, nonce, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d of 50 fresh, want 1", fresh.Load())
	}
	keys := keysUnder(t, rdb, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	if pttl := rdb.PTTL(ctx, keys[0]).Val(); pttl <= 59*time.Second || pttl > time.Minute+time.Millisecond {
		t.Fatalf("TTL %v, want the minute until expiry", pttl)
	}
	if ok, err := c.Seen(ctx, now, bytes.Repeat([]byte{8}, challenge.NonceSize), now.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("another nonce: %v, %v", ok, err)
	}
	if _, err := c.Seen(ctx, now, []byte{1}, now.Add(time.Minute)); err == nil {
		t.Fatal("short nonce accepted")
	}
	if full, err := c.Full(ctx, now); full || err != nil {
		t.Fatalf("Full = %v, %v on a Redis with room", full, err)
	}
}

func TestDPoPReplaySingleUse(t *testing.T) {
	rdb, prefix := testClient(t)
	c := NewDPoPReplay(rdb, prefix)
	ctx := context.Background()
	now := time.Now()
	if err := c.Remember(ctx, now, "jti-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Remember(ctx, now, "jti-1", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replayed jti: %v, want ErrReplay", err)
	}
	if err := c.Remember(ctx, now, "jti-2", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Remember(ctx, now, "jti-3", now); err != nil { // already expired: not recorded
		t.Fatal(err)
	}
	if n := len(keysUnder(t, rdb, prefix)); n != 2 {
		t.Fatalf("%d keys, want 2", n)
	}
}

// TestDPoPReplayCacheBoundedPerKey: one proof key sending fresh proofs as
// fast as it can takes its share of Redis and no more; other keys keep
// being accepted, and its share comes back as its proofs expire.
func TestDPoPReplayCacheBoundedPerKey(t *testing.T) {
	rdb, prefix := testClient(t)
	c := NewDPoPReplay(rdb, prefix)
	if c.perKey != dpop.DefaultReplayPerKey {
		t.Fatalf("per-key share %d, want %d", c.perKey, dpop.DefaultReplayPerKey)
	}
	c.perKey = 10
	ctx := context.Background()
	now := time.Now()
	accepted := 0
	var last error
	for i := range 200 {
		if last = c.Remember(ctx, now, fmt.Sprintf("flooder.jti-%d", i), now.Add(time.Minute)); last == nil {
			accepted++
		}
	}
	if accepted != 10 || !errors.Is(last, dpop.ErrReplayQuota) {
		t.Fatalf("one key: %d of 200 proofs accepted (last: %v); want 10 and ErrReplayQuota", accepted, last)
	}
	if err := c.Remember(ctx, now, "flooder.jti-3", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("a replay of an accepted proof: %v, want ErrReplay", err)
	}
	for i := range 20 {
		if err := c.Remember(ctx, now, fmt.Sprintf("client%d.jti", i), now.Add(time.Minute)); err != nil {
			t.Fatalf("client %d after the flood: %v", i, err)
		}
	}
	if err := c.Remember(ctx, now.Add(time.Minute), "flooder.later", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("the key's share after its proofs expired: %v", err)
	}
}

// TestReplayFull fills a test-owned Redis (maxmemory 1 byte, noeviction):
// both caches report full instead of recording or forgetting anything.
func TestReplayFull(t *testing.T) {
	srv := startOwnRedis(t)
	rdb := srv.client()
	ctx := context.Background()
	now := time.Now()
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	c := NewChallengeReplay(rdb, "")
	if full, err := c.Full(ctx, now); !full || err != nil {
		t.Fatalf("Full = %v, %v, want true", full, err)
	}
	if _, err := c.Seen(ctx, now, make([]byte, challenge.NonceSize), now.Add(time.Minute)); !errors.Is(err, challenge.ErrReplayCacheFull) {
		t.Fatalf("challenge Seen: %v, want ErrReplayCacheFull", err)
	}
	d := NewDPoPReplay(rdb, "")
	if err := d.Remember(ctx, now, "jti", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplayCacheFull) {
		t.Fatalf("dpop Remember: %v, want ErrReplayCacheFull", err)
	}
}

func TestKnownNetworks(t *testing.T) {
	rdb, prefix := testClient(t)
	k := NewKnownNetworks(rdb, prefix)
	ctx := context.Background()
	now := time.Now()
	home := netip.MustParsePrefix("192.0.2.0/24")
	other := netip.MustParsePrefix("198.51.100.0/24")
	if err := k.Remember(ctx, now, "alice", home, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user    string
		network netip.Prefix
		at      time.Time
		want    bool
	}{
		{"alice", home, now, true},
		{"alice", home, now.Add(time.Hour - time.Nanosecond), true},
		{"alice", home, now.Add(time.Hour), false},
		{"alice", other, now, false},
		{"bob", home, now, false},
	} {
		got, err := k.Known(ctx, tc.at, tc.user, tc.network)
		if err != nil || got != tc.want {
			t.Errorf("Known(%s, %s, +%v) = %v, %v; want %v", tc.user, tc.network, tc.at.Sub(now), got, err, tc.want)
		}
	}
	keys := keysUnder(t, rdb, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	if pttl := rdb.PTTL(ctx, keys[0]).Val(); pttl <= 59*time.Minute || pttl > time.Hour+time.Millisecond {
		t.Fatalf("TTL %v, want the hour until expiry", pttl)
	}
	if bytes.Contains([]byte(keys[0]), []byte("alice")) {
		t.Fatalf("key %q holds the username", keys[0])
	}
}
