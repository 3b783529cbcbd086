package redisstore

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// TestFailoverFollowers stops a test-owned Redis under the stores that
// follow a Failover: known networks fall back to local memory (and
// remember logins made meanwhile), the replay caches refuse at once with
// ErrUnavailable rather than accept what they cannot record, and Probe
// brings all of them back to Redis. A replay reported by Redis is an
// answer, not an outage.
func TestFailoverFollowers(t *testing.T) {
	srv := startOwnRedis(t)
	rdb := srv.client()
	ctx := context.Background()
	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	fo, err := NewFailover(newTestLimiter(t, rdb, "fw:"), mem, FailoverConfig{Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	known, err := NewFailoverKnownNetworks(fo, NewKnownNetworks(rdb, "fw:"), guard.NewMemoryKnownNetworks(100))
	if err != nil {
		t.Fatal(err)
	}
	localChal, err := challenge.NewMemoryReplay(100)
	if err != nil {
		t.Fatal(err)
	}
	chal, _ := NewFailoverChallengeReplay(fo, NewChallengeReplay(rdb, "fw:"), localChal)
	dp, _ := NewFailoverDPoPReplay(fo, NewDPoPReplay(rdb, "fw:"))
	ping := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	now := time.Now()
	net1 := netip.MustParsePrefix("198.51.100.0/24")
	net2 := netip.MustParsePrefix("203.0.113.0/24")

	if err := known.Remember(ctx, now, "alice", net1, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := dp.Remember(ctx, now, "jti-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := dp.Remember(ctx, now, "jti-1", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) || fo.Degraded() {
		t.Fatalf("a replay: %v, degraded %v; want ErrReplay and still healthy", err, fo.Degraded())
	}

	srv.Stop()
	// The first call notices; known networks answer from local memory.
	if ok, err := known.Known(ctx, now, "alice", net1); err != nil || ok {
		t.Fatalf("known while Redis is away: %v %v; want false (only Redis knew it), no error", ok, err)
	}
	if !fo.Degraded() {
		t.Fatal("not degraded after a failed call")
	}
	if err := known.Remember(ctx, now, "alice", net2, now.Add(time.Hour)); err != nil {
		t.Fatalf("remember while degraded: %v", err)
	}
	if ok, _ := known.Known(ctx, now, "alice", net2); !ok {
		t.Fatal("a network remembered while degraded is not known")
	}
	// Challenges go on in local memory: recorded once, refused the
	// second time.
	nonce := make([]byte, challenge.NonceSize)
	start := time.Now()
	if fresh, err := chal.Seen(ctx, now, nonce, now.Add(time.Minute)); err != nil || !fresh {
		t.Errorf("challenge Seen while degraded: fresh %v, %v; want recorded locally", fresh, err)
	}
	if fresh, err := chal.Seen(ctx, now, nonce, now.Add(time.Minute)); err != nil || fresh {
		t.Errorf("challenge replayed while degraded: fresh %v, %v", fresh, err)
	}
	if full, err := chal.Full(ctx, now); err != nil || full {
		t.Errorf("challenge Full while degraded: %v %v; want the local cache's answer", full, err)
	}
	if err := dp.Remember(ctx, now, "jti-2", now.Add(time.Minute)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("dpop Remember while degraded: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("refusing while degraded took %v: it must not wait for Redis", d)
	}

	fo.Probe(ctx, ping) // still away
	if !fo.Degraded() {
		t.Fatal("a failed probe recovered")
	}
	srv.Restart()
	fo.Probe(ctx, ping)
	if fo.Degraded() {
		t.Fatal("still degraded after a successful probe")
	}
	if ok, err := known.Known(ctx, now, "alice", net2); err != nil || !ok {
		t.Errorf("a network remembered locally during the outage: %v %v; want still known", ok, err)
	}
	// A solution spent here during the outage is not accepted again here
	// after it, though Redis never saw it; a new one is recorded in both.
	if fresh, err := chal.Seen(ctx, now, nonce, now.Add(time.Minute)); err != nil || fresh {
		t.Errorf("outage-era challenge replayed after recovery: fresh %v %v", fresh, err)
	}
	nonce2 := make([]byte, challenge.NonceSize)
	nonce2[0] = 1
	if fresh, err := chal.Seen(ctx, now, nonce2, now.Add(time.Minute)); err != nil || !fresh {
		t.Errorf("challenge Seen after recovery: %v %v", fresh, err)
	}
	if fresh, err := chal.Seen(ctx, now, nonce2, now.Add(time.Minute)); err != nil || fresh {
		t.Errorf("challenge replayed after recovery: fresh %v %v", fresh, err)
	}
	if err := dp.Remember(ctx, now, "jti-2", now.Add(time.Minute)); err != nil {
		t.Errorf("dpop Remember after recovery: %v", err)
	}
}
