package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/redis/go-redis/v9"
)

// TestDetectorCountsShared: two detectors on one Redis prefix add their
// failures up (neither crosses the threshold alone), every bucket key has
// a TTL, and a degraded Failover makes Add refuse at once.
func TestDetectorCountsShared(t *testing.T) {
	rdb, prefix := testClient(t)
	counts, err := NewDetectorCounts(rdb, prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	newDetector := func() *guard.Detector {
		cfg := guard.DefaultDetectorConfig()
		cfg.MinFailures = 10
		cfg.Shared, cfg.SyncEvery = counts, time.Millisecond
		d, err := guard.NewDetector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := newDetector(), newDetector()
	now := time.Now()
	for i := range 12 {
		now = now.Add(2 * time.Millisecond)
		sig := guard.SignalFailure
		if i < 4 {
			sig = guard.SignalUnknownFailure
		}
		d := []*guard.Detector{a, b}[i%2]
		if st, _ := d.Observe(now, sig); i < 9 && st.UnderAttack {
			t.Fatalf("under attack after %d failures", i+1)
		}
		if err := d.Sync(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Millisecond)
	for name, d := range map[string]*guard.Detector{"a": a, "b": b} {
		if err := d.Sync(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		st, _ := d.State(now)
		if !st.UnderAttack || st.Failures != 12 || st.Unknown != 4 {
			t.Errorf("%s: %+v; want under attack on 12 failures, 4 unknown, from both", name, st)
		}
	}
	keys := keysUnder(t, rdb, prefix)
	if len(keys) == 0 {
		t.Fatal("no bucket keys in Redis")
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 70*time.Second {
			t.Errorf("%s: TTL %v, want one window and a bucket at most", k, ttl)
		}
	}

	// Degraded: refused at once, without a round trip.
	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFailover(newTestLimiter(t, rdb, prefix), mem, FailoverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f.setDegraded(time.Now(), true, errors.New("test"))
	fc, _ := NewDetectorCounts(rdb, prefix, f)
	if _, err := fc.Add(context.Background(), now, 10*time.Second, 6, 1, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Add while degraded: %v, want ErrUnavailable", err)
	}
}

// stalledRedis is a loopback TCP listener that accepts connections and
// reads what clients send but never answers, as a Redis that hangs (a
// stuck primary, a network partition that drops packets) does. stuck is
// closed when the first bytes arrive.
type stalledRedis struct {
	ln    net.Listener
	stuck chan struct{}
	once  sync.Once

	mu    sync.Mutex
	conns []net.Conn
}

func newStalledRedis(t *testing.T) *stalledRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledRedis{ln: ln, stuck: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					s.once.Do(func() { close(s.stuck) })
				}
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// close stops listening and hangs up every connection, which ends a
// client's wait.
func (s *stalledRedis) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// TestLoginNotHeldUpByStalledRedis: with the detector's shared counts on
// a Redis that accepts connections and never answers, and the detector's
// exchange stuck on it, logins (guard.Check and Record) still finish at
// memory speed and are counted locally: the exchange runs in the
// detector's own goroutine, never on a login. The client's timeouts are
// longer than the test, so only the design keeps logins fast.
func TestLoginNotHeldUpByStalledRedis(t *testing.T) {
	redisDown := newStalledRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisDown.ln.Addr().String(), MaxRetries: -1,
		DialTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	t.Cleanup(func() { rdb.Close() })
	counts, err := NewDetectorCounts(rdb, "stalled:", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := guard.DefaultDetectorConfig()
	cfg.MinFailures, cfg.Shared, cfg.SyncEvery = 10, counts, 10*time.Millisecond
	det, err := guard.NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := limit.NewMemory(limit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Store: mem, Policy: guard.DefaultPolicy(), Detector: det})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { g.Run(ctx); close(ran) }()
	defer func() {
		cancel()
		redisDown.close()
		<-ran
	}()

	// Logins go on from the start, before and after the exchange gets
	// stuck, until a dozen have finished while it is. A login takes
	// microseconds here; half a second is generous for a loaded machine
	// and well under the exchange's own timeout (1 s) and the client's
	// (1 min).
	const bound = 500 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for i, whileStuck := 0, 0; whileStuck < 12; i++ {
		select {
		case <-redisDown.stuck:
			whileStuck++
		default:
			if time.Now().After(deadline) {
				t.Fatal("the detector never tried to exchange its counts")
			}
		}
		start := time.Now()
		v, err := g.Check(context.Background(), start, guard.Attempt{Username: fmt.Sprintf("nobody%d", i), IP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed {
			if err := g.Record(context.Background(), start, v, guard.UnknownUser); err != nil {
				t.Fatal(err)
			}
		}
		if took := time.Since(start); took > bound {
			t.Fatalf("login %d took %v with the detector's Redis stalled, want under %v", i, took, bound)
		}
	}
	if st, _ := det.State(time.Now()); !st.UnderAttack || st.Failures < 10 {
		t.Errorf("detector %+v after 12 unknown-user failures with Redis stalled: want them counted locally, under attack", st)
	}
}
