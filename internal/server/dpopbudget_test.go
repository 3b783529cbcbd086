package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// TestDPoPReplayCacheBoundedPerKey: one token holder sending fresh proofs
// to /users/me as fast as it can is refused (429, Retry-After) once its key
// holds its share of the replay cache; the cache never fills, so another
// DPoP client is still served, not refused with 503.
func TestDPoPReplayCacheBoundedPerKey(t *testing.T) {
	const capacity = 4 * dpop.ReplayShare // 4 proofs per key
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = clock.Now }),
		withDPoP(dpop.Config{Replay: dpop.NewMemoryReplayCache(capacity)}))
	e.addUser("mallory", "mallory's own password")
	e.addUser("alice", "correct horse battery")
	meURL := e.cfg.Issuer + "/users/me"
	flooder := newDPoPKey(t)
	tok := dpopLogin(t, e, flooder, clock.now, "mallory", "mallory's own password")
	counts := map[int]int{}
	var limited response
	for range capacity + 50 {
		res := get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", flooder.proof(http.MethodGet, meURL, clock.now, tok, ""))
		counts[res.status]++
		if res.status == http.StatusTooManyRequests {
			limited = res
		}
	}
	if counts[http.StatusOK] > 4 || counts[http.StatusServiceUnavailable] != 0 {
		t.Errorf("one key's flood: %v; want at most 4 served and no 503", counts)
	}
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" {
		t.Errorf("the flood was not answered 429 with Retry-After: %v", counts)
	}
	k := newDPoPKey(t)
	other := dpopLogin(t, e, k, clock.now, "alice", "correct horse battery")
	if res := get(t, e, "/users/me", "Authorization", "DPoP "+other, "DPoP", k.proof(http.MethodGet, meURL, clock.now, other, "")); res.status != http.StatusOK {
		t.Errorf("another DPoP client after the flood: %d %s", res.status, res.body)
	}
}

// TestFailedProofsBudgetedPerAddress: resource requests whose proofs fail
// spend the client address's budget; past it the address gets the guard's
// 429 (Retry-After, RateLimit) before any proof is checked, while another
// address is still served, and requests whose proofs pass spend nothing.
func TestFailedProofsBudgetedPerAddress(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = clock.Now }), withTrustedProxies("127.0.0.0/8", "::1/128"),
		withPolicy(policyWith(func(p *guard.Policy) { p.IP = limit.Limit{Burst: 5, Period: time.Hour} })))
	e.addUser("alice", "correct horse battery")
	meURL := e.cfg.Issuer + "/users/me"
	k := newDPoPKey(t)
	tok := dpopLogin(t, e, k, clock.now, "alice", "correct horse battery")
	me := func(ip, proof string) response {
		t.Helper()
		return get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", proof, "X-Forwarded-For", ip)
	}
	// Good proofs, more than the budget: they spend nothing.
	for i := range 8 {
		if res := me("198.51.100.1", k.proof(http.MethodGet, meURL, clock.now, tok, "")); res.status != http.StatusOK {
			t.Fatalf("good proof %d: %d %s", i, res.status, res.body)
		}
	}
	thief := newDPoPKey(t)
	statuses := ""
	var last response
	for range 8 {
		last = me("203.0.113.9", thief.proof(http.MethodGet, meURL, clock.now, tok, ""))
		statuses += fmt.Sprint(last.status, " ")
	}
	if statuses != "401 401 401 401 401 429 429 429 " {
		t.Errorf("failing proofs from one address: %s; want 5 refusals, then 429", statuses)
	}
	for _, h := range []string{"Retry-After", "RateLimit-Policy", "RateLimit"} {
		if last.header.Get(h) == "" {
			t.Errorf("the 429 lacks %s", h)
		}
	}
	if res := me("198.51.100.1", k.proof(http.MethodGet, meURL, clock.now, tok, "")); res.status != http.StatusOK {
		t.Errorf("another address after the refusals: %d %s", res.status, res.body)
	}
}
