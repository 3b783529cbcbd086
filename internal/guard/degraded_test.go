package guard

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// TestDegradedChallengesUntrusted: while Config.Degraded reports true,
// untrusted attempts are challenged at the normal difficulty and trusted
// ones are not; when it clears, untrusted clients log in plainly again.
func TestDegradedChallengesUntrusted(t *testing.T) {
	st, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	var degraded atomic.Bool
	p := policy(nil)
	g, err := New(Config{Store: st, Policy: p, Known: NewMemoryKnownNetworks(100), Degraded: degraded.Load})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	home := netip.MustParseAddr("192.0.2.10")
	v, err := g.Check(ctx, now, Attempt{Username: "dave", IP: home})
	if err != nil || !v.Allowed {
		t.Fatalf("healthy: %+v, %v", v, err)
	}
	if err := g.Record(ctx, now, v, Success); err != nil {
		t.Fatal(err)
	}

	degraded.Store(true)
	tests := []struct {
		name      string
		a         Attempt
		challenge int
		reason    Reason
	}{
		{"untrusted is challenged", Attempt{Username: "erin", IP: netip.MustParseAddr("203.0.113.5")}, p.Difficulty, ReasonDegraded},
		{"untrusted with a solution passes", Attempt{Username: "erin", IP: netip.MustParseAddr("203.0.113.5"),
			Solve: func() (int, error) { return p.Difficulty, nil }}, 0, ReasonNone},
		{"known network is challenged like everyone", Attempt{Username: "dave", IP: home}, p.Difficulty, ReasonDegraded},
		{"device is not challenged", Attempt{Username: "dave", IP: netip.MustParseAddr("203.0.113.6"), Device: "phone"}, 0, ReasonNone},
	}
	for _, tc := range tests {
		v, err := g.Check(ctx, now, tc.a)
		if err != nil {
			t.Fatal(err)
		}
		if v.Challenge != tc.challenge || v.Reason != tc.reason || v.Allowed != (tc.challenge == 0) {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}

	degraded.Store(false)
	if v, err := g.Check(ctx, now, Attempt{Username: "erin", IP: netip.MustParseAddr("203.0.113.5")}); err != nil || !v.Allowed || v.Challenge != 0 {
		t.Fatalf("recovered: %+v, %v", v, err)
	}
}
