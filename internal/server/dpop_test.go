package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/token"
)

// stepClock is a clock tests move by hand.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

// dpopLogin logs in with a proof from k and returns the access token,
// checking that it is a DPoP token bound to k.
func dpopLogin(t *testing.T, e *testEnv, k *dpopKey, now time.Time, name, pw string) string {
	t.Helper()
	res := e.loginWith(name, pw, "DPoP", k.proof(http.MethodPost, e.cfg.Issuer+"/token", now, "", ""))
	if res.status != http.StatusOK {
		t.Fatalf("dpop login: %d %s", res.status, res.body)
	}
	body := res.json(t)
	if body["token_type"] != "DPoP" {
		t.Fatalf("token_type %v, want DPoP", body["token_type"])
	}
	tok := body["access_token"].(string)
	c, err := (&token.Verifier{Keys: e.keys, Issuer: e.cfg.Issuer, Audience: e.cfg.Audience}).Verify(now, tok)
	if err != nil || c.JKT != k.jkt {
		t.Fatalf("issued token: claims %+v, err %v; want jkt %s", c, err, k.jkt)
	}
	return tok
}

func TestDPoPResource(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = clock.Now }))
	e.addUser("alice", "correct horse battery")
	k := newDPoPKey(t)
	tok := dpopLogin(t, e, k, clock.now, "alice", "correct horse battery")
	meURL := e.cfg.Issuer + "/users/me"

	replayed := k.proof(http.MethodGet, meURL, clock.now, tok, "")
	if res := get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", replayed); res.status != http.StatusOK {
		t.Fatalf("valid proof: %d %s", res.status, res.body)
	}
	thief := newDPoPKey(t)
	other := dpopLogin(t, e, k, clock.now, "alice", "correct horse battery")
	tests := []struct {
		name   string
		header []string
		code   string // error code in the DPoP challenge; "" checks the Bearer one
	}{
		{"bound token as Bearer", []string{"Authorization", "Bearer " + tok}, ""},
		{"no proof", []string{"Authorization", "DPoP " + tok}, "invalid_dpop_proof"},
		{"replayed jti", []string{"Authorization", "DPoP " + tok, "DPoP", replayed}, "invalid_dpop_proof"},
		{"wrong htu host", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, "https://evil.example/users/me", clock.now, tok, "")}, "invalid_dpop_proof"},
		{"wrong htu path", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, e.cfg.Issuer+"/token", clock.now, tok, "")}, "invalid_dpop_proof"},
		{"wrong htm", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodPost, meURL, clock.now, tok, "")}, "invalid_dpop_proof"},
		{"stale iat", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now.Add(-2*time.Minute), tok, "")}, "invalid_dpop_proof"},
		{"future iat", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now.Add(time.Minute), tok, "")}, "invalid_dpop_proof"},
		{"wrong ath", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now, other, "")}, "invalid_dpop_proof"},
		{"no ath", []string{"Authorization", "DPoP " + tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now, "", "")}, "invalid_dpop_proof"},
		{"stolen token, thief's key", []string{"Authorization", "DPoP " + tok, "DPoP", thief.proof(http.MethodGet, meURL, clock.now, tok, "")}, "invalid_dpop_proof"},
		{"malformed proof", []string{"Authorization", "DPoP " + tok, "DPoP", "not.a.proof"}, "invalid_dpop_proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, e, "/users/me", tt.header...)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", res.status, res.body)
			}
			ch := res.header.Values("WWW-Authenticate")
			if len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer ") || !strings.HasPrefix(ch[1], "DPoP ") || !strings.HasSuffix(ch[1], `algs="ES256 EdDSA"`) {
				t.Fatalf("challenges %q", ch)
			}
			if tt.code == "" {
				if !strings.Contains(ch[0], `error="invalid_token"`) {
					t.Errorf("Bearer challenge %q", ch[0])
				}
				return
			}
			if !strings.Contains(ch[1], `error="`+tt.code+`"`) || strings.Contains(ch[0], "error=") {
				t.Errorf("challenges %q, want %s on DPoP", ch, tt.code)
			}
		})
	}

	// The URL the proof is compared with comes from --issuer: a Host
	// header naming another site changes nothing either way.
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/users/me", nil)
	req.Host = "evil.example"
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", k.proof(http.MethodGet, "http://evil.example/users/me", clock.now, tok, ""))
	if res := e.do(req); res.status != http.StatusUnauthorized {
		t.Errorf("proof for the Host header's URL: %d", res.status)
	}
	req.Header.Set("DPoP", k.proof(http.MethodGet, meURL, clock.now, tok, ""))
	if res := e.do(req); res.status != http.StatusOK {
		t.Errorf("proof for the issuer URL with a foreign Host: %d %s", res.status, res.body)
	}

	// An unbound token presented with the DPoP scheme is refused too.
	bearer := e.accessToken("alice", "correct horse battery")
	if res := get(t, e, "/users/me", "Authorization", "DPoP "+bearer, "DPoP", k.proof(http.MethodGet, meURL, clock.now, bearer, "")); res.status != http.StatusUnauthorized {
		t.Errorf("unbound token with DPoP scheme: %d", res.status)
	}
	if res := e.me("Bearer " + bearer); res.status != http.StatusOK {
		t.Errorf("bearer token: %d %s", res.status, res.body)
	}
}

func TestDPoPTokenEndpoint(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("bob", "correct horse battery")
	k := newDPoPKey(t)
	now := time.Now()
	for _, tt := range []struct {
		name   string
		header []string
	}{
		{"malformed", []string{"DPoP", "garbage"}},
		{"wrong htu", []string{"DPoP", k.proof(http.MethodPost, e.cfg.Issuer+"/users/me", now, "", "")}},
		{"wrong htm", []string{"DPoP", k.proof(http.MethodGet, e.cfg.Issuer+"/token", now, "", "")}},
		{"stale", []string{"DPoP", k.proof(http.MethodPost, e.cfg.Issuer+"/token", now.Add(-5*time.Minute), "", "")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := e.loginWith("bob", "correct horse battery", tt.header...)
			if res.status != http.StatusBadRequest || res.json(t)["error"] != dpop.CodeInvalidProof {
				t.Errorf("%d %s, want 400 invalid_dpop_proof", res.status, res.body)
			}
		})
	}
	p := k.proof(http.MethodPost, e.cfg.Issuer+"/token", now, "", "")
	if res := e.loginWith("bob", "correct horse battery", "DPoP", p); res.status != http.StatusOK {
		t.Fatalf("valid proof: %d %s", res.status, res.body)
	}
	if res := e.loginWith("bob", "correct horse battery", "DPoP", p); res.status != http.StatusBadRequest {
		t.Errorf("replayed proof at /token: %d %s", res.status, res.body)
	}
	if res := e.login("bob", "correct horse battery"); res.status != http.StatusOK || res.json(t)["token_type"] != "Bearer" {
		t.Errorf("no proof: %d %s, want a Bearer token", res.status, res.body)
	}
}

func TestDPoPNonceFlow(t *testing.T) {
	nonces, err := dpop.NewNonceSource(bytes.Repeat([]byte{3}, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withDPoP(dpop.Config{Nonces: nonces}), withConfig(func(c *Config) { c.Now = clock.Now }))
	e.addUser("carol", "correct horse battery")
	k := newDPoPKey(t)
	tokenURL := e.cfg.Issuer + "/token"

	res := e.loginWith("carol", "correct horse battery", "DPoP", k.proof(http.MethodPost, tokenURL, clock.now, "", ""))
	nonce := res.header.Get("DPoP-Nonce")
	if res.status != http.StatusBadRequest || res.json(t)["error"] != dpop.CodeUseNonce || nonce == "" {
		t.Fatalf("no nonce: %d %s nonce %q, want 400 use_dpop_nonce with a DPoP-Nonce", res.status, res.body, nonce)
	}
	res = e.loginWith("carol", "correct horse battery", "DPoP", k.proof(http.MethodPost, tokenURL, clock.now, "", nonce))
	if res.status != http.StatusOK {
		t.Fatalf("with nonce: %d %s", res.status, res.body)
	}
	tok := res.json(t)["access_token"].(string)

	// The nonce goes stale; the resource asks for the new one.
	clock.now = clock.now.Add(3 * time.Minute)
	meURL := e.cfg.Issuer + "/users/me"
	res = get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now, tok, nonce))
	fresh := res.header.Get("DPoP-Nonce")
	if res.status != http.StatusUnauthorized || fresh == "" || fresh == nonce ||
		!strings.Contains(strings.Join(res.header.Values("WWW-Authenticate"), "\n"), `DPoP realm="credshield", error="use_dpop_nonce"`) {
		t.Fatalf("stale nonce: %d %v", res.status, res.header)
	}
	res = get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", k.proof(http.MethodGet, meURL, clock.now, tok, fresh))
	if res.status != http.StatusOK {
		t.Fatalf("fresh nonce: %d %s", res.status, res.body)
	}
}

func TestRequireDPoP(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.RequireDPoP = true }))
	e.addUser("dave", "correct horse battery")
	if res := e.login("dave", "correct horse battery"); res.status != http.StatusBadRequest || res.json(t)["error"] != dpop.CodeInvalidProof {
		t.Errorf("login without proof: %d %s", res.status, res.body)
	}
	k := newDPoPKey(t)
	now := time.Now()
	tok := dpopLogin(t, e, k, now, "dave", "correct horse battery")
	res := e.me("Bearer " + tok)
	if ch := res.header.Values("WWW-Authenticate"); res.status != http.StatusUnauthorized || len(ch) != 1 || !strings.HasPrefix(ch[0], `DPoP realm="credshield", error="invalid_token"`) {
		t.Errorf("bearer with --require-dpop: %d %q", res.status, ch)
	}
	res = get(t, e, "/users/me", "Authorization", "DPoP "+tok, "DPoP", k.proof(http.MethodGet, e.cfg.Issuer+"/users/me", now, tok, ""))
	if res.status != http.StatusOK {
		t.Errorf("dpop with --require-dpop: %d %s", res.status, res.body)
	}
}
