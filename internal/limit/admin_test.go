package limit

import (
	"context"
	"testing"
	"time"
)

// TestUnlockWinsOverSketch locks keys, lets them be evicted into the
// sketch (where a penalty cannot be deleted), unlocks them, and checks the
// override: they are allowed again, Peek says so, and a key penalised
// again after the unlock and evicted again is still refused.
func TestUnlockWinsOverSketch(t *testing.T) {
	const perShard = 16
	ctx := context.Background()
	m := newMemory(t, numShards*perShard)
	all := keysInShard(m, 5, 8*perShard)
	keys, fresh := all[:4*perShard], all[4*perShard:]
	long := Limit{Burst: 2, Period: time.Hour}
	spend := func(now time.Time, k string) {
		reserve(t, m, now, Request{k, long})
		reserve(t, m, now, Request{k, long})
	}
	// The victim's penalty ends first, so eviction (the sampled key
	// closest to idle) takes it as soon as it is sampled.
	victim := keys[0]
	for i, k := range keys {
		spend(t0.Add(time.Duration(min(i, 1))*time.Second), k)
	}
	if m.containsForTest(victim, long) {
		t.Fatal("victim still in the table; the test needs it in the sketch")
	}
	now := t0.Add(time.Minute)
	st, err := m.Peek(ctx, now, []Request{{victim, long}})
	if err != nil || st[0].OK {
		t.Fatalf("peek before unlock = %+v, %v; want refused", st, err)
	}
	if err := m.Unlock(ctx, now, []Request{{victim, long}, {keys[len(keys)-1], long}}); err != nil {
		t.Fatal(err)
	}
	st, err = m.Peek(ctx, now, []Request{{victim, long}, {keys[len(keys)-1], long}})
	if err != nil || !st[0].OK || st[0].Remaining != long.Burst || !st[1].OK {
		t.Fatalf("peek after unlock = %+v, %v; want full budgets", st, err)
	}
	if res := reserve(t, m, now, Request{victim, long}); !res.Allowed {
		t.Fatalf("unlocked key refused: %+v", res)
	}
	// Penalised again, and evicted again by a flood of other keys. The
	// flood comes a second later, so the victim's penalty ends before
	// theirs: eviction takes the sampled key closest to idle, and with
	// equal ends the victim could survive every sample by chance.
	reserve(t, m, now, Request{victim, long})
	for _, k := range fresh {
		spend(now.Add(time.Second), k)
	}
	if m.containsForTest(victim, long) {
		t.Fatal("victim still in the table; the test needs it evicted again")
	}
	if res := reserve(t, m, now.Add(2*time.Second), Request{victim, long}); res.Allowed {
		t.Fatal("a penalty earned after the unlock was forgiven by the override")
	}
}
