package limit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is an arbitrary fixed start time; tests step from it and never sleep.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newMemory(t testing.TB, maxKeys int) *Memory {
	t.Helper()
	m, err := NewMemory(MemoryConfig{MaxKeys: maxKeys})
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	return m
}

func reserve(t testing.TB, s Store, now time.Time, reqs ...Request) Result {
	t.Helper()
	res, err := s.Reserve(context.Background(), now, reqs)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return res
}

// TestGCRASteps walks one key through burst, denial and refill, checking
// exact values at each step.
func TestGCRASteps(t *testing.T) {
	type step struct {
		at        time.Duration // since t0
		ok        bool
		remaining int
		retry     time.Duration
		reset     time.Duration
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{"burst 3 per 3s", Limit{Burst: 3, Period: 3 * time.Second}, []step{
			{0, true, 2, 0, time.Second},
			{0, true, 1, 0, 2 * time.Second},
			{0, true, 0, time.Second, 3 * time.Second},
			{0, false, 0, time.Second, 3 * time.Second},
			{500 * time.Millisecond, false, 0, 500 * time.Millisecond, 2500 * time.Millisecond},
			{time.Second, true, 0, time.Second, 3 * time.Second},
			{time.Second, false, 0, time.Second, 3 * time.Second},
			{3 * time.Second, true, 1, 0, 2 * time.Second},
			{10 * time.Second, true, 2, 0, time.Second},
		}},
		{"burst 1", Limit{Burst: 1, Period: time.Minute}, []step{
			{0, true, 0, time.Minute, time.Minute},
			{59 * time.Second, false, 0, time.Second, time.Second},
			{time.Minute, true, 0, time.Minute, time.Minute},
		}},
		{"interval rounds down, burst stays exact", Limit{Burst: 7, Period: time.Minute}, []step{
			{0, true, 6, 0, 8571428571},
			{0, true, 5, 0, 2 * 8571428571},
			{0, true, 4, 0, 3 * 8571428571},
			{0, true, 3, 0, 4 * 8571428571},
			{0, true, 2, 0, 5 * 8571428571},
			{0, true, 1, 0, 6 * 8571428571},
			{0, true, 0, 8571428571, 7 * 8571428571},
			{0, false, 0, 8571428571, 7 * 8571428571},
		}},
		{"period shorter than burst in ns", Limit{Burst: 4, Period: 2}, []step{
			{0, true, 3, 0, 1},
			{0, true, 2, 0, 2},
			{0, true, 1, 0, 3},
			{0, true, 0, 1, 4},
			{0, false, 0, 1, 4},
			{1, true, 0, 1, 4},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory(t, 0)
			for i, st := range tc.steps {
				res := reserve(t, m, t0.Add(st.at), Request{Key: "k", Limit: tc.limit})
				k := res.Keys[0]
				if res.Allowed != st.ok || k.OK != st.ok || k.Remaining != st.remaining || k.RetryAfter != st.retry || k.ResetAfter != st.reset {
					t.Fatalf("step %d at %v: got allowed=%v %+v, want ok=%v remaining=%d retry=%v reset=%v",
						i, st.at, res.Allowed, k, st.ok, st.remaining, st.retry, st.reset)
				}
				wantDenied, wantRetry := -1, time.Duration(0)
				if !st.ok {
					wantDenied, wantRetry = 0, st.retry
				}
				if res.Denied != wantDenied || res.RetryAfter != wantRetry {
					t.Fatalf("step %d: Denied=%d RetryAfter=%v, want %d %v", i, res.Denied, res.RetryAfter, wantDenied, wantRetry)
				}
			}
		})
	}
}

// TestSustainedRate checks that over a long run a hammering key gets Burst
// units up front and then exactly one per interval.
func TestSustainedRate(t *testing.T) {
	m := newMemory(t, 0)
	lim := Limit{Burst: 5, Period: 10 * time.Second} // one per 2 s
	allowed := 0
	for ms := 0; ms < 60_000; ms += 100 { // ten tries a second for a minute
		if reserve(t, m, t0.Add(time.Duration(ms)*time.Millisecond), Request{"k", lim}).Allowed {
			allowed++
		}
	}
	if want := 5 + 29; allowed != want { // burst, then one every 2 s after t0 up to 59.9 s
		t.Errorf("allowed %d in a minute, want %d", allowed, want)
	}
}

func TestReserveAtomicMultiKey(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, 0)
	ip := Request{"ip:203.0.113.7", Limit{Burst: 100, Period: time.Minute}}
	user := Request{"user:alice", Limit{Burst: 2, Period: time.Minute}}
	net := Request{"net24:203.0.113.0/24", Limit{Burst: 100, Period: time.Minute}}

	for range 2 {
		if !reserve(t, m, t0, ip, user, net).Allowed {
			t.Fatal("first two attempts should be allowed")
		}
	}
	// The user key is spent: nothing may be consumed on the others.
	for range 10 {
		res := reserve(t, m, t0, ip, user, net)
		if res.Allowed || res.Denied != 1 {
			t.Fatalf("got allowed=%v denied=%d, want denied at index 1", res.Allowed, res.Denied)
		}
		if res.Keys[0].Remaining != 98 || !res.Keys[0].OK || res.Keys[1].OK || res.Keys[2].Remaining != 98 {
			t.Fatalf("keys = %+v", res.Keys)
		}
		if res.RetryAfter != 30*time.Second {
			t.Fatalf("RetryAfter = %v, want 30s", res.RetryAfter)
		}
	}
	// The IP key still has 98: a fresh user from the same IP proves it.
	res := reserve(t, m, t0, ip, Request{"user:bob", user.Limit})
	if !res.Allowed || res.Keys[0].Remaining != 97 {
		t.Fatalf("ip after denials: allowed=%v %+v, want remaining 97", res.Allowed, res.Keys[0])
	}
	// RetryAfter is the largest over the denied keys.
	res = reserve(t, m, t0, Request{"user:alice", user.Limit}, Request{"x", Limit{Burst: 1, Period: time.Hour}}, Request{"x", Limit{Burst: 1, Period: time.Hour}})
	if res.Allowed || res.Denied != 0 || res.RetryAfter != time.Hour {
		t.Fatalf("got denied=%d retry=%v, want denied 0 and 1h", res.Denied, res.RetryAfter)
	}
	if !reserve(t, m, t0, Request{"x", Limit{Burst: 1, Period: time.Hour}}).Allowed {
		t.Fatal("key x consumed by a denied Reserve")
	}
	if err := m.Refund(ctx, t0, nil); err != nil {
		t.Fatal(err)
	}
	if res := reserve(t, m, t0); !res.Allowed || res.Denied != -1 || len(res.Keys) != 0 {
		t.Fatalf("empty Reserve = %+v", res)
	}
}

func TestReserveDuplicateKey(t *testing.T) {
	m := newMemory(t, 0)
	r := Request{"k", Limit{Burst: 3, Period: 3 * time.Second}}
	res := reserve(t, m, t0, r, r)
	if !res.Allowed || res.Keys[1].Remaining != 1 {
		t.Fatalf("two units at once: %+v", res)
	}
	if res := reserve(t, m, t0, r, r); res.Allowed || res.Denied != 1 {
		t.Fatalf("third and fourth unit: allowed=%v denied=%d, want denied at 1", res.Allowed, res.Denied)
	}
	if !reserve(t, m, t0, r).Allowed {
		t.Fatal("third unit should remain after the denied pair")
	}
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, 0)
	user := Request{"user:alice", Limit{Burst: 3, Period: 3 * time.Minute}}
	ip := Request{"ip:203.0.113.7", Limit{Burst: 10, Period: time.Minute}}

	// Successes refund: any number of them never burns the budget.
	for i := range 20 {
		now := t0.Add(time.Duration(i) * time.Second)
		res := reserve(t, m, now, user, ip)
		if !res.Allowed || res.Keys[0].Remaining != 2 {
			t.Fatalf("success %d: %+v", i, res)
		}
		if err := m.Refund(ctx, now, []Request{user, ip}); err != nil {
			t.Fatal(err)
		}
	}
	// Refund cannot lift a key above its full burst.
	for range 5 {
		if err := m.Refund(ctx, t0.Add(time.Minute), []Request{user}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		res := reserve(t, m, t0.Add(time.Minute), user)
		if res.Allowed != (i < 3) {
			t.Fatalf("attempt %d after extra refunds: allowed=%v", i, res.Allowed)
		}
	}
	// Refunding a spent key gives back exactly one unit.
	if err := m.Refund(ctx, t0.Add(time.Minute), []Request{user}); err != nil {
		t.Fatal(err)
	}
	if res := reserve(t, m, t0.Add(time.Minute), user); !res.Allowed || res.Keys[0].Remaining != 0 {
		t.Fatalf("after one refund: %+v", res)
	}
	// Unknown keys are skipped, not created.
	if err := m.Refund(ctx, t0, []Request{{"never-seen", user.Limit}}); err != nil || m.containsForTest("never-seen", user.Limit) {
		t.Fatalf("refund of unknown key: err=%v tracked=%v", err, m.containsForTest("never-seen", user.Limit))
	}
}

func TestInvalid(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, 0)
	for _, l := range []Limit{{}, {Burst: 0, Period: time.Second}, {Burst: 1, Period: 0}, {Burst: -1, Period: time.Second}, {Burst: 1, Period: -time.Second}} {
		reqs := []Request{{"ok", Limit{1, time.Second}}, {"bad", l}}
		if _, err := m.Reserve(ctx, t0, reqs); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("Reserve with %+v: err = %v, want ErrInvalidLimit", l, err)
		}
		if err := m.Refund(ctx, t0, reqs); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("Refund with %+v: err = %v, want ErrInvalidLimit", l, err)
		}
	}
	if m.containsForTest("ok", Limit{1, time.Second}) {
		t.Error("invalid request consumed budget")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Reserve(cancelled, t0, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Reserve with cancelled context: %v", err)
	}
	fresh := newMemory(t, 0)
	for i := range MaxLimits + 1 {
		_, err := fresh.Reserve(ctx, t0, []Request{{"k", Limit{Burst: 1, Period: time.Duration(i+1) * time.Second}}})
		if want := i == MaxLimits; errors.Is(err, ErrTooManyLimits) != want {
			t.Fatalf("limit %d: err = %v, want ErrTooManyLimits: %v", i+1, err, want)
		}
	}
	for _, n := range []int{-1, 1, 63} {
		if _, err := NewMemory(MemoryConfig{MaxKeys: n}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewMemory(MaxKeys: %d) err = %v, want ErrInvalidConfig", n, err)
		}
	}
}

// TestParallelExactBudget races 200 goroutines, each trying several times,
// on one budget: exactly Burst attempts may pass, whatever the interleaving.
func TestParallelExactBudget(t *testing.T) {
	const burst, workers, tries = 37, 200, 10
	tests := []struct {
		name string
		reqs func(i int) []Request
	}{
		{"one key", func(int) []Request {
			return []Request{{"user:alice", Limit{burst, time.Hour}}}
		}},
		{"shared key among many", func(i int) []Request {
			return []Request{
				{"ip:" + strconv.Itoa(i), Limit{100, time.Hour}},
				{"net24:x", Limit{1000, time.Hour}},
				{"user:alice", Limit{burst, time.Hour}},
				{"userip:alice|" + strconv.Itoa(i), Limit{100, time.Hour}},
			}
		}},
		{"reversed order", func(i int) []Request {
			return []Request{
				{"user:alice", Limit{burst, time.Hour}},
				{"userip:alice|" + strconv.Itoa(i), Limit{100, time.Hour}},
				{"net24:x", Limit{1000, time.Hour}},
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory(t, 0)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range workers {
				wg.Go(func() {
					<-start
					for range tries {
						res, err := m.Reserve(context.Background(), t0, tc.reqs(i))
						if err != nil {
							t.Error(err)
							return
						}
						if res.Allowed {
							allowed.Add(1)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if got := allowed.Load(); got != burst {
				t.Errorf("allowed %d of %d parallel attempts, want exactly %d", got, workers*tries, burst)
			}
		})
	}
}

// TestIdleEvictedFirst fills one shard with a few idle keys among many
// penalised ones; new keys must displace only the idle ones, folding
// nothing, although a random sample would rarely find them.
func TestIdleEvictedFirst(t *testing.T) {
	const perShard, nIdle = 64, 4
	m := newMemory(t, numShards*perShard)
	keys := keysInShard(m, 0, perShard+nIdle)
	idle, penalised, fresh := keys[:nIdle], keys[nIdle:perShard], keys[perShard:]
	short := Limit{Burst: 10, Period: time.Second}
	long := Limit{Burst: 1, Period: time.Hour}
	for _, k := range idle {
		reserve(t, m, t0, Request{k, short})
	}
	for _, k := range penalised {
		reserve(t, m, t0, Request{k, long})
	}
	later := t0.Add(time.Minute) // idle keys are back at full budget
	for _, k := range fresh {
		if !reserve(t, m, later, Request{k, long}).Allowed {
			t.Fatalf("fresh key %s denied", k)
		}
	}
	for _, k := range penalised {
		if !m.containsForTest(k, long) {
			t.Errorf("penalised key %s evicted while idle keys were available", k)
		}
		if res := reserve(t, m, later, Request{k, long}); res.Allowed {
			t.Errorf("penalised key %s forgiven", k)
		}
	}
	for _, k := range idle {
		if m.containsForTest(k, short) {
			t.Errorf("idle key %s kept", k)
		}
	}
	if _, fill := m.Stats(); fill != 0 {
		t.Errorf("sketch fill %v, want 0: nothing in penalty needed folding", fill)
	}
}

// TestEvictedPenaltyKept fills one shard with penalised keys only; every
// key pushed out must still be denied, through the sketch.
func TestEvictedPenaltyKept(t *testing.T) {
	const perShard = 16
	m := newMemory(t, numShards*perShard)
	keys := keysInShard(m, 5, 4*perShard)
	long := Limit{Burst: 2, Period: time.Hour}
	for _, k := range keys {
		reserve(t, m, t0, Request{k, long})
		reserve(t, m, t0, Request{k, long})
	}
	if n, _ := m.Stats(); n != perShard {
		t.Fatalf("tracked %d keys, want the shard cap %d", n, perShard)
	}
	now := t0.Add(time.Minute)
	for _, k := range keys {
		res := reserve(t, m, now, Request{k, long})
		if res.Allowed {
			t.Fatalf("key %s forgiven after eviction", k)
		}
		// Never earlier than the truth (t0 + 1h + 30m - 1h = t0 + 30m).
		if want := 29 * time.Minute; res.RetryAfter < want {
			t.Fatalf("key %s retry after %v, want at least %v", k, res.RetryAfter, want)
		}
	}
	if _, fill := m.Stats(); fill == 0 {
		t.Error("sketch empty after evicting penalised keys")
	}
}

// keysInShard returns n distinct keys that hash to shard index.
func keysInShard(m *Memory, index, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := "k" + strconv.Itoa(i)
		if maphash.String(m.seed, k)>>(64-6) == uint64(index) {
			out = append(out, k)
		}
	}
	return out
}

// TestCapUnderFlood floods a small table with 2M random keys: the table
// never exceeds its cap, the heap stays bounded, a victim penalised before
// the flood under the flood's own Limit is evicted yet still denied
// afterwards (through the sketch), and keys of other Limits are untouched.
func TestCapUnderFlood(t *testing.T) {
	const maxKeys, flood = 10_000, 2_000_000
	n := flood
	if testing.Short() {
		n = flood / 10
	}
	m := newMemory(t, maxKeys)
	floodLimit := Limit{Burst: 1, Period: time.Hour}
	// Same Limit as the flood: the flood's keys have later TATs, so the
	// victim is the entry sampled eviction picks.
	victim := Request{"user:victim", floodLimit}
	// Another Limit: its partition is never the one sampled.
	bystander := Request{"ip:203.0.113.7", Limit{Burst: 5, Period: time.Minute}}
	reserve(t, m, t0, victim)
	for range 5 {
		reserve(t, m, t0, bystander)
	}
	if reserve(t, m, t0, victim).Allowed || reserve(t, m, t0, bystander).Allowed {
		t.Fatal("victims not penalised")
	}
	heapBefore := heapInUse()

	reqs := make([]Request, 1)
	buf := make([]byte, 0, 32)
	for i := range n {
		now := t0.Add(time.Duration(i) * time.Microsecond)
		buf = strconv.AppendUint(append(buf[:0], "user:"...), uint64(i)*0x9e3779b97f4a7c15, 16)
		reqs[0] = Request{string(buf), floodLimit}
		if _, err := m.Reserve(context.Background(), now, reqs); err != nil {
			t.Fatal(err)
		}
		if i%100_000 == 0 {
			if keys, _ := m.Stats(); keys > maxKeys {
				t.Fatalf("after %d keys the table holds %d > cap %d", i, keys, maxKeys)
			}
		}
	}
	keys, fill := m.Stats()
	if keys > maxKeys {
		t.Fatalf("table holds %d keys > cap %d", keys, maxKeys)
	}
	growth := heapInUse() - heapBefore
	t.Logf("%d flood keys: tracked %d, sketch fill %.3f, heap growth %d KiB", n, keys, fill, growth/1024)
	if growth > 4<<20 { // the 2 MiB sketch plus slack
		t.Errorf("heap grew by %d bytes during the flood, want under 4 MiB", growth)
	}
	if m.containsForTest(victim.Key, victim.Limit) {
		t.Fatal("victim still in the table: the test did not exercise eviction")
	}
	after := t0.Add(time.Duration(n) * time.Microsecond)
	res := reserve(t, m, after, victim)
	if res.Allowed {
		t.Fatal("victim's penalty was washed out by the flood")
	}
	if truth := t0.Add(time.Hour).Sub(after); res.RetryAfter < truth {
		t.Errorf("victim retry after %v, earlier than the truth %v", res.RetryAfter, truth)
	}
	if !m.containsForTest(bystander.Key, bystander.Limit) || reserve(t, m, after, bystander).Allowed {
		t.Error("a key of another Limit was evicted or forgiven")
	}
	if res := reserve(t, m, after, Request{"ip:198.51.100.1", bystander.Limit}); !res.Allowed || res.Keys[0].Remaining != 4 {
		t.Errorf("fresh key of another Limit: %+v, want a full budget", res)
	}
}

// heapInUse returns live heap bytes after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestSketchNeverUnderestimates folds many keys into a small region of
// time and checks every estimate against its key's true TAT.
func TestSketchNeverUnderestimates(t *testing.T) {
	tests := []struct {
		name string
		keys int
	}{
		{"sparse", 1000},
		{"saturated", 500_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sk := new(sketch)
			tat := func(i int) int64 { return int64(mix64(uint64(i)) % 1e12) }
			for i := range tc.keys {
				sk.fold(mix64(uint64(i)+7), tat(i))
			}
			for i := range tc.keys {
				if est := sk.estimate(mix64(uint64(i) + 7)); est < tat(i) {
					t.Fatalf("key %d: estimate %d < true TAT %d", i, est, tat(i))
				}
			}
			if f := sk.fill(0); f <= 0 || f > 1 {
				t.Errorf("fill = %v", f)
			}
			if f := sk.fill(1e12); f != 0 {
				t.Errorf("fill after every TAT passed = %v, want 0", f)
			}
		})
	}
}

// TestBytesPerKey measures the memory store at 1M tracked keys against the
// 64 bytes per key the design allows.
func TestBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 1M keys")
	}
	const n = 1 << 20
	perKey, _ := bytesPerKey(n, func() (reserveFunc, any) {
		m := newMemory(t, 2*n)
		return memoryReserve(m), m
	})
	t.Logf("memory store: %.1f bytes per key at %d keys", perKey, n)
	if perKey > 64 {
		t.Errorf("%.1f bytes per key, want at most 64", perKey)
	}
}

// reserveFunc makes one decision for a set of keys at now.
type reserveFunc func(now time.Time, keys []string) bool

func memoryReserve(m *Memory) reserveFunc {
	lim := Limit{Burst: 10, Period: time.Minute}
	return func(now time.Time, keys []string) bool {
		var buf [maxInline]Request
		reqs := buf[:0]
		for _, k := range keys {
			reqs = append(reqs, Request{k, lim})
		}
		res, err := m.Reserve(context.Background(), now, reqs)
		return err == nil && res.Allowed
	}
}

// bytesPerKey builds a limiter, inserts n distinct keys (built on the fly,
// so a limiter that keeps the strings pays for them) and returns the heap
// growth per key, including the limiter's fixed cost.
func bytesPerKey(n int, build func() (reserveFunc, any)) (float64, any) {
	before := heapInUse()
	reserve, keep := build()
	keys := make([]string, 1)
	for i := range n {
		keys[0] = fmt.Sprintf("ip:10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		reserve(t0, keys)
	}
	after := heapInUse()
	runtime.KeepAlive(keep)
	return float64(after-before) / float64(n), keep
}
