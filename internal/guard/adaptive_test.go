package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

type adaptiveEnv struct {
	t     *testing.T
	g     *Guard
	known *MemoryKnownNetworks
	det   *Detector
	now   time.Time
	flips []DetectorState
}

func newAdaptive(t *testing.T, p Policy) *adaptiveEnv {
	t.Helper()
	st, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	det, err := NewDetector(DefaultDetectorConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &adaptiveEnv{t: t, known: NewMemoryKnownNetworks(1000), det: det, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.g, err = New(Config{Store: st, Policy: p, Known: e.known, Detector: det, OnAttackChange: func(s DetectorState) { e.flips = append(e.flips, s) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// try runs one attempt that fails its password check (when allowed) and
// returns the verdict.
func (e *adaptiveEnv) try(a Attempt, o Outcome) Verdict {
	e.t.Helper()
	e.now = e.now.Add(100 * time.Millisecond)
	v, err := e.g.Check(context.Background(), e.now, a)
	if err != nil {
		e.t.Fatal(err)
	}
	if v.Allowed {
		if err := e.g.Record(context.Background(), e.now, v, o); err != nil {
			e.t.Fatal(err)
		}
	}
	return v
}

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(10 + i/65536), byte(i / 256), byte(i), 1})
}

// TestOwnerKeepsLoggingInDuringTargetedAttack: an attacker failing against
// one account from hundreds of addresses spends its shared budget, but
// neither the owner's device credential nor the owner's known network is
// blocked; the device is not even challenged, the known network is, like
// every client without a device credential.
func TestOwnerKeepsLoggingInDuringTargetedAttack(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) {
		p.User = limit.Limit{Burst: 5, Period: time.Hour}
		p.UserHard = limit.Limit{Burst: 20, Period: 24 * time.Hour}
	}))
	home := netip.MustParseAddr("198.51.100.23")
	// The owner logged in from home once, from an untrusted client.
	if v := e.try(Attempt{Username: "alice", IP: home}, Success); !v.Allowed || v.Trust != Untrusted {
		t.Fatalf("first login: %+v", v)
	}
	var allowed, challenged, denied int
	for i := 0; i < 300; i++ {
		v := e.try(Attempt{Username: "alice", IP: addr(i)}, Failure)
		switch {
		case v.Allowed:
			allowed++
		case v.Challenge > 0:
			challenged++
		case v.Reason == ReasonUserHard:
			denied++
		}
	}
	// 5 tries on the shared budget, then challenges until the account's
	// hard cap of 20 failures and requests, then 429.
	if allowed != 5 || challenged != 15 || denied != 300-20 {
		t.Fatalf("attackers: %d allowed, %d challenged, %d denied", allowed, challenged, denied)
	}
	// The owner's device credential: allowed, own budget, no challenge.
	if v := e.try(Attempt{Username: "alice", IP: netip.MustParseAddr("203.0.113.9"), Device: "dev-1"}, Success); !v.Allowed || v.Trust != TrustDevice || v.Challenge != 0 {
		t.Errorf("device: %+v", v)
	}
	// The owner at home, another host of the same /24, no device token.
	neighbour := Attempt{Username: "alice", IP: netip.MustParseAddr("198.51.100.77")}
	if v := e.try(neighbour, Success); v.Allowed || v.Challenge == 0 || v.Trust != TrustNetwork {
		t.Errorf("known network without a solution: %+v", v)
	}
	neighbour.Solve = func() (int, error) { return 99, nil }
	if v := e.try(neighbour, Success); !v.Allowed || v.Trust != TrustNetwork {
		t.Errorf("known network with a solution: %+v", v)
	}
	// An untrusted client is still refused: the account's hard cap holds.
	if v := e.try(Attempt{Username: "alice", IP: netip.MustParseAddr("192.0.2.1")}, Failure); v.Allowed || v.Reason != ReasonUserHard {
		t.Errorf("untrusted after the attack: %+v", v)
	}
}

func TestDeviceLocksAlone(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) { p.Device = limit.Limit{Burst: 3, Period: time.Hour} }))
	ip := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 3; i++ {
		if v := e.try(Attempt{Username: "bob", IP: ip, Device: "stolen"}, Failure); !v.Allowed {
			t.Fatalf("failure %d refused", i)
		}
	}
	v := e.try(Attempt{Username: "bob", IP: ip, Device: "stolen"}, Failure)
	if v.Allowed || v.Reason != ReasonDevice || v.RetryAfter <= 0 {
		t.Fatalf("fourth failure on the device: %+v", v)
	}
	if v := e.try(Attempt{Username: "bob", IP: ip, Device: "laptop"}, Success); !v.Allowed {
		t.Errorf("another device of the same user locked: %+v", v)
	}
	if v := e.try(Attempt{Username: "bob", IP: ip}, Failure); !v.Allowed {
		t.Errorf("untrusted client locked by a device's failures: %+v", v)
	}
}

func TestChallengeFlow(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) {
		p.IPSoft = limit.Limit{Burst: 2, Period: time.Hour}
		p.IP = limit.Limit{Burst: 7, Period: time.Hour}
	}))
	ip := netip.MustParseAddr("192.0.2.1")
	calls := 0
	solve := func(d int, err error) func() (int, error) {
		return func() (int, error) { calls++; return d, err }
	}
	steps := []struct {
		name   string
		solve  func() (int, error)
		allow  bool
		reason Reason
	}{
		{"soft budget 1", nil, true, ""},
		{"soft budget 2", nil, true, ""},
		{"past the soft budget: a challenge", nil, false, ReasonIPSoft},
		{"asking again spends the hard budget too", nil, false, ReasonIPSoft},
		{"a valid solution", solve(4, nil), true, ""},
		{"a wrong solution", solve(0, errors.New("bad")), false, ReasonChallenge},
		{"a too weak solution", solve(3, nil), false, ReasonChallenge},
		{"past the hard budget: 429, the solution not looked at", solve(4, nil), false, ReasonIP},
	}
	for i, st := range steps {
		before := calls
		v := e.try(Attempt{Username: fmt.Sprintf("u%d", i), IP: ip, Solve: st.solve}, Failure)
		if v.Allowed != st.allow || v.Reason != st.reason {
			t.Fatalf("%s: %+v", st.name, v)
		}
		if wantChallenge := !st.allow && st.reason != ReasonIP; (v.Challenge == 4) != wantChallenge {
			t.Errorf("%s: challenge %d", st.name, v.Challenge)
		}
		if st.reason == ReasonIP && calls != before {
			t.Errorf("%s: the solution was verified", st.name)
		}
	}
}

func TestUserHardCap(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) {
		p.User = limit.Limit{Burst: 2, Period: time.Hour}
		p.UserHard = limit.Limit{Burst: 4, Period: 24 * time.Hour}
	}))
	solved := func() (int, error) { return 4, nil }
	var kinds []string
	for i := 0; i < 6; i++ {
		v := e.try(Attempt{Username: "carol", IP: addr(i), Solve: solved}, Failure)
		switch {
		case v.Allowed:
			kinds = append(kinds, "allow")
		case v.Challenge > 0:
			kinds = append(kinds, "challenge")
		default:
			kinds = append(kinds, string(v.Reason))
		}
	}
	if got := fmt.Sprint(kinds); got != "[allow allow allow allow user_hard user_hard]" {
		t.Errorf("verdicts %s", got)
	}
}

func TestUnderAttackChallengesUntrustedOnly(t *testing.T) {
	e := newAdaptive(t, DefaultPolicy())
	// Yesterday, dave logged in from home.
	home := netip.MustParseAddr("198.51.100.5")
	if v := e.try(Attempt{Username: "dave", IP: home}, Success); !v.Allowed {
		t.Fatal(v)
	}
	// A botnet: each address tries two pairs of a combo list.
	for i := 0; i < 400; i++ {
		o := Failure
		if i%3 != 0 {
			o = UnknownUser
		}
		e.try(Attempt{Username: fmt.Sprintf("victim%d", i), IP: addr(i / 2)}, o)
	}
	if !e.g.UnderAttack(e.now) || len(e.flips) == 0 || !e.flips[0].UnderAttack {
		t.Fatalf("detector did not switch on (flips %v)", e.flips)
	}
	v := e.try(Attempt{Username: "erin", IP: netip.MustParseAddr("203.0.113.50")}, Failure)
	if v.Challenge != DefaultPolicy().AttackDifficulty || v.Reason != ReasonAttack {
		t.Errorf("untrusted under attack: %+v", v)
	}
	// A known network is challenged like everyone else: only a device
	// credential changes the answer.
	if v := e.try(Attempt{Username: "dave", IP: home}, Success); v.Allowed || v.Challenge != DefaultPolicy().AttackDifficulty || v.Trust != TrustNetwork {
		t.Errorf("known network under attack: %+v", v)
	}
	if v := e.try(Attempt{Username: "dave", IP: netip.MustParseAddr("203.0.113.51"), Device: "phone"}, Success); !v.Allowed || v.Challenge != 0 {
		t.Errorf("device under attack: %+v", v)
	}
	// After the attack and the cooldown, untrusted clients log in plainly.
	e.now = e.now.Add(20 * time.Minute)
	for i := 0; i < 3; i++ {
		e.try(Attempt{Username: "frank", IP: netip.MustParseAddr("203.0.113.60")}, Success)
		e.now = e.now.Add(3 * time.Minute)
	}
	if e.g.UnderAttack(e.now) {
		t.Error("still under attack 30 minutes after the burst")
	}
	if v := e.try(Attempt{Username: "gina", IP: netip.MustParseAddr("203.0.113.61")}, Success); !v.Allowed {
		t.Errorf("after the attack: %+v", v)
	}
}

func TestKnownNetworkExpires(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) { p.KnownNetworkTTL = time.Hour }))
	ip := netip.MustParseAddr("2001:db8:aa:1::7")
	e.try(Attempt{Username: "hank", IP: ip}, Success)
	if v := e.try(Attempt{Username: "hank", IP: netip.MustParseAddr("2001:db8:aa:ff::1")}, Success); v.Trust != TrustNetwork {
		t.Errorf("same /48: %+v", v)
	}
	if v := e.try(Attempt{Username: "ivan", IP: ip}, Success); v.Trust != Untrusted {
		t.Errorf("another user from the network: %+v", v)
	}
	e.now = e.now.Add(2 * time.Hour)
	if v := e.try(Attempt{Username: "hank", IP: netip.MustParseAddr("2001:db8:aa:2::1")}, Failure); v.Trust != Untrusted {
		t.Errorf("after the lifetime: %+v", v)
	}
	m := NewMemoryKnownNetworks(10)
	for i := 0; i < 100; i++ {
		_ = m.Remember(context.Background(), e.now, fmt.Sprint(i), netip.MustParsePrefix("10.0.0.0/24"), e.now.Add(time.Hour))
	}
	if m.Len() > 10 {
		t.Errorf("%d pairs kept, cap 10", m.Len())
	}
}

// TestCheckAddress: refresh grants spend the address's hard budgets only,
// are never challenged, and do not feed the detector.
func TestCheckAddress(t *testing.T) {
	e := newAdaptive(t, policy(func(p *Policy) {
		p.IP = limit.Limit{Burst: 3, Period: time.Hour}
		p.IPSoft = limit.Limit{Burst: 1, Period: time.Hour}
	}))
	ip := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 3; i++ {
		e.now = e.now.Add(time.Second)
		v, err := e.g.CheckAddress(context.Background(), e.now, ip)
		if err != nil || !v.Allowed || v.Challenge != 0 {
			t.Fatalf("attempt %d: %+v %v", i, v, err)
		}
		if err := e.g.Record(context.Background(), e.now, v, UnknownUser); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := e.g.CheckAddress(context.Background(), e.now, ip)
	if v.Allowed || v.Reason != ReasonIP || v.RetryAfter <= 0 {
		t.Errorf("fourth: %+v", v)
	}
	if st, _ := e.det.State(e.now); st.Failures != 0 {
		t.Errorf("refresh failures fed the login detector: %+v", st)
	}
	// A success refunds.
	other := netip.MustParseAddr("198.51.100.1")
	for i := 0; i < 10; i++ {
		v, _ := e.g.CheckAddress(context.Background(), e.now, other)
		if !v.Allowed {
			t.Fatalf("success %d refused", i)
		}
		_ = e.g.Record(context.Background(), e.now, v, Success)
	}
}
