package guard

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

func newGuard(t *testing.T, p Policy) *Guard {
	t.Helper()
	st, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Store: st, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// wide is a budget that never binds in these tests.
var wide = limit.Limit{Burst: 1 << 20, Period: time.Hour}

// policy returns a Policy whose budgets never bind, changed by mod.
func policy(mod func(*Policy)) Policy {
	p := Policy{IP: wide, IPSoft: wide, Subnet: wide, Subnet48: wide, User: wide, UserHard: wide, UserIP: wide,
		Device: wide, Network: wide, Success: wide, KnownNetworkTTL: 30 * 24 * time.Hour, Difficulty: 4, AttackDifficulty: 8}
	if mod != nil {
		mod(&p)
	}
	return p
}

func TestBudgets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		policy Policy
		// attempt i comes from ip(i) for user(i); all fail.
		ip     func(i int) string
		user   func(i int) string
		n      int
		denyAt int // first refused attempt (0-based), -1 for none
		reason Reason
		// challenge: the refusal is a challenge (soft budget), not a deny.
		challenge bool
	}{
		{
			name:   "many usernames from one IPv4 address stop at the address",
			policy: policy(func(p *Policy) { p.IP = limit.Limit{Burst: 20, Period: time.Hour} }),
			ip:     func(int) string { return "203.0.113.7" },
			user:   func(i int) string { return fmt.Sprintf("user%d", i) },
			n:      50, denyAt: 20, reason: ReasonIP,
		},
		{
			name: "rotating addresses in one /24 stop at the subnet",
			policy: policy(func(p *Policy) {
				p.IP = limit.Limit{Burst: 3, Period: time.Hour}
				p.Subnet = limit.Limit{Burst: 100, Period: time.Hour}
			}),
			ip:   func(i int) string { return fmt.Sprintf("198.51.100.%d", i%256) },
			user: func(i int) string { return fmt.Sprintf("user%d", i) },
			n:    300, denyAt: 100, reason: ReasonSubnet,
		},
		{
			name:   "IPv6 addresses inside one /64 count as one address",
			policy: policy(func(p *Policy) { p.IP = limit.Limit{Burst: 10, Period: time.Hour} }),
			ip:     func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) },
			user:   func(i int) string { return fmt.Sprintf("user%d", i) },
			n:      30, denyAt: 10, reason: ReasonIP,
		},
		{
			name:   "IPv6 /64s rotating inside one /56 stop at the subnet",
			policy: policy(func(p *Policy) { p.Subnet = limit.Limit{Burst: 40, Period: time.Hour} }),
			ip:     func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i%256) },
			user:   func(i int) string { return fmt.Sprintf("user%d", i) },
			n:      100, denyAt: 40, reason: ReasonSubnet,
		},
		{
			name:   "IPv6 /56s rotating inside one /48 stop at the /48",
			policy: policy(func(p *Policy) { p.Subnet48 = limit.Limit{Burst: 60, Period: time.Hour} }),
			ip:     func(i int) string { return fmt.Sprintf("2001:db8:1:%x00::1", i%256) },
			user:   func(i int) string { return fmt.Sprintf("user%d", i) },
			n:      100, denyAt: 60, reason: ReasonSubnet48,
		},
		{
			name:   "one username from many networks stops at the username",
			policy: policy(func(p *Policy) { p.User = limit.Limit{Burst: 10, Period: time.Hour} }),
			ip:     func(i int) string { return fmt.Sprintf("10.%d.%d.1", i/256, i%256) },
			user:   func(int) string { return "alice" },
			n:      30, denyAt: 10, reason: ReasonUser, challenge: true,
		},
		{
			name: "one username from one address stops at the pair first",
			policy: policy(func(p *Policy) {
				p.User = limit.Limit{Burst: 10, Period: time.Hour}
				p.UserIP = limit.Limit{Burst: 5, Period: time.Hour}
			}),
			ip:   func(int) string { return "192.0.2.1" },
			user: func(int) string { return "alice" },
			n:    8, denyAt: 5, reason: ReasonUserIP,
		},
		{
			name:   "IPv4-mapped IPv6 is the IPv4 address",
			policy: policy(func(p *Policy) { p.IP = limit.Limit{Burst: 4, Period: time.Hour} }),
			ip: func(i int) string {
				if i%2 == 0 {
					return "::ffff:192.0.2.9"
				}
				return "192.0.2.9"
			},
			user: func(i int) string { return fmt.Sprintf("u%d", i) },
			n:    10, denyAt: 4, reason: ReasonIP,
		},
		{
			name:   "a stuffing run spread over a botnet passes these budgets",
			policy: DefaultPolicy(),
			ip:     func(i int) string { return fmt.Sprintf("%d.%d.7.1", 1+i%200, i/200) },
			user:   func(i int) string { return fmt.Sprintf("user%d", i) },
			n:      1000, denyAt: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, tt.policy)
			ctx := context.Background()
			for i := 0; i < tt.n; i++ {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				v, err := g.Check(ctx, now, Attempt{Username: tt.user(i), IP: netip.MustParseAddr(tt.ip(i))})
				if err != nil {
					t.Fatal(err)
				}
				if i < tt.denyAt || tt.denyAt < 0 {
					if !v.Allowed {
						t.Fatalf("attempt %d denied (%s), want allowed until %d", i, v.Reason, tt.denyAt)
					}
					if err := g.Record(ctx, now, v, Failure); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if v.Allowed {
					t.Fatalf("attempt %d allowed, want refused from %d", i, tt.denyAt)
				}
				if v.Reason != tt.reason || (v.Challenge > 0) != tt.challenge {
					t.Fatalf("attempt %d: reason %q challenge %d, want %q (challenge %v)", i, v.Reason, v.Challenge, tt.reason, tt.challenge)
				}
				if !tt.challenge && v.RetryAfter <= 0 {
					t.Fatalf("attempt %d: denied without Retry-After", i)
				}
				return
			}
		})
	}
}

func TestSuccessRefunds(t *testing.T) {
	g := newGuard(t, policy(func(p *Policy) {
		p.IP = limit.Limit{Burst: 3, Period: time.Hour}
		p.User = limit.Limit{Burst: 3, Period: time.Hour}
	}))
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Attempt{Username: "alice", IP: netip.MustParseAddr("192.0.2.1")}
	// A hundred successful logins spend nothing.
	for i := 0; i < 100; i++ {
		v, err := g.Check(ctx, now, a)
		if err != nil || !v.Allowed {
			t.Fatalf("success %d: allowed=%v err=%v", i, v.Allowed, err)
		}
		if err := g.Record(ctx, now, v, Success); err != nil {
			t.Fatal(err)
		}
	}
	// An aborted attempt (hasher overloaded) spends nothing either.
	v, _ := g.Check(ctx, now, a)
	if err := g.Record(ctx, now, v, Aborted); err != nil {
		t.Fatal(err)
	}
	// Three failures spend the budget; the fourth attempt is denied.
	for i := 0; i < 3; i++ {
		v, _ := g.Check(ctx, now, a)
		if !v.Allowed {
			t.Fatalf("failure %d denied", i)
		}
		_ = g.Record(ctx, now, v, Failure)
	}
	if v, _ := g.Check(ctx, now, a); v.Allowed {
		t.Fatal("fourth failure allowed")
	} else if v.IPState.Remaining != 0 || v.IPPolicy.Burst != 3 {
		t.Errorf("IP state %+v policy %+v", v.IPState, v.IPPolicy)
	}
	// The budget refills with time: one unit per Period/Burst.
	later := now.Add(20 * time.Minute)
	if v, _ := g.Check(ctx, later, a); !v.Allowed {
		t.Fatal("no refill after 20 minutes")
	}
}

// TestParallelAttemptsNeverOverrun sends 200 parallel attempts at a budget
// of N: exactly N are allowed, so exactly N reach the password hash.
func TestParallelAttemptsNeverOverrun(t *testing.T) {
	const n = 7
	g := newGuard(t, policy(func(p *Policy) { p.User = limit.Limit{Burst: n, Period: time.Hour} }))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
			v, err := g.Check(context.Background(), now, Attempt{Username: "victim", IP: ip})
			if err != nil {
				t.Error(err)
				return
			}
			if v.Allowed {
				allowed.Add(1)
				_ = g.Record(context.Background(), now, v, Failure)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := allowed.Load(); got != n {
		t.Fatalf("%d attempts allowed, want exactly %d", got, n)
	}
}

func TestInvalid(t *testing.T) {
	if _, err := New(Config{Policy: DefaultPolicy()}); err == nil {
		t.Error("nil store accepted")
	}
	st, _ := limit.NewMemory(limit.MemoryConfig{})
	bad := DefaultPolicy()
	bad.User.Burst = 0
	if _, err := New(Config{Store: st, Policy: bad}); err == nil {
		t.Error("zero burst accepted")
	}
	g := newGuard(t, DefaultPolicy())
	if _, err := g.Check(context.Background(), time.Now(), Attempt{Username: "", IP: netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("empty username accepted")
	}
	if _, err := g.Check(context.Background(), time.Now(), Attempt{Username: "a"}); err == nil {
		t.Error("missing address accepted")
	}
	// Recording a denied verdict is a no-op.
	if err := g.Record(context.Background(), time.Now(), Verdict{}, Success); err != nil {
		t.Error(err)
	}
}

// TestSuccessfulLoginsAreBudgeted: successes are refunded from the failure
// budgets, so before the success budget one account holder could loop
// correct logins without limit, each a password hash. Now the success
// budget refuses the account (trusted clients), the device, and the account
// from one address (untrusted clients) before any hash — and never refuses
// a stranger for what the owner did, nor spends for a failure, so a 429
// says nothing about whether a name exists.
func TestSuccessfulLoginsAreBudgeted(t *testing.T) {
	three := limit.Limit{Burst: 3, Period: time.Minute}
	ip1, ip2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	type try struct {
		a       Attempt
		outcome Outcome
		after   time.Duration // advance the clock first
		allowed bool
		reason  Reason
	}
	alice := func(ip netip.Addr, dev string) Attempt { return Attempt{Username: "alice", IP: ip, Device: dev} }
	tests := []struct {
		name  string
		tries []try
	}{
		{"untrusted: per account and address", []try{
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), allowed: false, reason: ReasonSuccess},
			// A stranger elsewhere is not refused for the owner's logins.
			{a: alice(ip2, ""), outcome: Failure, allowed: true},
			// One unit back after Period/Burst.
			{a: alice(ip1, ""), after: 20 * time.Second, outcome: Success, allowed: true},
			{a: alice(ip1, ""), allowed: false, reason: ReasonSuccess},
		}},
		{"trusted: per account and per device", []try{
			{a: alice(ip1, "d1"), outcome: Success, allowed: true},
			{a: alice(ip1, "d1"), outcome: Success, allowed: true},
			{a: alice(ip2, "d2"), outcome: Success, allowed: true},
			// The account's budget is spent, whichever device asks.
			{a: alice(ip1, "d1"), allowed: false, reason: ReasonSuccess},
			{a: alice(ip2, "d3"), allowed: false, reason: ReasonSuccess},
			// Another account's device is not touched.
			{a: Attempt{Username: "bob", IP: ip1, Device: "b1"}, outcome: Success, allowed: true},
			// Untrusted clients do not share the account's budget.
			{a: alice(ip2, ""), outcome: Failure, allowed: true},
		}},
		{"failures and aborts spend nothing", []try{
			{a: alice(ip1, ""), outcome: Failure, allowed: true},
			{a: alice(ip1, ""), outcome: UnknownUser, allowed: true},
			{a: alice(ip1, ""), outcome: Aborted, allowed: true},
			{a: alice(ip1, "d1"), outcome: Failure, allowed: true},
			{a: alice(ip1, "d1"), outcome: Aborted, allowed: true},
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), outcome: Success, allowed: true},
			{a: alice(ip1, ""), allowed: false, reason: ReasonSuccess},
			{a: alice(ip1, "d1"), outcome: Success, allowed: true},
			{a: alice(ip1, "d1"), outcome: Success, allowed: true},
			{a: alice(ip1, "d1"), outcome: Success, allowed: true},
			{a: alice(ip1, "d1"), allowed: false, reason: ReasonSuccess},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, policy(func(p *Policy) { p.Success = three }))
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, tr := range tt.tries {
				now = now.Add(tr.after)
				v, err := g.Check(ctx, now, tr.a)
				if err != nil {
					t.Fatal(err)
				}
				if v.Allowed != tr.allowed || v.Reason != tr.reason {
					t.Fatalf("try %d (%+v): allowed %v reason %q, want %v %q", i, tr.a, v.Allowed, v.Reason, tr.allowed, tr.reason)
				}
				if !v.Allowed && v.RetryAfter <= 0 {
					t.Errorf("try %d: refused without RetryAfter", i)
				}
				if err := g.Record(ctx, now, v, tr.outcome); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSuccessBudgetIsNoEnumerationOracle: with the default budgets, a name
// that does not exist, tried 40 times a minute, gets exactly the verdicts a
// real account gets for 40 wrong passwords — also while its owner has spent
// the account's success budget from a device.
func TestSuccessBudgetIsNoEnumerationOracle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(name string, outcome Outcome, ownerLoops bool) []string {
		g := newGuard(t, DefaultPolicy())
		if ownerLoops {
			for range 40 {
				v, _ := g.Check(ctx, now, Attempt{Username: name, IP: netip.MustParseAddr("203.0.113.9"), Device: "owner"})
				_ = g.Record(ctx, now, v, Success)
			}
		}
		var got []string
		for i := range 40 {
			at := now.Add(time.Duration(i) * 1500 * time.Millisecond)
			v, err := g.Check(ctx, at, Attempt{Username: name, IP: netip.MustParseAddr("192.0.2.1")})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%v/%d/%s/%v", v.Allowed, v.Challenge, v.Reason, v.RetryAfter.Round(time.Second)))
			_ = g.Record(ctx, at, v, outcome)
		}
		return got
	}
	ghost := run("ghost", UnknownUser, false)
	for _, tc := range []struct {
		name       string
		ownerLoops bool
	}{{"wrong passwords", false}, {"wrong passwords while the owner loops", true}} {
		if got := run("alice", Failure, tc.ownerLoops); fmt.Sprint(got) != fmt.Sprint(ghost) {
			t.Errorf("%s: verdicts differ from a name that does not exist:\n got %v\nwant %v", tc.name, got, ghost)
		}
	}
}
