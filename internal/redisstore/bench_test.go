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
	"github.com/redis/go-redis/v9"
)

// trivialScript is the baseline: the cheapest EVALSHA there is, the
// round trip that every Reserve pays whatever it does.
var trivialScript = redis.NewScript(`return 1`)

// guardRequests is what the guard reserves for an untrusted IPv4 login:
// five hard budgets and two soft ones.
func guardRequests(i int) []limit.Request {
	ip := benchAddr(i)
	net, _ := ip.Prefix(24)
	user := benchUser(i)
	m := time.Minute
	return []limit.Request{
		{Key: "ip:" + ip.String(), Limit: limit.Limit{Burst: 20, Period: m}},
		{Key: "net:" + net.String(), Limit: limit.Limit{Burst: 200, Period: m}},
		{Key: "userip:" + user + "|" + ip.String(), Limit: limit.Limit{Burst: 5, Period: m}},
		{Key: "userhard:" + user, Limit: limit.Limit{Burst: 100, Period: m}},
		{Key: "ipsoft:" + ip.String(), Limit: limit.Limit{Burst: 10, Period: m}},
		{Key: "user:" + user, Limit: limit.Limit{Burst: 10, Period: m}},
		{Key: "succip:" + user + "|" + ip.String(), Limit: limit.Limit{Burst: 30, Period: m}},
	}
}

// benchAddr and benchUser are attempt i's client address and username:
// 4096 addresses (many with three-digit octets) over 16 /24 networks,
// 1000 users.
func benchAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func benchUser(i int) string { return fmt.Sprint("user", i%1000) }

// benchParallelism × GOMAXPROCS goroutines run each benchmark: 16 clients
// on 2 cores, compared with redis-benchmark -c 16 in docs/benchmarks.md.
const benchParallelism = 8

func BenchmarkTrivialEvalSha(b *testing.B) {
	rdb, prefix := testClient(b)
	keys := []string{prefix + "t"}
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := trivialScript.Run(ctx, rdb, keys).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkReserve(b *testing.B) {
	rdb, prefix := testClient(b)
	rl := newTestLimiter(b, rdb, prefix)
	ctx := context.Background()
	reqs := make([][]limit.Request, 4096)
	for i := range reqs {
		reqs[i] = guardRequests(i)
	}
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := rl.Reserve(ctx, time.Now(), reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGuardDecision is one whole guard decision for an untrusted
// login, as a replica makes it with its guard state in Redis: the guard's
// known-network lookup and the Reserve of the attempt's keys, in one
// script (KnownLimiter), through the same client as
// BenchmarkTrivialEvalSha. bench/run reports the ratio of the two.
func BenchmarkGuardDecision(b *testing.B) {
	rdb, prefix := testClient(b)
	kl := KnownLimiter{Limiter: newTestLimiter(b, rdb, prefix), Known: NewKnownNetworks(rdb, prefix)}
	g, err := guard.New(guard.Config{
		Store:        kl.Limiter,
		Known:        kl.Known,
		KnownReserve: kl,
		Policy:       guard.DefaultPolicy(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a := guard.Attempt{Username: benchUser(i), IP: benchAddr(i % 4096)}
			if _, err := g.Check(ctx, time.Now(), a); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// TestGuardRequestsMatchGuard keeps guardRequests honest: the keys it
// reserves are the ones the guard reserves for the same attempt.
func TestGuardRequestsMatchGuard(t *testing.T) {
	rec := &recordingStore{}
	g, err := guard.New(guard.Config{Store: rec, Policy: guard.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 255, 3 << 8, 4095} {
		rec.keys = nil
		if _, err := g.Check(context.Background(), time.Now(), guard.Attempt{Username: benchUser(i), IP: benchAddr(i)}); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range guardRequests(i) {
			want = append(want, r.Key)
		}
		if got := strings.Join(rec.keys, " "); got != strings.Join(want, " ") {
			t.Errorf("attempt %d (%v):\nguard reserves %s\nbenchmark has  %s", i, benchAddr(i), got, strings.Join(want, " "))
		}
	}
}

// recordingStore allows everything and remembers the keys of the first
// Reserve.
type recordingStore struct{ keys []string }

func (s *recordingStore) Reserve(_ context.Context, _ time.Time, reqs []limit.Request) (limit.Result, error) {
	if s.keys == nil {
		for _, r := range reqs {
			s.keys = append(s.keys, r.Key)
		}
	}
	return limit.Result{Allowed: true, Denied: -1, Keys: make([]limit.KeyResult, len(reqs))}, nil
}

func (s *recordingStore) Refund(context.Context, time.Time, []limit.Request) error { return nil }
