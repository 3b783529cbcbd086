package server

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// TestKnownNetworkDoesNotRevealAccounts: a neighbour in the same /24 as a
// real login spends the address's soft budget on junk names; after that,
// every name — the real account whose network is known, another real
// account, a name that does not exist — gets the same answer.
func TestKnownNetworkDoesNotRevealAccounts(t *testing.T) {
	e := newTestEnv(t, withTrustedProxies("127.0.0.0/8", "::1/128"), withPolicy(policyWith(func(p *guard.Policy) {
		p.IPSoft = limit.Limit{Burst: 3, Period: time.Hour}
	})))
	e.addUser("alice", "correct horse battery")
	e.addUser("bob", "another good password")
	if r := e.loginFrom("198.51.100.10", "alice", "correct horse battery", nil); r.status != http.StatusOK {
		t.Fatalf("alice's login from home: %d %s", r.status, r.body)
	}
	const neighbour = "198.51.100.66"
	for i := range 3 {
		if got := errorCode(t, e.loginFrom(neighbour, fmt.Sprintf("junk%d", i), "guess", nil)); got != "invalid_grant" {
			t.Fatalf("junk name %d: %s", i, got)
		}
	}
	answers := map[string]string{}
	for _, name := range []string{"alice", "bob", "ghost"} {
		r := e.loginFrom(neighbour, name, "guess", nil)
		answers[name] = fmt.Sprintf("%d %s", r.status, errorCode(t, r))
	}
	if answers["alice"] != answers["ghost"] || answers["bob"] != answers["ghost"] || !strings.Contains(answers["ghost"], "challenge_required") {
		t.Errorf("answers past the soft budget differ by account: %v", answers)
	}
}

// TestTrusted429CarriesRateLimitHeaders: a 429 has one shape, whether the
// client was untrusted, on a known network or holding a device credential.
func TestTrusted429CarriesRateLimitHeaders(t *testing.T) {
	e := newTestEnv(t, withTrustedProxies("127.0.0.0/8", "::1/128"), withPolicy(policyWith(func(p *guard.Policy) {
		p.Device = limit.Limit{Burst: 2, Period: time.Hour}
		p.Network = limit.Limit{Burst: 2, Period: time.Hour}
		p.UserHard = limit.Limit{Burst: 2, Period: time.Hour}
	})))
	e.addUser("alice", "correct horse battery")
	first := e.loginFrom("198.51.100.10", "alice", "correct horse battery", nil)
	deviceToken, _ := first.json(t)["device_token"].(string)
	if first.status != http.StatusOK || deviceToken == "" {
		t.Fatalf("first login: %d %s", first.status, first.body)
	}
	denied := func(ip string, extra url.Values) response {
		t.Helper()
		for i := range 10 {
			r := e.loginFrom(ip, "alice", "guess", extra)
			if r.status == http.StatusTooManyRequests {
				return r
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("attempt %d from %s: %d %s", i, ip, r.status, r.body)
			}
		}
		t.Fatalf("no 429 from %s", ip)
		return response{}
	}
	shapes := map[string]response{
		"untrusted": denied("192.0.2.1", nil),
		"network":   denied("198.51.100.77", nil),
		"device":    denied("203.0.113.5", url.Values{"device_token": {deviceToken}}),
	}
	if got := shapes["device"].header.Get("RateLimit-Policy"); got != `"device";q=2;w=3600` {
		t.Errorf("device 429 RateLimit-Policy %q, want the device credential's own budget", got)
	}
	for name, r := range shapes {
		for _, h := range []string{"Retry-After", "RateLimit-Policy", "RateLimit", "Content-Type", "Content-Length"} {
			if r.header.Get(h) == "" {
				t.Errorf("%s 429 lacks %s (headers %v)", name, h, slices.Sorted(maps.Keys(r.header)))
			}
		}
		if string(r.body) != string(shapes["untrusted"].body) {
			t.Errorf("%s 429 body %s, untrusted %s", name, r.body, shapes["untrusted"].body)
		}
	}
}

// TestKnownNetworkBudgetRevealsNothing: neighbours on several addresses of
// a network where alice logged in spend the same number of failures on
// alice and on a name that does not exist; then both names get the same
// answer. A known network's own budget smaller than the account's shared
// one would answer 429 for alice while the other name is still challenged.
func TestKnownNetworkBudgetRevealsNothing(t *testing.T) {
	e := newTestEnv(t, withTrustedProxies("127.0.0.0/8", "::1/128"), withPolicy(guard.DefaultPolicy()))
	e.addUser("alice", "correct horse battery")
	if r := e.loginFrom("198.51.100.10", "alice", "correct horse battery", nil); r.status != http.StatusOK {
		t.Fatalf("alice's login from home: %d %s", r.status, r.body)
	}
	for _, ip := range []string{"198.51.100.21", "198.51.100.22"} {
		for _, name := range []string{"alice", "ghost"} {
			for i := range 5 {
				if r := e.loginFrom(ip, name, "guess", nil); r.status != http.StatusBadRequest {
					t.Fatalf("%s from %s, try %d: %d %s", name, ip, i, r.status, r.body)
				}
			}
		}
	}
	answers := map[string]string{}
	for _, name := range []string{"alice", "ghost"} {
		r := e.loginFrom("198.51.100.23", name, "guess", nil)
		answers[name] = fmt.Sprintf("%d %s", r.status, errorCode(t, r))
	}
	if answers["alice"] != answers["ghost"] {
		t.Errorf("a neighbour tells the real account from a made-up name: %v", answers)
	}
}
