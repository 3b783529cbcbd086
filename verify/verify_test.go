package verify

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/token"
)

func TestBearerTokens(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	es := newKeySet(t, token.ES256)
	stranger := newKeySet(t, token.EdDSA) // never published
	is.publish(ks, es)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, nil)

	good := sign(t, ks, testClaims(t0))
	wrongAud := testClaims(t0)
	wrongAud.Audience = []string{"another-api"}
	wrongIss := testClaims(t0)
	wrongIss.Issuer = "https://evil.example.com"
	expired := testClaims(t0.Add(-time.Hour))
	tests := []struct {
		name       string
		auth       string
		status     int
		code       string // error in the Bearer challenge
		challenge  string // substring of the challenges
		sentinel   error
		wantSubjct string
	}{
		{name: "valid EdDSA", auth: "Bearer " + good, status: 200},
		{name: "valid ES256", auth: "Bearer " + sign(t, es, testClaims(t0)), status: 200},
		{name: "scheme case-insensitive", auth: "bearer " + good, status: 200},
		{name: "no credentials", status: 401, challenge: `Bearer realm="api" | DPoP realm="api", algs="ES256 EdDSA"`},
		{name: "other scheme", auth: "Basic dXNlcjpwYXNz", status: 401, challenge: `Bearer realm="api" | DPoP`},
		{name: "garbage", auth: "Bearer not-a-token", status: 401, code: "invalid_token", sentinel: token.ErrMalformed},
		{name: "empty token", auth: "Bearer ", status: 401, code: "invalid_token"},
		{name: "not token68", auth: "Bearer a b", status: 401, code: "invalid_token"},
		{name: "bad signature", auth: "Bearer " + good[:len(good)-4] + "AAAA", status: 401, code: "invalid_token", sentinel: token.ErrSignature},
		{name: "unknown key", auth: "Bearer " + sign(t, stranger, testClaims(t0)), status: 401, code: "invalid_token", sentinel: token.ErrUnknownKey},
		{name: "wrong audience", auth: "Bearer " + sign(t, ks, wrongAud), status: 401, code: "invalid_token", sentinel: token.ErrAudience},
		{name: "wrong issuer", auth: "Bearer " + sign(t, ks, wrongIss), status: 401, code: "invalid_token", sentinel: token.ErrIssuer},
		{name: "expired", auth: "Bearer " + sign(t, ks, expired), status: 401, code: "invalid_token", challenge: `error_description="the access token expired"`, sentinel: token.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(v, "GET", "/things", tt.auth)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			ch := challenges(w)
			if tt.status == 200 {
				if got := w.Body.String(); got != "user-1 " {
					t.Errorf("handler saw %q", got)
				}
				return
			}
			if tt.code != "" && !strings.Contains(ch, `Bearer realm="api", error="`+tt.code+`"`) {
				t.Errorf("challenges %q lack Bearer error %s", ch, tt.code)
			}
			if !strings.Contains(ch, tt.challenge) {
				t.Errorf("challenges %q lack %q", ch, tt.challenge)
			}
			if tt.sentinel != nil {
				_, err := v.Verify(reqWith("Authorization", tt.auth))
				if !errors.Is(err, tt.sentinel) {
					t.Errorf("Verify err = %v, want %v", err, tt.sentinel)
				}
			}
		})
	}

	// Two Authorization headers are a bad request.
	r := reqWith("Authorization", "Bearer "+good)
	r.Header.Add("Authorization", "Bearer "+good)
	_, err := v.Verify(r)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "invalid_request" {
		t.Errorf("two Authorization headers: %v", err)
	}
}

func reqWith(kv ...string) *http.Request {
	r, _ := http.NewRequest("GET", "http://ignored.example/things", nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func TestRotationRefreshesOnUnknownKid(t *testing.T) {
	is := newIssuer(t)
	old := newKeySet(t, token.EdDSA)
	next := newKeySet(t, token.EdDSA)
	is.publish(old)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, nil)
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("New fetched %d times, want 1", n)
	}
	// A token from a key not yet published: one fetch, still unknown.
	early := sign(t, next, testClaims(t0))
	if w := do(v, "GET", "/", "Bearer "+early); w.Code != 401 {
		t.Fatalf("unpublished key: status %d", w.Code)
	}
	// The issuer stages the next key. Within MinRefreshInterval no fetch
	// happens, however many unknown kids arrive.
	is.publish(old, next)
	clk.Advance(DefaultMinRefreshInterval / 2)
	for range 5 {
		if w := do(v, "GET", "/", "Bearer "+early); w.Code != 401 {
			t.Fatalf("rate-limited refresh: status %d", w.Code)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d within MinRefreshInterval, want 1", n)
	}
	// After the interval one unknown kid triggers one fetch, and the token
	// with the new kid verifies; old tokens still do.
	clk.Advance(DefaultMinRefreshInterval / 2)
	fresh := sign(t, next, testClaims(clk.Now()))
	if w := do(v, "GET", "/", "Bearer "+fresh); w.Code != 200 {
		t.Fatalf("new key after refresh: status %d %s", w.Code, w.Body)
	}
	if w := do(v, "GET", "/", "Bearer "+sign(t, old, testClaims(clk.Now()))); w.Code != 200 {
		t.Fatalf("old key after refresh: status %d", w.Code)
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestStaleSetIsRefreshed(t *testing.T) {
	is := newIssuer(t)
	old := newKeySet(t, token.EdDSA)
	next := newKeySet(t, token.EdDSA)
	is.publish(old, next)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, func(c *Config) { c.CacheTTL = time.Minute })
	// The old key retires from the JWKS; until the TTL passes it is cached.
	is.publish(next)
	if w := do(v, "GET", "/", "Bearer "+sign(t, old, testClaims(clk.Now()))); w.Code != 200 {
		t.Fatalf("cached key: status %d", w.Code)
	}
	clk.Advance(time.Minute)
	if w := do(v, "GET", "/", "Bearer "+sign(t, old, testClaims(clk.Now()))); w.Code != 401 {
		t.Fatalf("retired key after TTL: status %d", w.Code)
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestUnreachableJWKSKeepsCachedSet(t *testing.T) {
	for _, mode := range []string{"failing", "closed"} {
		t.Run(mode, func(t *testing.T) {
			is := newIssuer(t)
			ks := newKeySet(t, token.EdDSA)
			is.publish(ks)
			clk := &clock{t: t0}
			v := newVerifier(t, is, clk, func(c *Config) { c.CacheTTL = time.Minute; c.FetchTimeout = 2 * time.Second })
			if mode == "failing" {
				is.failing.Store(true)
			} else {
				is.srv.Close()
			}
			for i := range 4 {
				clk.Advance(2 * time.Minute) // stale every time
				if w := do(v, "GET", "/", "Bearer "+sign(t, ks, testClaims(clk.Now()))); w.Code != 200 {
					t.Fatalf("request %d with the issuer down: status %d %s", i, w.Code, w.Body)
				}
			}
			if mode == "failing" {
				if n := is.fetches.Load(); n != 5 {
					t.Errorf("fetches = %d, want 1 + one per stale request", n)
				}
				// Recovery: the issuer answers again and the set refreshes.
				is.failing.Store(false)
				is.publish(newKeySet(t, token.EdDSA))
				clk.Advance(2 * time.Minute)
				if w := do(v, "GET", "/", "Bearer "+sign(t, ks, testClaims(clk.Now()))); w.Code != 401 {
					t.Errorf("after recovery the retired key still works: %d", w.Code)
				}
			}
		})
	}
}

func TestNewFailsWithoutKeys(t *testing.T) {
	is := newIssuer(t)
	clk := &clock{t: t0}
	is.failing.Store(true)
	cfg := Config{Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource, JWKSURL: is.srv.URL + "/.well-known/jwks.json", Now: clk.Now}
	if _, err := New(context.Background(), cfg); !errors.Is(err, ErrJWKS) {
		t.Fatalf("unreachable: err = %v", err)
	}
	is.failing.Store(false)
	is.publishRaw(`{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"}]}`)
	if _, err := New(context.Background(), cfg); !errors.Is(err, ErrJWKS) {
		t.Fatalf("only a symmetric key: err = %v", err)
	}
	is.publishRaw(`{"keys":[` + strings.Repeat(`{"kty":"x"},`, DefaultMaxJWKSBytes/12) + `{}]}`)
	if _, err := New(context.Background(), cfg); !errors.Is(err, ErrJWKS) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized body: err = %v", err)
	}
	for _, bad := range []Config{
		{Audience: "a", ResourceURL: testResource},
		{Issuer: testIssuer, ResourceURL: testResource},
		{Issuer: testIssuer, Audience: "a"},
		{Issuer: testIssuer, Audience: "a", ResourceURL: "api.example.com"},
		{Issuer: testIssuer, Audience: "a", ResourceURL: testResource + "?x=1"},
		{Issuer: testIssuer, Audience: "a", ResourceURL: testResource, Leeway: time.Hour},
		{Issuer: testIssuer, Audience: "a", ResourceURL: testResource, DPoPAlgs: []string{"HS256"}},
	} {
		if _, err := New(context.Background(), bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	good := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}`
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"good", good, true},
		{"no use", strings.Replace(good, `,"use":"sig"`, "", 1), true},
		{"use enc", strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1), false},
		{"no alg", strings.Replace(good, `,"alg":"EdDSA"`, "", 1), false},
		{"alg does not suit key", strings.Replace(good, `"alg":"EdDSA"`, `"alg":"ES256"`, 1), false},
		{"alg none", strings.Replace(good, `"alg":"EdDSA"`, `"alg":"none"`, 1), false},
		{"no kid", strings.Replace(good, `"kid":"k1",`, "", 1), false},
		{"private member", strings.Replace(good, `"kid"`, `"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid"`, 1), false},
		{"symmetric", `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h","alg":"HS256"}`, false},
		{"not an object", `"key"`, false},
	}
	for _, tt := range tests {
		keys, err := parseJWKS([]byte(`{"keys":[` + tt.key + `]}`))
		if tt.ok != (err == nil && len(keys) == 1) {
			t.Errorf("%s: keys %v, err %v", tt.name, keys, err)
		}
	}
	// A duplicated kid names no key; the other keys stay usable.
	other := strings.Replace(good, `"kid":"k1"`, `"kid":"k2"`, 1)
	keys, err := parseJWKS([]byte(`{"keys":[` + good + `,` + good + `,` + other + `]}`))
	if err != nil || len(keys) != 1 || keys["k2"].alg != token.EdDSA {
		t.Errorf("duplicate kid: %v, %v", keys, err)
	}
	for _, doc := range []string{``, `[]`, `{"keys":[]}`, `{"keys":{}}`, `{}`} {
		if _, err := parseJWKS([]byte(doc)); err == nil {
			t.Errorf("parseJWKS(%q) accepted", doc)
		}
	}
}

func TestDPoP(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, nil)
	key := newClientKey(t)
	thief := newClientKey(t)
	jkt, err := dpop.Thumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	proof := func(k *ecdsa.PrivateKey, method, htu, tok string) string {
		p, err := dpop.NewProof(k, dpop.ES256, method, htu, clk.Now(), tok, "", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	url := testResource + "/things"

	w := do(v, "GET", "/things?page=2", "DPoP "+bound, proof(key, "GET", url, bound))
	if w.Code != 200 || w.Body.String() != "user-1 "+jkt {
		t.Fatalf("valid DPoP request: %d %s", w.Code, w.Body)
	}

	replayed := proof(key, "GET", url, bound)
	if w := do(v, "GET", "/things", "DPoP "+bound, replayed); w.Code != 200 {
		t.Fatalf("first use: %d", w.Code)
	}
	tests := []struct {
		name      string
		method    string
		target    string
		host      string
		auth      string
		proofs    []string
		status    int
		scheme    string // challenge carrying the error
		code      string
		sentinel  error
		noncehdr  bool
		challenge string
	}{
		{name: "bound token as Bearer (downgrade)", auth: "Bearer " + bound, status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "bound token as Bearer with a proof", auth: "Bearer " + bound, proofs: []string{proof(key, "GET", url, bound)}, status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "no proof", auth: "DPoP " + bound, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrHeaderCount},
		{name: "two proofs", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", url, bound), proof(key, "GET", url, bound)}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrHeaderCount},
		{name: "stolen token, thief's key", auth: "DPoP " + bound, proofs: []string{proof(thief, "GET", url, bound)}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "replayed proof", auth: "DPoP " + bound, proofs: []string{replayed}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrReplay},
		{name: "wrong method", method: "DELETE", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", url, bound)}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrMethod},
		{name: "wrong path", target: "/admin", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", url, bound)}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrURL},
		{name: "proof for the Host header's URL", host: "evil.example.com", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", "https://evil.example.com/things", bound)}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrURL},
		{name: "Host header ignored", host: "evil.example.com", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", url, bound)}, status: 200},
		{name: "proof for another token (ath)", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", url, "other-token")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof", sentinel: dpop.ErrAccessToken},
		{name: "unbound token with DPoP scheme", auth: "DPoP " + sign(t, ks, testClaims(t0)), proofs: []string{proof(key, "GET", url, "x")}, status: 401, scheme: "DPoP", code: "invalid_token"},
		{name: "cnf without jkt fails closed", auth: "DPoP " + signBound(t, ks, testClaims(t0), map[string]string{"x5t#S256": "abc"}), proofs: []string{proof(key, "GET", url, "x")}, status: 401, scheme: "DPoP", code: "invalid_token"},
		{name: "cnf as Bearer fails closed", auth: "Bearer " + signBound(t, ks, testClaims(t0), map[string]string{"x5t#S256": "abc"}), status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "escaped cnf name as Bearer", auth: "Bearer " + signPayload(t, ks, []byte(`{"iss":"`+testIssuer+`","sub":"user-1","aud":"api","exp":`+strconv.FormatInt(t0.Add(time.Hour).Unix(), 10)+`,"iat":`+strconv.FormatInt(t0.Unix(), 10)+`,"jti":"j","\u0063nf":{"jkt":"`+jkt+`"}}`)), status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "invalid bound token", auth: "DPoP " + bound[:len(bound)-3] + "AAA", proofs: []string{proof(key, "GET", url, bound)}, status: 401, scheme: "DPoP", code: "invalid_token", sentinel: token.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target := cmp.Or(tt.method, "GET"), cmp.Or(tt.target, "/things")
			r := reqWith("Authorization", tt.auth)
			r.Method = method
			r.URL.Path = target
			r.Host = cmp.Or(tt.host, r.Host)
			for _, p := range tt.proofs {
				r.Header.Add("DPoP", p)
			}
			c, err := v.Verify(r)
			if tt.status == 200 {
				if err != nil || c.JKT != jkt {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code || e.Scheme != tt.scheme {
				t.Fatalf("err = %#v, want %d %s %s", err, tt.status, tt.scheme, tt.code)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("err = %v, want %v", err, tt.sentinel)
			}
		})
	}

	// The challenge of a DPoP error, as RFC 9449 §7.1 shows it.
	w = do(v, "GET", "/things", "DPoP "+bound)
	if ch := challenges(w); w.Code != 401 || !strings.Contains(ch, `DPoP realm="api", error="invalid_dpop_proof", error_description="the DPoP proof is invalid", algs="ES256 EdDSA"`) {
		t.Errorf("challenge %q", ch)
	}
}

func TestRequireDPoP(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, func(c *Config) { c.RequireDPoP = true })
	w := do(v, "GET", "/things", "Bearer "+sign(t, ks, testClaims(t0)))
	ch := challenges(w)
	if w.Code != 401 || strings.Contains(ch, "Bearer") || !strings.Contains(ch, `DPoP realm="api", error="invalid_token"`) {
		t.Fatalf("bearer under RequireDPoP: %d %q", w.Code, ch)
	}
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	p, err := dpop.NewProof(key, dpop.ES256, "GET", testResource+"/things", t0, bound, "", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if w := do(v, "GET", "/things", "DPoP "+bound, p); w.Code != 200 {
		t.Fatalf("DPoP under RequireDPoP: %d %s", w.Code, w.Body)
	}
}

func TestDPoPNonceFlow(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	nonceKey := make([]byte, 32)
	if _, err := rand.Read(nonceKey); err != nil {
		t.Fatal(err)
	}
	ns, err := dpop.NewNonceSource(nonceKey, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, is, clk, func(c *Config) { c.DPoPNonces = ns })
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	mk := func(nonce string) string {
		p, err := dpop.NewProof(key, dpop.ES256, "POST", testResource+"/things", t0, bound, nonce, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w := do(v, "POST", "/things", "DPoP "+bound, mk(""))
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || nonce == "" || !strings.Contains(challenges(w), `error="use_dpop_nonce"`) {
		t.Fatalf("first try: %d nonce %q challenges %q", w.Code, nonce, challenges(w))
	}
	if w := do(v, "POST", "/things", "DPoP "+bound, mk(nonce)); w.Code != 200 {
		t.Fatalf("with nonce: %d %s", w.Code, w.Body)
	}
}

func TestReplayCacheFullIsUnavailable(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, func(c *Config) { c.DPoPReplay = dpop.NewMemoryReplayCache(1) })
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	mk := func() string {
		p, err := dpop.NewProof(key, dpop.ES256, "GET", testResource+"/things", t0, bound, "", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if w := do(v, "GET", "/things", "DPoP "+bound, mk()); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	if w := do(v, "GET", "/things", "DPoP "+bound, mk()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("full cache: %d, want 503 (fail closed)", w.Code)
	}
}

// TestParallelUnknownKidFetchesOnce: a burst of requests with a new kid
// right after a rotation costs the issuer one fetch, and all succeed.
func TestParallelUnknownKidFetchesOnce(t *testing.T) {
	is := newIssuer(t)
	old, next := newKeySet(t, token.EdDSA), newKeySet(t, token.EdDSA)
	is.publish(old)
	clk := &clock{t: t0}
	v := newVerifier(t, is, clk, nil)
	is.publish(old, next)
	clk.Advance(DefaultMinRefreshInterval)
	tok := sign(t, next, testClaims(clk.Now()))
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() { codes[i] = do(v, "GET", "/", "Bearer "+tok).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	if n := is.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (start + one refresh)", n)
	}
}

func TestDPoPOddRequestTarget(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	v := newVerifier(t, is, &clock{t: t0}, nil)
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	p, err := dpop.NewProof(key, dpop.ES256, "OPTIONS", testResource+"/", t0, bound, "", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := reqWith("Authorization", "DPoP "+bound, "DPoP", p)
	r.Method = "OPTIONS"
	r.URL = &url.URL{Path: "*"}
	_, err = v.Verify(r)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("OPTIONS *: %v", err)
	}
}

// TestCheckAccount: Config.CheckAccount sees every token that passed the
// other checks and can refuse it — here, as a resource server would, a
// token whose account epoch is older than the account's.
func TestCheckAccount(t *testing.T) {
	is := newIssuer(t)
	ks := newKeySet(t, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	var mu sync.Mutex
	epochs := map[string]uint32{"user-1": 2}
	unreachable := false
	calls := 0
	v := newVerifier(t, is, clk, func(c *Config) {
		c.CheckAccount = func(_ context.Context, cl *Claims) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if unreachable {
				return &Error{Status: 503, Code: "temporarily_unavailable", Description: "accounts unreachable"}
			}
			if cl.AccountEpoch != epochs[cl.Subject] {
				return errors.New("account changed since the token was issued")
			}
			return nil
		}
	})
	withEpoch := func(e uint32) string {
		c := testClaims(t0)
		c.AccountEpoch = e
		return sign(t, ks, c)
	}
	current, stale := withEpoch(2), withEpoch(1)
	tests := []struct {
		name        string
		auth        string
		unreachable bool
		status      int
		challenge   string
		calls       int
	}{
		{name: "current epoch", auth: "Bearer " + current, status: 200, calls: 1},
		{name: "older epoch", auth: "Bearer " + stale, status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="the access token is no longer valid"`, calls: 1},
		{name: "no epoch claim", auth: "Bearer " + sign(t, ks, testClaims(t0)), status: 401, challenge: `error="invalid_token"`, calls: 1},
		{name: "bad signature never reaches the hook", auth: "Bearer " + current[:len(current)-4] + "AAAA", status: 401, challenge: `error="invalid_token"`, calls: 0},
		{name: "hook's own error", auth: "Bearer " + current, unreachable: true, status: 503, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			calls, unreachable = 0, tt.unreachable
			mu.Unlock()
			w := do(v, "GET", "/things", tt.auth)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if ch := challenges(w); !strings.Contains(ch, tt.challenge) {
				t.Errorf("challenges %q lack %q", ch, tt.challenge)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tt.calls {
				t.Errorf("CheckAccount called %d times, want %d", calls, tt.calls)
			}
		})
	}

	// A DPoP-bound token reaches the hook only with a valid proof.
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	c := testClaims(t0)
	bound := signBound(t, ks, c, map[string]string{"jkt": jkt}) // no ae: epoch 0
	p, err := dpop.NewProof(key, dpop.ES256, "GET", testResource+"/things", t0, bound, "", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	calls, unreachable = 0, false
	mu.Unlock()
	if w := do(v, "GET", "/things", "DPoP "+bound); w.Code != 401 || calls != 0 {
		t.Errorf("bound token without proof: %d, %d hook calls; want 401 and none", w.Code, calls)
	}
	if w := do(v, "GET", "/things", "DPoP "+bound, p); w.Code != 401 || calls != 1 || !strings.Contains(challenges(w), `DPoP realm="api", error="invalid_token"`) {
		t.Errorf("bound token of epoch 0 for an account at 2: %d %q, %d hook calls; want 401 DPoP invalid_token after one", w.Code, challenges(w), calls)
	}
}
