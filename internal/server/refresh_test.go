package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// tokens is a decoded token response.
type tokens struct {
	access, refresh, typ string
}

func tokensOf(t *testing.T, res response) tokens {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("token response %d %s", res.status, res.body)
	}
	m := res.json(t)
	tk := tokens{}
	tk.access, _ = m["access_token"].(string)
	tk.refresh, _ = m["refresh_token"].(string)
	tk.typ, _ = m["token_type"].(string)
	if tk.access == "" || tk.refresh == "" {
		t.Fatalf("missing tokens in %s", res.body)
	}
	return tk
}

func wantRefreshRefused(t *testing.T, name string, res response) {
	t.Helper()
	if res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_grant" {
		t.Errorf("%s: %d %s, want 400 invalid_grant", name, res.status, res.body)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice", "correct horse battery")
	t0 := tokensOf(t, e.login("alice", "correct horse battery"))
	t1 := tokensOf(t, e.refresh(t0.refresh, nil))
	if t1.refresh == t0.refresh || t1.access == t0.access || t1.typ != "Bearer" {
		t.Fatalf("rotation did not issue new tokens: %+v -> %+v", t0, t1)
	}
	if res := e.me("Bearer " + t1.access); res.status != http.StatusOK {
		t.Fatalf("refreshed access token: %d %s", res.status, res.body)
	}
	t2 := tokensOf(t, e.refresh(t1.refresh, nil))

	// t0 is presented again: someone holds a copy. The family dies, t2
	// with it, and a security event is logged.
	wantRefreshRefused(t, "reuse of t0", e.refresh(t0.refresh, nil))
	wantRefreshRefused(t, "t2 after reuse", e.refresh(t2.refresh, nil))
	ev := e.logs.Events("refresh.reuse")
	if len(ev) != 1 || ev[0]["family"] == "" || ev[0]["sub"] == "" {
		t.Errorf("refresh.reuse events %v, want one naming the family and user", ev)
	}
	// Another login's family is untouched.
	other := tokensOf(t, e.login("alice", "correct horse battery"))
	tokensOf(t, e.refresh(other.refresh, nil))
}

func TestRefreshRefusals(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) {
		c.Now = clock.Now
		c.RefreshTTL = 10 * 24 * time.Hour
		c.RefreshIdleTTL = 2 * 24 * time.Hour
		c.AllowedScopes = []string{"read", "write", "admin"}
	}))
	e.addUser("bob", "correct horse battery")
	login := func() tokens {
		return tokensOf(t, e.postToken(url.Values{"username": {"bob"}, "password": {"correct horse battery"}, "scope": {"read write"}, "client_id": {"app"}}.Encode()))
	}
	tk := login()
	wantRefreshRefused(t, "malformed", e.refresh("short", url.Values{"client_id": {"app"}}))
	wantRefreshRefused(t, "unknown", e.refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", url.Values{"client_id": {"app"}}))
	wantRefreshRefused(t, "other client", e.refresh(tk.refresh, url.Values{"client_id": {"evil"}}))
	if res := e.refresh(tk.refresh, url.Values{"client_id": {"app"}, "scope": {"admin"}}); res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_scope" {
		t.Errorf("wider scope: %d %s", res.status, res.body)
	}
	if res := e.postToken(url.Values{"grant_type": {"refresh_token"}}.Encode()); res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_request" {
		t.Errorf("no refresh_token: %d %s", res.status, res.body)
	}
	// Refusals above did not consume the token; narrowing the scope works.
	res := e.refresh(tk.refresh, url.Values{"client_id": {"app"}, "scope": {"read"}})
	if tokensOf(t, res); res.json(t)["scope"] != "read" {
		t.Errorf("narrowed scope: %s", res.body)
	}

	// Idle lifetime: a token unused for longer than 2 days is dead.
	tk = login()
	clock.now = clock.now.Add(2*24*time.Hour + time.Second)
	wantRefreshRefused(t, "idle expired", e.refresh(tk.refresh, url.Values{"client_id": {"app"}}))

	// Absolute lifetime: rotating every day keeps a family alive for 10
	// days from the login, not longer.
	tk = login()
	start := clock.now
	for clock.now.Sub(start) < 9*24*time.Hour {
		clock.now = clock.now.Add(24 * time.Hour)
		tk = tokensOf(t, e.refresh(tk.refresh, url.Values{"client_id": {"app"}}))
	}
	clock.now = start.Add(10*24*time.Hour + time.Second)
	wantRefreshRefused(t, "absolute expiry", e.refresh(tk.refresh, url.Values{"client_id": {"app"}}))

	// A disabled account's refresh tokens stop working.
	tk = login()
	if _, err := e.st.SetDisabled(context.Background(), "bob", true, clock.now); err != nil {
		t.Fatal(err)
	}
	wantRefreshRefused(t, "disabled user", e.refresh(tk.refresh, url.Values{"client_id": {"app"}}))
}

func TestRefreshBoundToDPoPKey(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("carol", "correct horse battery")
	k, thief := newDPoPKey(t), newDPoPKey(t)
	now := time.Now()
	tokenURL := e.cfg.Issuer + "/token"
	tk := tokensOf(t, e.loginWith("carol", "correct horse battery", "DPoP", k.proof(http.MethodPost, tokenURL, now, "", "")))
	if tk.typ != "DPoP" {
		t.Fatalf("token_type %q", tk.typ)
	}
	wantRefreshRefused(t, "no proof", e.refresh(tk.refresh, nil))
	wantRefreshRefused(t, "thief's proof", e.refresh(tk.refresh, nil, "DPoP", thief.proof(http.MethodPost, tokenURL, now, "", "")))
	next := tokensOf(t, e.refresh(tk.refresh, nil, "DPoP", k.proof(http.MethodPost, tokenURL, now, "", "")))
	if next.typ != "DPoP" {
		t.Errorf("refreshed token_type %q, want DPoP", next.typ)
	}
	res := get(t, e, "/users/me", "Authorization", "DPoP "+next.access, "DPoP", k.proof(http.MethodGet, e.cfg.Issuer+"/users/me", now, next.access, ""))
	if res.status != http.StatusOK {
		t.Errorf("refreshed bound token: %d %s", res.status, res.body)
	}
	if res := e.me("Bearer " + next.access); res.status != http.StatusUnauthorized {
		t.Errorf("refreshed bound token as Bearer: %d", res.status)
	}
}

// TestRefreshSpendsGuardBudget: guessing refresh tokens from one address
// meets the per-address budget like guessing passwords does.
func TestRefreshSpendsGuardBudget(t *testing.T) {
	pol := unlimited()
	pol.IP = limit.Limit{Burst: 3, Period: time.Hour}
	e := newTestEnv(t, withPolicy(pol))
	e.addUser("dave", "correct horse battery")
	guess := "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"
	var last response
	for i := 0; i < 4; i++ {
		last = e.refresh(guess[:42]+string(rune('A'+4*i)), nil)
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Errorf("4th guess from one address: %d %s, want 429", last.status, last.body)
	}
}

// TestRefreshFamiliesCappedPerUser: every login starts a refresh-token
// family, so an account looping logins left a row per success without
// bound. A login beyond the cap revokes the user's oldest family.
func TestRefreshFamiliesCappedPerUser(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.RefreshFamiliesPerUser = 2 }))
	e.addUser("alice", "correct horse battery")
	e.addUser("bob", "battery staple horse")
	bob := tokensOf(t, e.login("bob", "battery staple horse"))
	var alice []tokens
	for range 3 {
		time.Sleep(2 * time.Millisecond) // distinct creation times: "oldest" is well defined
		alice = append(alice, tokensOf(t, e.login("alice", "correct horse battery")))
	}
	wantRefreshRefused(t, "alice's oldest session", e.refresh(alice[0].refresh, nil))
	for i, tk := range []tokens{alice[1], alice[2], bob} {
		if res := e.refresh(tk.refresh, nil); res.status != http.StatusOK {
			t.Errorf("session %d: %d %s, want it live", i, res.status, res.body)
		}
	}
}
