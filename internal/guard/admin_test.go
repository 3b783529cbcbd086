package guard

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

func TestSelectorMatches(t *testing.T) {
	ip := Selector{IP: netip.MustParseAddr("203.0.113.7")}
	ip6 := Selector{IP: netip.MustParseAddr("2001:db8:1:2:3::9")}
	network := Selector{Network: netip.MustParsePrefix("203.0.113.0/24")}
	user := Selector{User: "alice"}
	tests := []struct {
		key  string
		sel  Selector
		want bool
	}{
		{"ip:203.0.113.7", ip, true},
		{"ipsoft:203.0.113.7", ip, true},
		{"userip:bob|203.0.113.7", ip, true},
		{"succip:bob|203.0.113.7", ip, true},
		{"ip:203.0.113.8", ip, false},
		{"net:203.0.113.0/24", ip, false}, // the neighbours' budget is the network's to lift
		{"ip:2001:db8:1:2::/64", ip6, true},
		{"ip:2001:db8:1:3::/64", ip6, false},
		{"ip:203.0.113.8", network, true},
		{"userip:bob|203.0.113.200", network, true},
		{"net:203.0.113.0/24", network, true},
		{"ip:203.0.114.1", network, false},
		{"userip:alice|203.0.113.7", user, true},
		{"userhard:alice", user, true},
		{"knet:alice|203.0.113.0/24", user, true},
		{"user:alicea", user, false},
		{"userip:bob|203.0.113.7", user, false},
		{"dev:abc", user, false},
		{"junk", user, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.key, tt.sel), func(t *testing.T) {
			kp, ok := parseKey(tt.key)
			if got := ok && tt.sel.matches(kp); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnlockLiftsAddressBlock locks an address the way a stuffing burst
// does, finds it in Blocked, unlocks it, and checks the next attempt.
func TestUnlockLiftsAddressBlock(t *testing.T) {
	ctx := context.Background()
	st, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	p := policy(func(p *Policy) { p.IP = limit.Limit{Burst: 20, Period: time.Hour} })
	g, err := New(Config{Store: st, Policy: p, Admin: st})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("127.0.0.1")
	attempt := func(i int) Verdict {
		v, err := g.Check(ctx, now, Attempt{Username: fmt.Sprintf("user%d", i), IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed {
			if err := g.Record(ctx, now, v, UnknownUser); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	for i := range 25 {
		attempt(i)
	}
	if v := attempt(99); v.Allowed || v.Reason != ReasonIP {
		t.Fatalf("after the burst: %+v, want refused by the address", v)
	}
	blocks, err := g.Blocked(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || blocks[0].Address != "127.0.0.1" || blocks[0].Reason != ReasonIP || blocks[0].RetryAfter <= 0 {
		t.Fatalf("blocked = %+v, want the address", blocks)
	}
	keys, err := g.Unlock(ctx, now, Selector{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unlocked %v", keys)
	if v := attempt(100); !v.Allowed {
		t.Fatalf("after unlock: %+v, want allowed", v)
	}
	if blocks, _ := g.Blocked(ctx, now, 10); len(blocks) != 0 {
		t.Fatalf("blocked after unlock = %+v", blocks)
	}
	if _, err := g.Unlock(ctx, now, Selector{}); err != ErrSelector {
		t.Fatalf("empty selector: %v", err)
	}
}
