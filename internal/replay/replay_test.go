package replay

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// TestNeverEvictsEarly steps through time with a full cache: a key stays
// until its own expiry, whatever else arrives.
func TestNeverEvictsEarly(t *testing.T) {
	c := New[int](3, Quota[int]{})
	steps := []struct {
		now, key, expires int // seconds after t0; the key
		want              error
		wantLen           int
	}{
		{0, 1, 30, nil, 1},
		{1, 2, 10, nil, 2},
		{2, 3, 20, nil, 3},
		{3, 1, 30, ErrSeen, 3},
		{4, 4, 40, ErrFull, 3}, // full: nothing is evicted for it
		{9, 2, 10, ErrSeen, 3}, // 2 is still remembered one second before it expires
		{10, 4, 40, nil, 3},    // 2 expired: room for 4
		{10, 2, 10, ErrFull, 3},
		{20, 5, 50, nil, 3}, // 3 expired
		{60, 7, 70, nil, 1}, // 1, 4 and 5 expired
		{60, 8, 60, nil, 1}, // already expired: answered, not stored
		{60, 8, 61, nil, 2}, // so it is new a second time
	}
	for i, s := range steps {
		err := c.Add(sec(s.now), s.key, sec(s.expires))
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d (key %d at %ds): err %v, want %v", i, s.key, s.now, err, s.want)
		}
		if n := c.Len(sec(s.now)); n != s.wantLen {
			t.Fatalf("step %d: Len %d, want %d", i, n, s.wantLen)
		}
		if full := c.Full(sec(s.now)); full != (s.wantLen == 3) {
			t.Fatalf("step %d: Full %v", i, full)
		}
	}
}

// TestQuota: one scope takes its quota and no more; other scopes and keys
// without a scope are still accepted, and the quota comes back as the
// scope's keys expire.
func TestQuota(t *testing.T) {
	scope := func(k string) string { s, _, _ := strings.Cut(k, "."); return s }
	c := New(100, Quota[string]{Scope: scope, Max: 3})
	accepted := 0
	for i := range 10 {
		if err := c.Add(t0, fmt.Sprint("flood.", i), sec(60)); err == nil {
			accepted++
		} else if !errors.Is(err, ErrQuota) {
			t.Fatalf("flood %d: %v", i, err)
		}
	}
	if accepted != 3 {
		t.Fatalf("%d keys of one scope accepted, want 3", accepted)
	}
	for _, k := range []string{"other.1", "other.2", "noscope1", "noscope2", "noscope3", "noscope4"} {
		if err := c.Add(t0, k, sec(60)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if err := c.Add(sec(60), "flood.later", sec(120)); err != nil {
		t.Errorf("the scope's quota after its keys expired: %v", err)
	}
	if n := c.Stored(); n != 1 {
		t.Errorf("Stored = %d after the sweep at 60 s, want 1", n)
	}
}

// TestNilRefuses: a nil cache has capacity 0.
func TestNilRefuses(t *testing.T) {
	var c *Cache[string]
	if err := c.Add(t0, "k", sec(1)); !errors.Is(err, ErrFull) {
		t.Errorf("Add = %v, want ErrFull", err)
	}
	if !c.Full(t0) || c.Len(t0) != 0 || c.Stored() != 0 {
		t.Error("a nil cache is not full and empty")
	}
}

// TestRace: of many parallel uses of one key, exactly one is accepted.
func TestRace(t *testing.T) {
	c := New[string](1000, Quota[string]{})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if c.Add(t0, "same", sec(60)) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d of 64 accepted, want 1", ok.Load())
	}
}

func BenchmarkAdd(b *testing.B) {
	c := New[uint64](1<<20, Quota[uint64]{})
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		now := t0.Add(time.Duration(i) * time.Microsecond)
		if err := c.Add(now, i, now.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}
