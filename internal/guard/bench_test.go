package guard

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// benchGuard returns a guard over the memory store whose budgets allow one
// attempt an hour, with known networks and the detector, as served.
func benchGuard(tb testing.TB) *Guard {
	tb.Helper()
	st, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		tb.Fatal(err)
	}
	det, err := NewDetector(DefaultDetectorConfig())
	if err != nil {
		tb.Fatal(err)
	}
	one := limit.Limit{Burst: 1, Period: time.Hour}
	g, err := New(Config{Store: st, Known: NewMemoryKnownNetworks(1 << 10), Detector: det, Policy: Policy{
		IP: one, IPSoft: one, Subnet: one, Subnet48: one, User: one, UserHard: one, UserIP: one,
		Device: one, Network: one, Success: one, KnownNetworkTTL: time.Hour, Difficulty: 1, AttackDifficulty: 1,
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// refusedAttempts are attempts whose budgets are spent: the hot path of an
// attack, which must stay cheap.
func refusedAttempts(tb testing.TB, g *Guard, now time.Time) map[string]Attempt {
	tb.Helper()
	attempts := map[string]Attempt{
		"ipv4":   {Username: "victim4@example.com", IP: netip.MustParseAddr("203.0.113.7")},
		"ipv6":   {Username: "victim6@example.com", IP: netip.MustParseAddr("2001:db8:1:2::7")},
		"device": {Username: "victim@example.com", IP: netip.MustParseAddr("198.51.100.8"), Device: "d1"},
	}
	for name, a := range attempts {
		v, err := g.Check(context.Background(), now, a)
		if err != nil || !v.Allowed {
			tb.Fatalf("%s: first attempt %+v, %v", name, v, err)
		}
		if err := g.Record(context.Background(), now, v, Failure); err != nil {
			tb.Fatal(err)
		}
		if v, _ := g.Check(context.Background(), now, a); v.Allowed {
			tb.Fatalf("%s: second attempt allowed", name)
		}
	}
	return attempts
}

// BenchmarkCheckRefused is one refused Check: the key table, one Reserve
// on the memory store, the verdict.
func BenchmarkCheckRefused(b *testing.B) {
	g := benchGuard(b)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, a := range refusedAttempts(b, g, now) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if v, err := g.Check(ctx, now, a); err != nil || v.Allowed {
					b.Fatalf("%+v, %v", v, err)
				}
			}
		})
	}
}

// BenchmarkCheckRecordSuccess is one allowed Check settled as a success.
func BenchmarkCheckRecordSuccess(b *testing.B) {
	g := benchGuard(b)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	a := Attempt{Username: "alice@example.com", IP: netip.MustParseAddr("192.0.2.1")}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Hour) // the success budget refills
		v, err := g.Check(ctx, now, a)
		if err != nil || !v.Allowed {
			b.Fatalf("%+v, %v", v, err)
		}
		if err := g.Record(ctx, now, v, Success); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckRefusedAllocs keeps a refused attempt cheap: the key table
// lives on the stack and its keys are one string, so a refusal allocates
// that string, the store's request list, and what the memory store
// answers, whatever the address family.
func TestCheckRefusedAllocs(t *testing.T) {
	g := benchGuard(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]float64{"ipv4": 4, "ipv6": 4, "device": 3}
	for name, a := range refusedAttempts(t, g, now) {
		got := testing.AllocsPerRun(100, func() {
			if v, err := g.Check(context.Background(), now, a); err != nil || v.Allowed {
				t.Fatalf("%+v, %v", v, err)
			}
		})
		if got > want[name] {
			t.Errorf("%s: a refused Check allocates %v times, want at most %v", name, got, want[name])
		}
	}
}
