package limit

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The baseline is what a careful service would otherwise write: one
// golang.org/x/time/rate token bucket per key, kept in an LRU map of
// bounded size. It checks keys one by one, so unlike Memory it is not
// atomic over a set of keys (a denied key does not stop the others from
// spending); it is here for speed and memory, not as a correct guard.

// rateLRU is a mutex-guarded LRU of rate.Limiters.
type rateLRU struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[string]*list.Element
	limit rate.Limit
	burst int
}

type rateEntry struct {
	key string
	lim *rate.Limiter
}

func newRateLRU(maxKeys int, l Limit) *rateLRU {
	return &rateLRU{
		max:   maxKeys,
		ll:    list.New(),
		items: make(map[string]*list.Element),
		limit: rate.Every(time.Duration(l.interval())),
		burst: l.Burst,
	}
}

// getLocked returns the limiter of key, creating it and evicting the least
// recently used one if needed. It requires c.mu held.
func (c *rateLRU) getLocked(key string) *rate.Limiter {
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*rateEntry).lim
	}
	if c.ll.Len() >= c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*rateEntry).key)
	}
	ent := &rateEntry{key: key, lim: rate.NewLimiter(c.limit, c.burst)}
	c.items[key] = c.ll.PushFront(ent)
	return ent.lim
}

// allow decides one attempt over keys.
func (c *rateLRU) allow(now time.Time, keys []string) bool {
	var lims [maxInline]*rate.Limiter
	c.mu.Lock()
	for i, k := range keys {
		lims[i] = c.getLocked(k)
	}
	c.mu.Unlock()
	ok := true
	for _, l := range lims[:len(keys)] {
		if !l.AllowN(now, 1) {
			ok = false
		}
	}
	return ok
}

// attemptKeys returns n attempts shaped like the guard's untrusted IPv4
// login, which reserves six keys at once: per address, per /24, per
// user+address, the account's hard cap, the address's soft budget and the
// account's soft budget (guard.requests). The pools are big enough that
// most attempts touch keys already tracked.
func attemptKeys(n int) [][]string {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]string, n)
	for i := range out {
		ip := rng.IntN(1 << 16)
		user := rng.IntN(1 << 16)
		addr := fmt.Sprintf("10.%d.%d.%d", ip>>16, ip>>8&0xff, ip&0xff)
		out[i] = []string{
			"ip:" + addr,
			fmt.Sprintf("net:10.%d.%d.0/24", ip>>16, ip>>8&0xff),
			fmt.Sprintf("userip:user%d|%s", user, addr),
			fmt.Sprintf("userhard:user%d", user),
			"ipsoft:" + addr,
			fmt.Sprintf("user:user%d", user),
		}
	}
	return out
}

// BenchmarkReserve compares decisions per second, six keys per attempt,
// for Memory and the x/time/rate LRU baseline in the same run. Compare the
// ns/op of the two sub-benchmarks.
func BenchmarkReserve(b *testing.B) {
	attempts := attemptKeys(1 << 16)
	lim := Limit{Burst: 10, Period: time.Minute}
	impls := []struct {
		name  string
		build func() reserveFunc
	}{
		{"memory", func() reserveFunc {
			m, err := NewMemory(MemoryConfig{MaxKeys: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			return memoryReserve(m)
		}},
		{"xrate-lru", func() reserveFunc {
			return newRateLRU(1<<20, lim).allow
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			reserve := impl.build()
			var seed sync.Mutex
			next := uint64(0)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				seed.Lock()
				next++
				i := int(next * 7919)
				seed.Unlock()
				now := t0
				for pb.Next() {
					i++
					now = now.Add(time.Microsecond)
					reserve(now, attempts[i&(len(attempts)-1)])
				}
			})
		})
	}
}

// BenchmarkBytesPerKey reports heap bytes per tracked key at 1M keys for
// Memory and the baseline, as the B/key metric. Run it with -benchtime=1x.
func BenchmarkBytesPerKey(b *testing.B) {
	const n = 1 << 20
	lim := Limit{Burst: 10, Period: time.Minute}
	impls := []struct {
		name  string
		build func() (reserveFunc, any)
	}{
		{"memory", func() (reserveFunc, any) {
			m, err := NewMemory(MemoryConfig{MaxKeys: 2 * n})
			if err != nil {
				b.Fatal(err)
			}
			return memoryReserve(m), m
		}},
		{"xrate-lru", func() (reserveFunc, any) {
			c := newRateLRU(2*n, lim)
			return c.allow, c
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			var perKey float64
			for range b.N {
				perKey, _ = bytesPerKey(n, impl.build)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
