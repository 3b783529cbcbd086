package redisstore

import (
	"context"
	"fmt"
	"net/netip"
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
