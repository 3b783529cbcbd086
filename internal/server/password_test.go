package server

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/breach"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/token"
)

const (
	oldPassword = "correct horse battery staple"
	newPassword = "a quite different sentence of mine"
)

// changePassword posts current and next to /password with the
// Authorization header auth ("" for none) and extra header pairs.
func (e *testEnv) changePassword(auth, current, next string, header ...string) response {
	e.t.Helper()
	form := url.Values{}
	if current != "" {
		form.Set("current_password", current)
	}
	if next != "" {
		form.Set("new_password", next)
	}
	if auth != "" {
		header = append(header, "Authorization", auth)
	}
	return e.postForm("/password", form.Encode(), header...)
}

// session is what one login gave a client.
type session struct {
	access, refresh, device string
}

func (e *testEnv) session(res response) session {
	e.t.Helper()
	if res.status != http.StatusOK {
		e.t.Fatalf("status %d %s; want tokens", res.status, res.body)
	}
	b := res.json(e.t)
	s := session{}
	s.access, _ = b["access_token"].(string)
	s.refresh, _ = b["refresh_token"].(string)
	s.device, _ = b["device_token"].(string)
	if s.access == "" || s.refresh == "" || s.device == "" {
		e.t.Fatalf("incomplete tokens in %s", res.body)
	}
	return s
}

// TestPasswordChangeRevokesOtherSessions: a password change through POST
// /password ends every session the old password started — access tokens,
// refresh tokens and device credentials, the changing client's own old
// ones included — and hands the changing client fresh ones that work. The
// new password logs in, the old one no longer does, the screening state
// is settled, and the event is logged without either password.
func TestPasswordChangeRevokesOtherSessions(t *testing.T) {
	e := newTestEnv(t)
	u := e.addUser("alice", oldPassword)
	ctx := context.Background()
	if err := e.st.SetPasswordScreening(ctx, u.ID, store.Screening{ChangeRequired: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	mine, other := e.session(e.login("alice", oldPassword)), e.session(e.login("alice", oldPassword))

	res := e.changePassword("Bearer "+mine.access, oldPassword, newPassword)
	fresh := e.session(res)
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	if tt := res.json(t)["token_type"]; tt != "Bearer" {
		t.Errorf("token_type %v", tt)
	}

	for name, s := range map[string]session{"changing client's old": mine, "other session's": other} {
		if r := e.me("Bearer " + s.access); r.status != http.StatusUnauthorized {
			t.Errorf("%s access token: /users/me %d, want 401", name, r.status)
		}
		if r := e.refresh(s.refresh, nil); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
			t.Errorf("%s refresh token: %d %s, want invalid_grant", name, r.status, r.body)
		}
	}
	if r := e.me("Bearer " + fresh.access); r.status != http.StatusOK {
		t.Errorf("new access token: /users/me %d %s", r.status, r.body)
	}
	if r := e.refresh(fresh.refresh, nil); r.status != http.StatusOK {
		t.Errorf("new refresh token: %d %s", r.status, r.body)
	}

	// Device credentials: an old one is seen as revoked and gives no
	// trust; the new one is trusted.
	revoked := func() float64 {
		return gatetest.Value(t, e.reg, "credshield_device_credentials_total", "event", "revoked_seen")
	}
	before := revoked()
	loginTrust := func(device string) any {
		t.Helper()
		r := e.postToken(url.Values{"username": {"alice"}, "password": {newPassword}, "device_token": {device}}.Encode())
		if r.status != http.StatusOK {
			t.Fatalf("login with the new password: %d %s", r.status, r.body)
		}
		ev := e.logs.Events("login.success")
		return ev[len(ev)-1]["trust"]
	}
	if trust := loginTrust(other.device); trust == "device" || revoked() != before+1 {
		t.Errorf("old device credential: trust %v, revoked_seen %v→%v; want no device trust and counted", trust, before, revoked())
	}
	if trust := loginTrust(fresh.device); trust != "device" {
		t.Errorf("new device credential: trust %v, want device", trust)
	}

	if r := e.login("alice", oldPassword); r.status != http.StatusBadRequest {
		t.Errorf("old password still logs in: %d", r.status)
	}
	if sc, err := e.st.PasswordScreening(ctx, u.ID); err != nil || sc != (store.Screening{}) {
		t.Errorf("screening after the change %+v, %v; want settled", sc, err)
	}
	if ev := e.logs.Events("password.change"); len(ev) != 1 || ev[0]["sub"] != u.ID {
		t.Errorf("password.change events %v", ev)
	}
	if logged := e.logs.String(); strings.Contains(logged, oldPassword) || strings.Contains(logged, newPassword) {
		t.Error("a password reached the log")
	}
}

// TestPasswordChangeGuessesHitBudget: a wrong current password at POST
// /password is a login failure on the account's and the address's
// budgets, shared with POST /token: once they are spent the endpoint
// answers 429 with Retry-After before any hash, even for the right
// password, and logins are refused too. A stolen token buys no guesses
// beyond the login's.
func TestPasswordChangeGuessesHitBudget(t *testing.T) {
	const budget = 3
	counter := &countingHasher{}
	e := newTestEnv(t,
		withPolicy(policyWith(func(p *guard.Policy) {
			// The account's hard budget, for untrusted clients and for
			// the known network the token's login made.
			p.UserHard = limit.Limit{Burst: budget, Period: time.Hour}
			p.Network = limit.Limit{Burst: budget, Period: time.Hour}
		})),
		withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword) // a success: refunded
	if r := e.login("alice", "wrong guess"); r.status != http.StatusBadRequest {
		t.Fatalf("wrong login: %d", r.status)
	}
	for i := 1; i < budget; i++ {
		r := e.changePassword("Bearer "+tok, "wrong guess", newPassword)
		if b := r.json(t); r.status != http.StatusBadRequest || b["error"] != "invalid_grant" || b["error_description"] != "the current password is incorrect" {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	hashes := counter.calls.Load()
	if hashes != 1+budget {
		t.Fatalf("%d hashes for one login and %d guesses", hashes, budget)
	}
	for _, pw := range []string{"another guess", oldPassword} {
		r := e.changePassword("Bearer "+tok, pw, newPassword)
		if r.status != http.StatusTooManyRequests || r.json(t)["error"] != "too_many_attempts" {
			t.Fatalf("over budget: %d %s; want 429", r.status, r.body)
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("Retry-After %q", ra)
		}
	}
	if r := e.login("alice", oldPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("login after the guesses: %d, want 429 (one budget)", r.status)
	}
	if got := counter.calls.Load(); got != hashes {
		t.Errorf("%d hashes ran past the budget", got-hashes)
	}
	if got := gatetest.Value(t, e.reg, "credshield_login_attempts_total", "outcome", "failure"); got != budget {
		t.Errorf("failure metric %v, want %d", got, budget)
	}
	if ev := e.logs.Events("login.failure"); len(ev) != budget || ev[budget-1]["via"] != "password_change" {
		t.Errorf("login.failure events %v", ev)
	}
	if u, _ := e.st.UserByName(context.Background(), "alice"); u.DeviceEpoch != 0 {
		t.Errorf("epoch %d after refused changes", u.DeviceEpoch)
	}
}

// TestPasswordChangeRefusesWeakPasswords: a new password that is too
// short, common or in the imported breach filter is refused with a 400
// naming the rule, never echoing the password, before the gate and the
// hasher; the old password stays.
func TestPasswordChangeRefusesWeakPasswords(t *testing.T) {
	common, err := breach.NewCommon()
	if err != nil {
		t.Fatal(err)
	}
	const leaked = "correct horse battery staple leaked"
	dir := t.TempDir()
	sum := sha1.Sum([]byte(leaked))
	in, out := filepath.Join(dir, "pwned.txt"), filepath.Join(dir, "filter")
	if err := os.WriteFile(in, []byte(strings.ToUpper(hex.EncodeToString(sum[:]))+":7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := breach.Build(t.Context(), out, []string{in}, breach.BuildOptions{Shards: 1}); err != nil {
		t.Fatal(err)
	}
	filter, err := breach.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filter.Close() })
	counter := &countingHasher{}
	e := newTestEnv(t, withScreen(&breach.Screener{Common: common, Filter: filter}),
		withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword)
	hashes := counter.calls.Load()

	tests := []struct {
		name, pw, rule string
	}{
		{"too short", "short one", "it has 9 characters; at least 15 are required"},
		{"common", "1qaz2wsx3edc4rfv", "commonly used passwords"},
		{"common any case", "1QAZ2WSX3EDC4RFV", "commonly used passwords"},
		{"breached", leaked, "exposed in data breaches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.changePassword("Bearer "+tok, oldPassword, tt.pw)
			b := r.json(t)
			desc, _ := b["error_description"].(string)
			if r.status != http.StatusBadRequest || b["error"] != "weak_password" || !strings.Contains(desc, tt.rule) {
				t.Fatalf("%d %s; want 400 weak_password naming %q", r.status, r.body, tt.rule)
			}
			if strings.Contains(string(r.body), tt.pw) {
				t.Errorf("the refused password is echoed: %s", r.body)
			}
		})
	}
	if got := counter.calls.Load(); got != hashes {
		t.Errorf("%d hashes for refused new passwords, want none", got-hashes)
	}
	if r := e.login("alice", oldPassword); r.status != http.StatusOK {
		t.Fatalf("old password after refusals: %d", r.status)
	}
	if r := e.changePassword("Bearer "+tok, oldPassword, newPassword); r.status != http.StatusOK {
		t.Fatalf("a clean password: %d %s", r.status, r.body)
	}
}

// TestPasswordChangeMinLengthConfigured: --password-min-length reaches
// POST /password.
func TestPasswordChangeMinLengthConfigured(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.PasswordMinLength = 40 }))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword)
	r := e.changePassword("Bearer "+tok, oldPassword, newPassword)
	if desc, _ := r.json(t)["error_description"].(string); r.status != http.StatusBadRequest || !strings.Contains(desc, "at least 40") {
		t.Fatalf("%d %s; want the configured minimum named", r.status, r.body)
	}
}

// TestPasswordChangeDPoPBound: a DPoP-bound token changes the password
// only with a proof for POST /password from its key, and the fresh
// tokens stay bound to that key.
func TestPasswordChangeDPoPBound(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice", oldPassword)
	k := newDPoPKey(t)
	now := time.Now()
	tok := dpopLogin(t, e, k, now, "alice", oldPassword)
	htu := e.cfg.Issuer + "/password"
	thief := newDPoPKey(t)
	for _, tt := range []struct {
		name   string
		header []string
	}{
		{"bound token as Bearer", []string{"Authorization", "Bearer " + tok}},
		{"no proof", []string{"Authorization", "DPoP " + tok}},
		{"proof for /users/me", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodPost, e.cfg.Issuer+"/users/me", now, tok, "")}},
		{"thief's key", []string{"Authorization", "DPoP " + tok, "DPoP", thief.proof(http.MethodPost, htu, now, tok, "")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.changePassword("", oldPassword, newPassword, tt.header...)
			if r.status != http.StatusUnauthorized || len(r.header.Values("WWW-Authenticate")) == 0 {
				t.Fatalf("%d %s (challenges %q); want 401", r.status, r.body, r.header.Values("WWW-Authenticate"))
			}
		})
	}
	r := e.changePassword("", oldPassword, newPassword, "Authorization", "DPoP "+tok, "DPoP", k.proof(http.MethodPost, htu, now, tok, ""))
	s := e.session(r)
	if tt := r.json(t)["token_type"]; tt != "DPoP" {
		t.Errorf("token_type %v, want DPoP", tt)
	}
	c, err := (&token.Verifier{Keys: e.keys, Issuer: e.cfg.Issuer, Audience: e.cfg.Audience}).Verify(now, s.access)
	if err != nil || c.JKT != k.jkt {
		t.Fatalf("new token: %+v, %v; want bound to the same key", c, err)
	}
	meURL := e.cfg.Issuer + "/users/me"
	if r := get(t, e, "/users/me", "Authorization", "DPoP "+s.access, "DPoP", k.proof(http.MethodGet, meURL, now, s.access, "")); r.status != http.StatusOK {
		t.Errorf("new token with a proof: %d %s", r.status, r.body)
	}
	if r := get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", k.proof(http.MethodGet, meURL, now, tok, "")); r.status != http.StatusUnauthorized {
		t.Errorf("old token with a proof: %d, want 401", r.status)
	}
}

// TestPasswordChangeBadRequests: no token, a bad token, a malformed form
// and a wrong method are refused before anything is judged.
func TestPasswordChangeBadRequests(t *testing.T) {
	counter := &countingHasher{}
	e := newTestEnv(t, withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword)
	hashes := counter.calls.Load()
	tests := []struct {
		name        string
		res         func() response
		status      int
		code        string
		challengeIn string
	}{
		{"no token", func() response { return e.changePassword("", oldPassword, newPassword) }, http.StatusUnauthorized, "", "Bearer"},
		{"forged token", func() response { return e.changePassword("Bearer "+tok+"x", oldPassword, newPassword) }, http.StatusUnauthorized, "", `error="invalid_token"`},
		{"no current password", func() response { return e.changePassword("Bearer "+tok, "", newPassword) }, http.StatusBadRequest, "invalid_request", ""},
		{"no new password", func() response { return e.changePassword("Bearer "+tok, oldPassword, "") }, http.StatusBadRequest, "invalid_request", ""},
		{"repeated parameter", func() response {
			return e.postForm("/password", "current_password=a&current_password=b&new_password=c", "Authorization", "Bearer "+tok)
		}, http.StatusBadRequest, "invalid_request", ""},
		{"JSON body", func() response {
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/password", strings.NewReader(`{"current_password":"x","new_password":"y"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			return e.do(req)
		}, http.StatusBadRequest, "invalid_request", ""},
		{"GET", func() response { return get(t, e, "/password", "Authorization", "Bearer "+tok) }, http.StatusMethodNotAllowed, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.res()
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.code != "" && r.json(t)["error"] != tt.code {
				t.Errorf("error %s, want %s", r.body, tt.code)
			}
			if ch := strings.Join(r.header.Values("WWW-Authenticate"), ", "); !strings.Contains(ch, tt.challengeIn) {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", ch, tt.challengeIn)
			}
		})
	}
	if got := counter.calls.Load(); got != hashes {
		t.Errorf("%d hashes for refused requests", got-hashes)
	}
	if r := e.login("alice", oldPassword); r.status != http.StatusOK {
		t.Errorf("password changed by a refused request: login %d", r.status)
	}
}

// TestPasswordChangeRaceWithReset: an administrator's reset between the
// token check and the change wins: the change stores nothing and answers
// 401, and the reset's password stays.
func TestPasswordChangeRaceWithReset(t *testing.T) {
	var e *testEnv
	reset := make(chan struct{}, 1)
	// The reset lands while the current password is being verified.
	e = newTestEnv(t, withHasher(func(h Hasher) Hasher {
		return &hookHasher{Hasher: h, before: func() {
			select {
			case <-reset:
				hash, class := testHash(t, "reset by the administrator")
				if _, err := e.st.SetPassword(context.Background(), "alice", hash, class, time.Now()); err != nil {
					t.Error(err)
				}
			default:
			}
		}}
	}))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword)
	reset <- struct{}{}
	r := e.changePassword("Bearer "+tok, oldPassword, newPassword)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("change racing a reset: %d %s, want 401", r.status, r.body)
	}
	if r := e.login("alice", "reset by the administrator"); r.status != http.StatusOK {
		t.Errorf("the reset's password: login %d", r.status)
	}
	if r := e.login("alice", newPassword); r.status != http.StatusBadRequest {
		t.Errorf("the losing change's password: login %d", r.status)
	}
}

// hookHasher runs before ahead of every password computation.
type hookHasher struct {
	Hasher
	before func()
}

func (h *hookHasher) Do(ctx context.Context, fn func()) error {
	h.before()
	return h.Hasher.Do(ctx, fn)
}

func (h *hookHasher) DoFirst(ctx context.Context, key string, fn func()) error {
	h.before()
	return h.Hasher.DoFirst(ctx, key, fn)
}

// testHash hashes pw with the test parameters and returns the hash and
// its class.
func testHash(t *testing.T, pw string) (hash, class string) {
	t.Helper()
	hash, err := password.Hash(rand.Reader, []byte(pw), testParams)
	if err != nil {
		t.Fatal(err)
	}
	if class, err = password.Check(hash); err != nil {
		t.Fatal(err)
	}
	return hash, class
}

// TestPasswordChangeTrustedLane: a client the guard trusts (here, from a
// network the account logged in from) has both hashes of its password
// change — the current password's and the new one's — computed in the
// priority lane, so an attack filling the common lane cannot refuse the
// owner's change after its current password was accepted.
func TestPasswordChangeTrustedLane(t *testing.T) {
	counter := &countingHasher{}
	e := newTestEnv(t, withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("alice", oldPassword)
	tok := e.accessToken("alice", oldPassword)
	calls, first := counter.calls.Load(), counter.first.Load()
	if r := e.changePassword("Bearer "+tok, oldPassword, newPassword); r.status != http.StatusOK {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	f := counter.first.Load() - first
	if c := counter.calls.Load() - calls - f; c != 0 || f != 2 {
		t.Errorf("%d hashes in the common lane and %d in the priority lane; want 0 and 2", c, f)
	}
}
