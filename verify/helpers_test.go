package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/token"
)

const (
	testIssuer   = "https://id.example.com"
	testAudience = "api"
	testResource = "https://api.example.com"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// issuer is a live JWKS endpoint on loopback serving key sets made by
// package token, as credshield serves them.
type issuer struct {
	t       testing.TB
	srv     *httptest.Server
	jwks    atomic.Pointer[[]byte]
	fetches atomic.Int32
	failing atomic.Bool // answer 503 instead of the JWKS
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	is := &issuer{t: t}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		if is.failing.Load() || r.URL.Path != "/.well-known/jwks.json" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(*is.jwks.Load())
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// publish serves the union of the sets' JWKS.
func (is *issuer) publish(sets ...*token.KeySet) {
	is.t.Helper()
	var all struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, s := range sets {
		b, err := s.JWKS()
		if err != nil {
			is.t.Fatal(err)
		}
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(b, &one); err != nil {
			is.t.Fatal(err)
		}
		all.Keys = append(all.Keys, one.Keys...)
	}
	b, err := json.Marshal(all)
	if err != nil {
		is.t.Fatal(err)
	}
	is.jwks.Store(&b)
}

func (is *issuer) publishRaw(b string) {
	bb := []byte(b)
	is.jwks.Store(&bb)
}

func newKeySet(t testing.TB, alg string) *token.KeySet {
	t.Helper()
	ks, err := token.LoadOrCreate(t.Context(), token.Dir(t.TempDir()), alg, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func testClaims(now time.Time) token.Claims {
	return token.Claims{
		Issuer: testIssuer, Subject: "user-1", Audience: []string{testAudience},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), ID: "jti-" + now.Format("150405.000000000"),
		Username: "alice", Scope: "read",
	}
}

func sign(t testing.TB, ks *token.KeySet, c token.Claims) string {
	t.Helper()
	tok, err := ks.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signBound signs claims plus cnf.jkt by hand (token.KeySet.Sign cannot add
// cnf yet) with the active key, header {alg, typ at+jwt, kid}. Ed25519 only.
func signBound(t testing.TB, ks *token.KeySet, c token.Claims, cnf any) string {
	t.Helper()
	k := ks.Active()
	if k.Alg != token.EdDSA {
		t.Fatalf("signBound needs an EdDSA key, have %s", k.Alg)
	}
	payload, err := json.Marshal(map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience[0], "exp": c.ExpiresAt.Unix(),
		"iat": c.IssuedAt.Unix(), "jti": c.ID, "username": c.Username, "cnf": cnf,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, ks, payload)
}

// signPayload signs a raw JSON payload as an access token with the active
// (Ed25519) key of ks.
func signPayload(t testing.TB, ks *token.KeySet, payload []byte) string {
	t.Helper()
	k := ks.Active()
	header, err := json.Marshal(map[string]string{"alg": k.Alg, "typ": token.TypeAccessToken, "kid": k.ID})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := k.Signer.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

func newVerifier(t testing.TB, is *issuer, clk *clock, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource,
		JWKSURL: is.srv.URL + "/.well-known/jwks.json", Now: clk.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// echo is the protected handler: it answers with the subject and jkt.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := ClaimsFromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(c.Subject + " " + c.JKT))
})

// do sends one request through v's middleware. auth is the Authorization
// value ("" for none); proofs are DPoP header values.
func do(v *Verifier, method, target, auth string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	v.Middleware(echo).ServeHTTP(w, r)
	return w
}

func challenges(w *httptest.ResponseRecorder) string {
	return strings.Join(w.Header().Values("WWW-Authenticate"), " | ")
}

func newClientKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
