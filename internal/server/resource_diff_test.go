package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/token"
	"github.com/credshield/credshield/verify"
)

// TestMeAnswersAsVerify is the differential test of the two ways to check
// a credshield token: the server's own GET /users/me, and a handler
// protected by package verify, configured from the outside as a resource
// server would be (the issuer's JWKS over loopback HTTP, the same realm,
// audience, leeway and clock, and a CheckAccount hook over the same
// accounts). Every request of the table goes to both, with the same
// headers, and both must answer with the same status, WWW-Authenticate
// challenges, Cache-Control and error code. The protected handler answers
// a success with Cache-Control: no-store, as /users/me does.
func TestMeAnswersAsVerify(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = clock.Now }))
	alice := e.addUser("alice", "correct horse battery")
	e.addUser("bob", "correct horse battery")
	e.addUser("carol", "correct horse battery")
	now := clock.now

	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		Issuer: e.cfg.Issuer, Audience: e.cfg.Audience, ResourceURL: e.cfg.Issuer,
		Leeway: e.cfg.Leeway, Realm: e.cfg.Realm, Now: clock.Now,
		CheckAccount: func(ctx context.Context, c *verify.Claims) error {
			if revoked, err := e.st.JTIRevoked(ctx, c.ID, clock.Now()); err != nil || revoked {
				return errors.New("revoked")
			}
			u, err := e.st.UserByID(ctx, c.Subject)
			if err != nil || u.Disabled || u.DeviceEpoch != c.AccountEpoch {
				return errors.New("account changed")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /users/me", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})))
	rs := httptest.NewServer(mux)
	t.Cleanup(rs.Close)

	bearer := e.accessToken("alice", "correct horse battery")
	k := newDPoPKey(t)
	bound := dpopLogin(t, e, k, now, "alice", "correct horse battery")
	meURL := e.cfg.Issuer + "/users/me"
	proof := func(htm, htu string) string { return k.proof(htm, htu, now, bound, "") }
	replayed := proof(http.MethodGet, meURL)
	// Its first use, at both, before the table replays it.
	revoked := e.accessToken("bob", "correct horse battery")
	if res := e.postForm("/revoke", url.Values{"token": {revoked}}.Encode()); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	// An epoch raised twice (disable, enable): the account is enabled and
	// only the token's epoch is stale.
	stale := e.accessToken("carol", "correct horse battery")
	for _, disabled := range []bool{true, false} {
		if _, err := e.st.SetDisabled(ctx, "carol", disabled, now); err != nil {
			t.Fatal(err)
		}
	}
	signed := func(edit func(*token.Claims)) string {
		c := token.Claims{Issuer: e.cfg.Issuer, Subject: alice.ID, Audience: []string{e.cfg.Audience}, IssuedAt: now,
			ExpiresAt: now.Add(10 * time.Minute), ID: "diff-" + time.Now().Format("150405.000000000"), ClientID: "public", Username: "alice"}
		edit(&c)
		tok, err := e.keys.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	thief := newDPoPKey(t)

	tests := []struct {
		name  string
		auth  []string
		proof []string
	}{
		{name: "good bearer", auth: []string{"Bearer " + bearer}},
		{name: "no token"},
		{name: "scheme only", auth: []string{"Bearer"}},
		{name: "empty token", auth: []string{"Bearer "}},
		{name: "wrong scheme", auth: []string{"Basic YTpi"}},
		{name: "lowercase scheme", auth: []string{"bearer " + bearer}},
		{name: "uppercase scheme", auth: []string{"BEARER " + bearer}},
		{name: "two spaces", auth: []string{"Bearer  " + bearer}},
		{name: "two Authorization headers", auth: []string{"Bearer " + bearer, "Bearer " + bearer}},
		{name: "token68: space inside", auth: []string{"Bearer a b"}},
		{name: "token68: = inside", auth: []string{"Bearer a=b"}},
		{name: "token68: only =", auth: []string{"Bearer =="}},
		{name: "token68: comma", auth: []string{"Bearer a,b"}},
		{name: "token68: trailing = allowed, token bad", auth: []string{"Bearer abc=="}},
		{name: "garbage token", auth: []string{"Bearer not.a.token"}},
		{name: "expired", auth: []string{"Bearer " + signed(func(c *token.Claims) {
			c.IssuedAt, c.ExpiresAt = now.Add(-20*time.Minute), now.Add(-2*time.Minute)
		})}},
		{name: "within leeway", auth: []string{"Bearer " + signed(func(c *token.Claims) {
			c.IssuedAt, c.ExpiresAt = now.Add(-20*time.Minute), now.Add(-10*time.Second)
		})}},
		{name: "wrong aud", auth: []string{"Bearer " + signed(func(c *token.Claims) { c.Audience = []string{"https://other.example"} })}},
		{name: "wrong iss", auth: []string{"Bearer " + signed(func(c *token.Claims) { c.Issuer = "https://evil.example" })}},
		{name: "alg none", auth: []string{"Bearer " + forge(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": e.keys.Active().ID},
			map[string]any{"iss": e.cfg.Issuer, "aud": e.cfg.Audience, "sub": alice.ID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "n"}, nil)}},
		{name: "revoked jti", auth: []string{"Bearer " + revoked}},
		{name: "stale account epoch", auth: []string{"Bearer " + stale}},
		{name: "DPoP-bound token as Bearer", auth: []string{"Bearer " + bound}},
		{name: "DPoP-bound token as Bearer with a proof", auth: []string{"Bearer " + bound}, proof: []string{proof(http.MethodGet, meURL)}},
		{name: "good DPoP", auth: []string{"DPoP " + bound}, proof: []string{proof(http.MethodGet, meURL)}},
		{name: "lowercase DPoP scheme", auth: []string{"dpop " + bound}, proof: []string{proof(http.MethodGet, meURL)}},
		{name: "DPoP without proof", auth: []string{"DPoP " + bound}},
		{name: "DPoP malformed proof", auth: []string{"DPoP " + bound}, proof: []string{"not.a.proof"}},
		{name: "DPoP two proofs", auth: []string{"DPoP " + bound}, proof: []string{proof(http.MethodGet, meURL), proof(http.MethodGet, meURL)}},
		{name: "DPoP replayed proof", auth: []string{"DPoP " + bound}, proof: []string{replayed}},
		{name: "DPoP wrong htu", auth: []string{"DPoP " + bound}, proof: []string{proof(http.MethodGet, e.cfg.Issuer+"/token")}},
		{name: "DPoP wrong htu host", auth: []string{"DPoP " + bound}, proof: []string{proof(http.MethodGet, "https://evil.example/users/me")}},
		{name: "DPoP wrong htm", auth: []string{"DPoP " + bound}, proof: []string{proof(http.MethodPost, meURL)}},
		{name: "DPoP stale proof", auth: []string{"DPoP " + bound}, proof: []string{k.proof(http.MethodGet, meURL, now.Add(-5*time.Minute), bound, "")}},
		{name: "DPoP proof without ath", auth: []string{"DPoP " + bound}, proof: []string{k.proof(http.MethodGet, meURL, now, "", "")}},
		{name: "DPoP thief's key", auth: []string{"DPoP " + bound}, proof: []string{thief.proof(http.MethodGet, meURL, now, bound, "")}},
		{name: "unbound token as DPoP", auth: []string{"DPoP " + bearer}, proof: []string{k.proof(http.MethodGet, meURL, now, bearer, "")}},
	}

	send := func(base string, auth, proofs []string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/users/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		return e.do(req)
	}
	for _, base := range []string{e.ts.URL, rs.URL} {
		if res := send(base, []string{"DPoP " + bound}, []string{replayed}); res.status != http.StatusOK {
			t.Fatalf("first use of the proof to replay at %s: %d %s", base, res.status, res.body)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me := send(e.ts.URL, tt.auth, tt.proof)
			vr := send(rs.URL, tt.auth, tt.proof)
			for _, c := range []struct {
				what     string
				me, want string
			}{
				{"status", http.StatusText(me.status), http.StatusText(vr.status)},
				{"WWW-Authenticate", strings.Join(me.header.Values("WWW-Authenticate"), " | "), strings.Join(vr.header.Values("WWW-Authenticate"), " | ")},
				{"Cache-Control", me.header.Get("Cache-Control"), vr.header.Get("Cache-Control")},
				{"error", errorCode(t, me), errorCode(t, vr)},
			} {
				if c.me != c.want {
					t.Errorf("%s: /users/me %q, verify %q", c.what, c.me, c.want)
				}
			}
		})
	}
}
