package redisstore

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// TestGuardSuccessBudgetMatchesMemory drives a guard over the Redis store
// and one over limit.Memory with the same logins — an account holder
// looping correct logins from a device and from an address, strangers and
// unknown names — and wants the same verdicts: the success budget works
// the same on both, in the one store call per attempt.
func TestGuardSuccessBudgetMatchesMemory(t *testing.T) {
	rdb, prefix := testClient(t)
	ctx := context.Background()
	p := guard.DefaultPolicy()
	p.Success = limit.Limit{Burst: 3, Period: time.Minute}
	rl := newTestLimiter(t, rdb, prefix+"guard:")
	rl.callerNow = true
	rl.margin = time.Hour
	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var guards []*guard.Guard
	for _, st := range []limit.Store{rl, mem} {
		g, err := guard.New(guard.Config{Store: st, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		guards = append(guards, g)
	}
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")}
	now := time.Unix(1_800_000_000, 0)
	refused := 0
	for i := range 60 {
		now = now.Add(2 * time.Second)
		a := guard.Attempt{Username: []string{"alice", "ghost"}[i%5/4], IP: ips[i%3/2]}
		outcome := guard.Success
		switch {
		case a.Username == "ghost":
			outcome = guard.UnknownUser
		case i%7 == 0:
			a.Device = "d1"
		case i%11 == 0:
			outcome = guard.Failure
		}
		var got []string
		for _, g := range guards {
			v, err := g.Check(ctx, now, a)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%v/%d/%s", v.Allowed, v.Challenge, v.Reason))
			if err := g.Record(ctx, now, v, outcome); err != nil {
				t.Fatal(err)
			}
		}
		if got[0] != got[1] {
			t.Fatalf("attempt %d (%+v): redis %s, memory %s", i, a, got[0], got[1])
		}
		if got[0] == "false/0/"+string(guard.ReasonSuccess) {
			refused++
		}
	}
	if refused == 0 {
		t.Error("the success budget never refused: the sequence does not test it")
	}
}

// TestKnownReserveMatchesTwoSteps drives three guards with the same
// logins — one in memory that looks known networks up and then reserves,
// one over Redis that does both in one script (KnownLimiter), one over a
// Failover with the same script (NewFailoverKnownReserver) — and wants
// the same verdicts, trust included: an attacker spends the account's
// shared hard budget from elsewhere while its owner, from a network made
// known by a success, keeps logging in on the network's own budget.
func TestKnownReserveMatchesTwoSteps(t *testing.T) {
	rdb, prefix := testClient(t)
	ctx := context.Background()
	p := guard.DefaultPolicy()
	p.UserHard = limit.Limit{Burst: 4, Period: time.Hour}
	p.Network = limit.Limit{Burst: 3, Period: time.Hour}
	p.User = limit.Limit{Burst: 100, Period: time.Hour}
	p.IPSoft = limit.Limit{Burst: 100, Period: time.Hour}

	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	memGuard, err := guard.New(guard.Config{Store: mem, Known: guard.NewMemoryKnownNetworks(100), Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	guards := []*guard.Guard{memGuard}
	for i, fold := range []string{"script", "failover"} {
		rl := newTestLimiter(t, rdb, fmt.Sprintf("%sfold%d:", prefix, i))
		rl.callerNow = true
		rl.margin = time.Hour
		kl := KnownLimiter{Limiter: rl, Known: NewKnownNetworks(rdb, fmt.Sprintf("%sfold%d:", prefix, i))}
		cfg := guard.Config{Store: rl, Known: kl.Known, KnownReserve: kl, Policy: p}
		if fold == "failover" {
			local, err := limit.NewMemory(limit.MemoryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			fo, err := NewFailover(rl, local, FailoverConfig{})
			if err != nil {
				t.Fatal(err)
			}
			fk, err := NewFailoverKnownReserver(fo, kl, guard.NewMemoryKnownNetworks(100))
			if err != nil {
				t.Fatal(err)
			}
			cfg = guard.Config{Store: fo, Known: fk, KnownReserve: fk, Policy: p}
		}
		g, err := guard.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		guards = append(guards, g)
	}

	home, attacker := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	now := time.Unix(1_800_000_000, 0)
	trusted, refusedOwner := 0, 0
	for i := range 24 {
		now = now.Add(time.Second)
		a, outcome := guard.Attempt{Username: "alice", IP: attacker}, guard.Failure
		if i%3 == 0 {
			a.IP, outcome = home, guard.Success
		}
		var got []string
		for _, g := range guards {
			v, err := g.Check(ctx, now, a)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%v/%d/%s/%s", v.Allowed, v.Challenge, v.Reason, v.Trust))
			if err := g.Record(ctx, now, v, outcome); err != nil {
				t.Fatal(err)
			}
		}
		for j, name := range []string{"script", "failover"} {
			if got[j+1] != got[0] {
				t.Fatalf("attempt %d from %v: %s %s, two steps in memory %s", i, a.IP, name, got[j+1], got[0])
			}
		}
		if a.IP == home && strings.HasSuffix(got[0], "/"+string(guard.TrustNetwork)) {
			trusted++
			if !strings.HasPrefix(got[0], "true/") {
				refusedOwner++
			}
		}
	}
	if trusted == 0 {
		t.Error("no attempt came from a known network: the sequence does not test the fold")
	}
	t.Logf("%d attempts from the known network, %d of them refused", trusted, refusedOwner)
}
