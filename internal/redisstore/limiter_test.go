package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
	"github.com/redis/go-redis/v9"
)

func newTestLimiter(t testing.TB, rdb redis.UniversalClient, prefix string) *Limiter {
	t.Helper()
	l, err := NewLimiter(rdb, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDifferential drives a Limiter (on the caller's clock) and a
// limit.Memory with the same random sequence and wants the same results.
func TestDifferential(t *testing.T) {
	rdb, prefix := testClient(t)
	ctx := context.Background()
	limits := []limit.Limit{
		{Burst: 3, Period: time.Second},
		{Burst: 5, Period: 10 * time.Second},
		{Burst: 1, Period: 500 * time.Millisecond},
		{Burst: 10, Period: time.Minute},
		{Burst: 7, Period: 3 * time.Second}, // interval rounded down
		{Burst: 3, Period: time.Second},     // same Limit, other keys
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rl := newTestLimiter(t, rdb, fmt.Sprintf("%s%d:", prefix, seed))
			rl.callerNow = true
			rl.margin = time.Hour // keys must outlive the simulated time
			mem, err := limit.NewMemory(limit.MemoryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 42))
			now := time.Unix(1_800_000_000, 123_456_789)
			var lastAllowed []limit.Request
			allowed, denied := 0, 0
			for step := range 1500 {
				now = now.Add(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
				if rng.IntN(8) == 0 && lastAllowed != nil {
					if err := rl.Refund(ctx, now, lastAllowed); err != nil {
						t.Fatal(err)
					}
					if err := mem.Refund(ctx, now, lastAllowed); err != nil {
						t.Fatal(err)
					}
					lastAllowed = nil
					continue
				}
				reqs := make([]limit.Request, 1+rng.IntN(5))
				for i := range reqs {
					k := rng.IntN(2 * len(limits))
					reqs[i] = limit.Request{Key: fmt.Sprintf("k%d", k), Limit: limits[k%len(limits)]}
				}
				got, err := rl.Reserve(ctx, now, reqs)
				if err != nil {
					t.Fatal(err)
				}
				want, err := mem.Reserve(ctx, now, reqs)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d, %v:\nredis  %+v\nmemory %+v", step, reqs, got, want)
				}
				if got.Allowed {
					allowed++
					lastAllowed = reqs
				} else {
					denied++
				}
			}
			if allowed < 100 || denied < 100 {
				t.Fatalf("sequence too one-sided to compare: %d allowed, %d denied", allowed, denied)
			}
		})
	}
}

// TestParallelExact runs 200 Reserves at once on one shared key: exactly
// Burst are allowed.
func TestParallelExact(t *testing.T) {
	rdb, prefix := testClient(t)
	rl := newTestLimiter(t, rdb, prefix)
	shared := limit.Limit{Burst: 37, Period: time.Hour}
	own := limit.Limit{Burst: 5, Period: time.Hour}
	var ok atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			res, err := rl.Reserve(context.Background(), time.Now(), []limit.Request{
				{Key: "shared", Limit: shared},
				{Key: fmt.Sprint("own", i), Limit: own},
			})
			if err != nil {
				errs <- err
				return
			}
			if res.Allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := ok.Load(); got != int64(shared.Burst) {
		t.Fatalf("%d of 200 allowed, want exactly %d", got, shared.Burst)
	}
}

// countHook counts the commands a client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestOneRoundTrip wants one command per Reserve and per Refund once the
// scripts are loaded.
func TestOneRoundTrip(t *testing.T) {
	rdb, prefix := testClient(t)
	h := &countHook{}
	c := redis.NewClient(rdb.Options())
	defer c.Close()
	c.AddHook(h)
	rl := newTestLimiter(t, c, prefix)
	ctx := context.Background()
	reqs := []limit.Request{
		{Key: "ip:192.0.2.1", Limit: limit.Limit{Burst: 10, Period: time.Minute}},
		{Key: "net:192.0.2.0/24", Limit: limit.Limit{Burst: 100, Period: time.Minute}},
		{Key: "user:alice", Limit: limit.Limit{Burst: 5, Period: time.Minute}},
	}
	if _, err := rl.Reserve(ctx, time.Now(), reqs); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := rl.Refund(ctx, time.Now(), reqs); err != nil {
		t.Fatal(err)
	}
	h.n.Store(0)
	const n = 20
	for range n {
		if _, err := rl.Reserve(ctx, time.Now(), reqs); err != nil {
			t.Fatal(err)
		}
		if err := rl.Refund(ctx, time.Now(), reqs); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.n.Load(); got != 2*n {
		t.Fatalf("%d commands for %d Reserves and %d Refunds, want %d", got, n, n, 2*n)
	}
}

// TestTTLAndServerTime checks that every key written has a TTL covering
// its TAT, that a refund back to full deletes the key, and that the
// server's clock decides, not the caller's.
func TestTTLAndServerTime(t *testing.T) {
	rdb, prefix := testClient(t)
	rl := newTestLimiter(t, rdb, prefix)
	ctx := context.Background()
	l := limit.Limit{Burst: 2, Period: 10 * time.Second} // interval 5 s
	reqs := []limit.Request{{Key: "a", Limit: l}}
	res, err := rl.Reserve(ctx, time.Unix(0, 0), reqs) // a silly caller clock
	if err != nil || !res.Allowed || res.Keys[0].Remaining != 1 {
		t.Fatalf("first reserve: %+v, %v", res, err)
	}
	keys := keysUnder(t, rdb, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys %v, want one", keys)
	}
	pttl := rdb.PTTL(ctx, keys[0]).Val()
	if pttl < 5*time.Second || pttl > 6*time.Second+time.Millisecond {
		t.Fatalf("TTL %v after one unit of 5 s, want 5 s plus at most the 1 s margin", pttl)
	}
	// A caller clock far ahead must not refill the key.
	res, err = rl.Reserve(ctx, time.Now().Add(time.Hour), append(reqs, reqs...))
	if err != nil || res.Allowed || res.Denied != 1 {
		t.Fatalf("reserve of two with one left: %+v, %v", res, err)
	}
	if err := rl.Refund(ctx, time.Now(), reqs); err != nil {
		t.Fatal(err)
	}
	if keys := keysUnder(t, rdb, prefix); len(keys) != 0 {
		t.Fatalf("keys %v after refunding to a full budget, want none", keys)
	}
}

func TestInvalidLimit(t *testing.T) {
	rdb, prefix := testClient(t)
	rl := newTestLimiter(t, rdb, prefix)
	for _, l := range []limit.Limit{{}, {Burst: 1}, {Burst: 0, Period: time.Second}, {Burst: 1, Period: MaxPeriod + 1}} {
		_, err := rl.Reserve(context.Background(), time.Now(), []limit.Request{{Key: "k", Limit: l}})
		if !errors.Is(err, limit.ErrInvalidLimit) {
			t.Errorf("%+v: err %v, want ErrInvalidLimit", l, err)
		}
	}
}

// TestLimitKeyName pins how a budget's key is named in Redis (see
// Limiter): replicas of two versions must name one budget alike.
func TestLimitKeyName(t *testing.T) {
	l := &Limiter{prefix: "p:"}
	for _, r := range []limit.Request{
		{Key: "ip:192.0.2.1", Limit: limit.Limit{Burst: 20, Period: time.Minute}},
		{Key: "userip:" + strings.Repeat("long name ", 30) + "|2001:db8::/64", Limit: limit.Limit{Burst: 5, Period: time.Hour}},
	} {
		h := sha256.New()
		_ = binary.Write(h, binary.BigEndian, [2]uint64{uint64(r.Limit.Burst), uint64(r.Limit.Period)})
		h.Write([]byte(r.Key))
		want := "p:l:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
		if got := l.limitKey(r); got != want {
			t.Errorf("limitKey(%.20q) = %q, want %q", r.Key, got, want)
		}
	}
}
