package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
	"github.com/redis/go-redis/v9"
)

// trivialScript is the baseline: the cheapest EVALSHA there is, the
// round trip that every Reserve pays whatever it does.
var trivialScript = redis.NewScript(`return 1`)

// guardRequests is what the guard reserves for an untrusted IPv4 login:
// five hard budgets and two soft ones.
func guardRequests(i int) []limit.Request {
	ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	user := fmt.Sprint("user", i%1000)
	m := time.Minute
	return []limit.Request{
		{Key: "ip:" + ip, Limit: limit.Limit{Burst: 20, Period: m}},
		{Key: "net:" + ip[:len(ip)-2], Limit: limit.Limit{Burst: 200, Period: m}},
		{Key: "userip:" + user + "|" + ip, Limit: limit.Limit{Burst: 5, Period: m}},
		{Key: "userhard:" + user, Limit: limit.Limit{Burst: 100, Period: m}},
		{Key: "ipsoft:" + ip, Limit: limit.Limit{Burst: 10, Period: m}},
		{Key: "user:" + user, Limit: limit.Limit{Burst: 10, Period: m}},
	}
}

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
