package guard

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// TestBudgetTable: each kind of attempt gets the rows it meets, keyed as
// the stores expect, ordered by kind (hard, soft, success) so that the
// store reserves and the guard reports them in that order, and a selection
// by kind holds exactly the rows of those kinds.
func TestBudgetTable(t *testing.T) {
	g := newGuard(t, DefaultPolicy())
	v4, v6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8:1:2::7")
	tests := []struct {
		name  string
		build func(*budgets)
		// rows as "kind id key", in table order.
		want []string
	}{
		{"untrusted IPv4", func(t *budgets) { g.untrustedBudgets(t, "alice", v4, netip.Prefix{}) }, []string{
			"hard ip:203.0.113.7", "hard net:203.0.113.0/24", "hard userip:alice|203.0.113.7", "hard userhard:alice",
			"soft ipsoft:203.0.113.7", "soft user:alice",
			"success succip:alice|203.0.113.7",
		}},
		{"untrusted IPv6", func(t *budgets) { g.untrustedBudgets(t, "alice", v6, netip.Prefix{}) }, []string{
			"hard ip:2001:db8:1:2::/64", "hard net:2001:db8:1::/56", "hard net48:2001:db8:1::/48",
			"hard userip:alice|2001:db8:1:2::/64", "hard userhard:alice",
			"soft ipsoft:2001:db8:1:2::/64", "soft user:alice",
			"success succip:alice|2001:db8:1:2::/64",
		}},
		{"known network", func(t *budgets) { g.untrustedBudgets(t, "alice", v4, knownNetwork(v4)) }, []string{
			"hard ip:203.0.113.7", "hard net:203.0.113.0/24", "hard userip:alice|203.0.113.7", "hard knet:alice|203.0.113.0/24",
			"soft ipsoft:203.0.113.7", "soft user:alice",
			"success succip:alice|203.0.113.7",
		}},
		{"device", func(t *budgets) { g.deviceBudgets(t, "alice", "d1") }, []string{
			"hard dev:d1", "success succ:alice", "success succdev:d1",
		}},
		{"address only", func(t *budgets) { g.addressBudgets(t, v6) }, []string{
			"hard ip:2001:db8:1:2::/64", "hard net:2001:db8:1::/56", "hard net48:2001:db8:1::/48",
		}},
		{"a name longer than the key buffer", func(t *budgets) { g.deviceBudgets(t, strings.Repeat("n", 300), "d1") }, []string{
			"hard dev:d1", "success succ:" + strings.Repeat("n", 300), "success succdev:d1",
		}},
	}
	kindName := map[budgetKind]string{kindHard: "hard", kindSoft: "soft", kindSuccess: "success"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tab budgets
			tt.build(&tab)
			var got []string
			for _, b := range tab.rows[:tab.n] {
				got = append(got, kindName[b.kind]+" "+b.Key)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, set := range []budgetKind{kindHard, kindSoft, kindSuccess, kindHard | kindSuccess, kindHard | kindSoft | kindSuccess} {
				p := tab.pick(set)
				n := 0
				for _, b := range tab.rows[:tab.n] {
					if b.kind&set != 0 {
						if p.reqs[n] != b.Request || p.row[n].id != b.id {
							t.Errorf("pick %b: request %d is %v, want %v", set, n, p.reqs[n], b.Request)
						}
						n++
					}
				}
				if len(p.reqs) != n || cap(p.reqs) > tab.n {
					t.Errorf("pick %b: %d requests (capacity %d), want %d", set, len(p.reqs), cap(p.reqs), n)
				}
				failure, success := p.split()
				for _, r := range failure {
					if strings.HasPrefix(r.Key, "succ") {
						t.Errorf("pick %b: success budget %s among the failure budgets", set, r.Key)
					}
				}
				for _, r := range success {
					if !strings.HasPrefix(r.Key, "succ") {
						t.Errorf("pick %b: budget %s among the success budgets", set, r.Key)
					}
				}
				if len(failure)+len(success) != len(p.reqs) || cap(failure) != len(failure) {
					t.Errorf("pick %b: split into %d and %d of %d (capacity %d)", set, len(failure), len(success), len(p.reqs), cap(failure))
				}
			}
		})
	}
}

// TestRefusalPrecedence: when several budgets refuse at once, a hard
// budget is reported before the success budget, the success budget before
// a soft one (which alone would only ask for a challenge), and hard ones
// in table order, whatever their order in the store's request list. The
// budgets are spent by a success from the client's address (its success
// budget) and a failure from a neighbour in its /24 (the account's and the
// network's budgets).
func TestRefusalPrecedence(t *testing.T) {
	one := limit.Limit{Burst: 1, Period: time.Hour}
	tests := []struct {
		name      string
		mod       func(*Policy)
		success   bool // the client logged in successfully first
		want      Reason
		challenge bool // the refusal asks for a challenge
	}{
		{"hard before soft", func(p *Policy) { p.UserHard, p.User = one, one }, false, ReasonUserHard, false},
		{"success before soft", func(p *Policy) { p.Success, p.User = one, one }, true, ReasonSuccess, false},
		{"hard before success", func(p *Policy) { p.Success, p.UserHard = one, one }, true, ReasonUserHard, false},
		{"network before account", func(p *Policy) { p.UserHard, p.Subnet = one, one }, false, ReasonSubnet, false},
		{"soft alone: a challenge", func(p *Policy) { p.User = one }, false, ReasonUser, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, policy(tt.mod))
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			client := Attempt{Username: "alice", IP: netip.MustParseAddr("192.0.2.1")}
			neighbour := Attempt{Username: "alice", IP: netip.MustParseAddr("192.0.2.2")}
			settle := func(a Attempt, o Outcome) {
				t.Helper()
				v, err := g.Check(ctx, now, a)
				if err != nil || !v.Allowed {
					t.Fatalf("setup %v: %+v, %v", a.IP, v, err)
				}
				if err := g.Record(ctx, now, v, o); err != nil {
					t.Fatal(err)
				}
			}
			if tt.success {
				settle(client, Success)
			}
			settle(neighbour, Failure)
			v, err := g.Check(ctx, now, client)
			if err != nil || v.Allowed || v.Reason != tt.want || (v.Challenge > 0) != tt.challenge {
				t.Errorf("allowed %v, reason %q, challenge %d, err %v; want reason %q, challenge %v", v.Allowed, v.Reason, v.Challenge, err, tt.want, tt.challenge)
			}
		})
	}
}
