package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/token"
)

// TestKeysFromSource: a Verifier over a KeySource checks tokens as one over
// the JWKS does and never fetches anything, so New needs no issuer online.
func TestKeysFromSource(t *testing.T) {
	ks := newKeySet(t, token.EdDSA)
	clk := &clock{t: t0}
	v, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource, Keys: ks, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	other := newKeySet(t, token.EdDSA)
	for _, tt := range []struct {
		name   string
		auth   string
		status int
	}{
		{"own key", "Bearer " + sign(t, ks, testClaims(t0)), 200},
		{"another issuer's key", "Bearer " + sign(t, other, testClaims(t0)), 401},
		{"expired", "Bearer " + sign(t, ks, testClaims(t0.Add(-time.Hour))), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if w := do(v, "GET", "/things", tt.auth); w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
	if _, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource, Keys: ks, JWKSURL: testIssuer + jwksPath}); err == nil {
		t.Error("Keys with a JWKSURL: accepted")
	}
	checker, err := dpop.NewChecker(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource, Keys: ks,
		DPoPChecker: checker, DPoPReplay: dpop.NewMemoryReplayCache(10)}); err == nil {
		t.Error("DPoPChecker with a DPoPReplay: accepted")
	}
}

// boundSetup is a Verifier over ks with edit applied and a token bound to
// a fresh client key.
type boundSetup struct {
	v     *Verifier
	key   *clientKey
	bound string
}

// clientKey makes proofs with the client's key for the bound token.
type clientKey struct{ mk func(htm, htu string) string }

func newBound(t *testing.T, edit func(*Config)) boundSetup {
	t.Helper()
	ks := newKeySet(t, token.EdDSA)
	clk := &clock{t: t0}
	cfg := Config{Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource, Keys: ks, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := newClientKey(t)
	jkt, _ := dpop.Thumbprint(key.Public())
	bound := signBound(t, ks, testClaims(t0), map[string]string{"jkt": jkt})
	return boundSetup{v: v, bound: bound, key: &clientKey{mk: func(htm, htu string) string {
		p, err := dpop.NewProof(key, dpop.ES256, htm, htu, t0, bound, "", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}}
}

// TestProofTarget: with ProofTarget the proof must name the request the
// hook reports, under ResourceURL, and not the request that carried it.
func TestProofTarget(t *testing.T) {
	s := newBound(t, func(c *Config) {
		c.ProofTarget = func(r *http.Request) (string, string, error) {
			switch m := r.Header.Get("X-Method"); m {
			case "":
				return "", "", errors.New("no original request")
			case "refuse":
				return "", "", &Error{Status: 400, Scheme: schemeBearer, Code: "invalid_request", Description: "bad original request"}
			default:
				return m, r.Header.Get("X-Path"), nil
			}
		}
	})
	send := func(proof, method, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/verify", nil)
		r.Header.Set("Authorization", "DPoP "+s.bound)
		r.Header.Set("DPoP", proof)
		r.Header.Set("X-Method", method)
		r.Header.Set("X-Path", path)
		w := httptest.NewRecorder()
		s.v.Middleware(echo).ServeHTTP(w, r)
		return w
	}
	for _, tt := range []struct {
		name, proofHTM, proofHTU, method, path string
		status                                 int
		challenge                              string
	}{
		{"the original request", "POST", testResource + "/api/items", "POST", "/api/items", 200, ""},
		{"proof for the carrying request", "GET", testResource + "/verify", "POST", "/api/items", 401, `error="invalid_dpop_proof"`},
		{"another method", "GET", testResource + "/api/items", "POST", "/api/items", 401, `error="invalid_dpop_proof"`},
		{"unknown target", "POST", testResource + "/api/items", "", "", 401, `DPoP realm="api", error="invalid_token", error_description="the request the DPoP proof is for is unknown"`},
		{"relative path", "POST", testResource + "/api/items", "POST", "api/items", 401, `error="invalid_token"`},
		{"hook's own error", "POST", testResource + "/api/items", "refuse", "", 400, `Bearer realm="api", error="invalid_request"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := send(s.key.mk(tt.proofHTM, tt.proofHTU), tt.method, tt.path)
			if w.Code != tt.status || !strings.Contains(challenges(w), tt.challenge) {
				t.Errorf("%d %q, want %d with %q", w.Code, challenges(w), tt.status, tt.challenge)
			}
		})
	}
}

// TestAdmitProof: the hook runs before each proof check, can refuse it
// (the proof is then never checked, so it can still be used), and learns
// every outcome exactly once.
func TestAdmitProof(t *testing.T) {
	var mu sync.Mutex
	var refuse error
	var outcomes []string
	s := newBound(t, func(c *Config) {
		c.AdmitProof = func(*http.Request) (func(error), error) {
			mu.Lock()
			defer mu.Unlock()
			if refuse != nil {
				return nil, refuse
			}
			return func(err error) {
				mu.Lock()
				defer mu.Unlock()
				o := "ok"
				var e *Error
				if errors.As(err, &e) {
					o = e.Code
				} else if err != nil {
					o = "not an *Error"
				}
				outcomes = append(outcomes, o)
			}, nil
		}
	})
	good := s.key.mk("GET", testResource+"/things")
	for _, tt := range []struct {
		name    string
		refuse  error
		proof   string
		status  int
		retry   string
		outcome string // "" when done must not be called
	}{
		{"refused with an *Error", &Error{Status: 429, Code: "slow_down", RetryAfter: 1500 * time.Millisecond}, good, 429, "2", ""},
		{"refused with another error", errors.New("budget store down"), good, 503, "1", ""},
		{"good proof", nil, good, 200, "", "ok"},
		{"replayed proof", nil, good, 401, "", dpop.CodeInvalidProof},
		{"proof for another URL", nil, s.key.mk("GET", testResource+"/other"), 401, "", dpop.CodeInvalidProof},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			refuse, outcomes = tt.refuse, nil
			mu.Unlock()
			w := do(s.v, "GET", "/things", "DPoP "+s.bound, tt.proof)
			if w.Code != tt.status || w.Header().Get("Retry-After") != tt.retry {
				t.Errorf("%d Retry-After %q, want %d %q", w.Code, w.Header().Get("Retry-After"), tt.status, tt.retry)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{}
			if tt.outcome != "" {
				want = append(want, tt.outcome)
			}
			if strings.Join(outcomes, ",") != strings.Join(want, ",") {
				t.Errorf("done called with %q, want %q", outcomes, want)
			}
		})
	}
	// A bearer token has no proof: the hook is not asked.
	mu.Lock()
	refuse, outcomes = errors.New("must not be asked"), nil
	mu.Unlock()
	if w := do(s.v, "GET", "/things", "Bearer "+s.bound); w.Code != 401 || len(outcomes) != 0 {
		t.Errorf("bound token as Bearer: %d, outcomes %q", w.Code, outcomes)
	}
}

// TestRetryAfterOn503And429 is the regression test for WriteError sending
// no Retry-After with a 503 (a replay cache that cannot record proofs),
// and for a key over its replay-cache share being answered 503 (every
// client's problem) instead of 429 (that key's).
func TestRetryAfterOn503And429(t *testing.T) {
	t.Run("full replay cache", func(t *testing.T) {
		s := newBound(t, func(c *Config) { c.DPoPReplay = dpop.NewMemoryReplayCache(1) })
		if w := do(s.v, "GET", "/things", "DPoP "+s.bound, s.key.mk("GET", testResource+"/things")); w.Code != 200 {
			t.Fatalf("first: %d", w.Code)
		}
		w := do(s.v, "GET", "/things", "DPoP "+s.bound, s.key.mk("GET", testResource+"/things"))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
			t.Errorf("full cache: %d Retry-After %q, want 503 with 1", w.Code, w.Header().Get("Retry-After"))
		}
	})
	t.Run("key over its share", func(t *testing.T) {
		const capacity = 2 * dpop.ReplayShare // 2 proofs per key
		s := newBound(t, func(c *Config) { c.DPoPReplay = dpop.NewMemoryReplayCache(capacity) })
		var last *httptest.ResponseRecorder
		for range 3 {
			last = do(s.v, "GET", "/things", "DPoP "+s.bound, s.key.mk("GET", testResource+"/things"))
		}
		want := "61" // the proof window (60 s) and a second
		if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") != want {
			t.Errorf("third proof of one key: %d Retry-After %q, want 429 with %s", last.Code, last.Header().Get("Retry-After"), want)
		}
	})
	t.Run("hook's 503 without RetryAfter", func(t *testing.T) {
		s := newBound(t, func(c *Config) {
			c.CheckAccount = func(context.Context, *Claims) error { return &Error{Status: 503, Code: "temporarily_unavailable"} }
		})
		ks := s.v.tokens.Keys.(*token.KeySet)
		w := do(s.v, "GET", "/things", "Bearer "+sign(t, ks, testClaims(t0)))
		if w.Code != 503 || w.Header().Get("Retry-After") != "1" {
			t.Errorf("%d Retry-After %q, want 503 with 1", w.Code, w.Header().Get("Retry-After"))
		}
	})
}
