package server

import (
	"github.com/credshield/credshield/internal/gate/gatetest"

	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestForwardAuthBearer: /verify answers like /users/me, in headers.
func TestForwardAuthBearer(t *testing.T) {
	e := newTestEnv(t, withScopes("read"))
	u := e.addUser("alice", "correct horse battery")
	tk := tokensOf(t, e.postToken(url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "scope": {"read"}, "client_id": {"app"}}.Encode()))

	res := get(t, e, "/verify", "Authorization", "Bearer "+tk.access)
	if res.status != http.StatusOK || res.header.Get("X-Auth-Subject") != u.ID || res.header.Get("X-Auth-Username") != "alice" ||
		res.header.Get("X-Auth-Scope") != "read" {
		t.Fatalf("valid token: %d %v", res.status, res.header)
	}
	// Forward-auth subrequests may carry the original method.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tk.access)
	if res := e.do(req); res.status != http.StatusOK {
		t.Errorf("POST /verify: %d", res.status)
	}

	res = get(t, e, "/verify")
	if ch := res.header.Values("WWW-Authenticate"); res.status != http.StatusUnauthorized || len(ch) != 2 || ch[0] != `Bearer realm="credshield"` {
		t.Errorf("no token: %d %q", res.status, ch)
	}
	if res := get(t, e, "/verify", "Authorization", "Bearer "+tk.access[:len(tk.access)-4]+"AAAA"); res.status != http.StatusUnauthorized || res.header.Get("X-Auth-Subject") != "" {
		t.Errorf("bad signature: %d %v", res.status, res.header)
	}
	// Revoked jti and disabled account, as /users/me.
	if res := e.postForm("/revoke", url.Values{"token": {tk.access}, "client_id": {"app"}}.Encode()); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := get(t, e, "/verify", "Authorization", "Bearer "+tk.access); res.status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", res.status)
	}
	other := e.accessToken("alice", "correct horse battery")
	if _, err := e.st.SetDisabled(context.Background(), "alice", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if res := get(t, e, "/verify", "Authorization", "Bearer "+other); res.status != http.StatusUnauthorized {
		t.Errorf("disabled user: %d", res.status)
	}
}

// TestForwardAuthDPoP uses nginx's conventions: the proxy sets
// X-Forwarded-Method and X-Original-URI ($request_uri, query included).
func TestForwardAuthDPoP(t *testing.T) {
	const resource = "https://api.example.com"
	setup := func(t *testing.T, trusted bool) (*testEnv, *dpopKey, string, time.Time) {
		opts := []envOption{withConfig(func(c *Config) { c.ResourceURL = resource + "/" })}
		if trusted {
			opts = append(opts, withTrustedProxies("127.0.0.0/8", "::1/128"))
		}
		e := newTestEnv(t, opts...)
		e.addUser("bob", "correct horse battery")
		k := newDPoPKey(t)
		now := time.Now()
		return e, k, dpopLogin(t, e, k, now, "bob", "correct horse battery"), now
	}
	forward := func(e *testEnv, tok, proof, method, uri string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/verify", nil)
		req.Host = "evil.example" // never consulted
		req.Header.Set("Authorization", "DPoP "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		if method != "" {
			req.Header.Set("X-Forwarded-Method", method)
		}
		if uri != "" {
			req.Header.Set("X-Original-URI", uri)
		}
		return e.do(req)
	}

	t.Run("trusted proxy", func(t *testing.T) {
		e, k, tok, now := setup(t, true)
		items := resource + "/api/items"
		res := forward(e, tok, k.proof(http.MethodPost, items, now, tok, ""), "POST", "/api/items?page=2")
		if res.status != http.StatusOK || res.header.Get("X-Auth-Username") != "bob" {
			t.Fatalf("valid proof: %d %v", res.status, res.header)
		}
		for _, tt := range []struct {
			name, proofMethod, proofURL, method, uri string
			status                                   int
		}{
			{"proof for another path", "POST", resource + "/api/other", "POST", "/api/items", 401},
			{"proof for another method", "GET", items, "POST", "/api/items", 401},
			{"proof for the Host header's URL", "POST", "http://evil.example/api/items", "POST", "/api/items", 401},
			{"proof for the issuer's URL", "POST", e.cfg.Issuer + "/api/items", "POST", "/api/items", 401},
			{"no original method", "POST", items, "", "/api/items", 401},
			{"bad method", "POST", items, "post me", "/api/items", 400},
			{"absolute URI", "POST", items, "POST", "https://x.example/api/items", 400},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := forward(e, tok, k.proof(tt.proofMethod, tt.proofURL, now, tok, ""), tt.method, tt.uri)
				if res.status != tt.status || res.header.Get("X-Auth-Subject") != "" {
					t.Errorf("%d %v, want %d", res.status, res.header, tt.status)
				}
			})
		}
		thief := newDPoPKey(t)
		if res := forward(e, tok, thief.proof(http.MethodPost, items, now, tok, ""), "POST", "/api/items"); res.status != http.StatusUnauthorized {
			t.Errorf("stolen token, thief's proof: %d", res.status)
		}
		if res := get(t, e, "/verify", "Authorization", "Bearer "+tok, "X-Forwarded-Method", "POST", "X-Original-URI", "/api/items"); res.status != http.StatusUnauthorized {
			t.Errorf("bound token as Bearer: %d", res.status)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		e, k, tok, now := setup(t, false)
		items := resource + "/api/items"
		// The same headers from a peer that is not a configured proxy are
		// ignored: the original request is unknown, so the bound token
		// cannot be checked and is refused.
		res := forward(e, tok, k.proof(http.MethodPost, items, now, tok, ""), "POST", "/api/items")
		if res.status != http.StatusUnauthorized || !strings.Contains(strings.Join(res.header.Values("WWW-Authenticate"), " "), "trusted proxy") {
			t.Errorf("untrusted peer: %d %v", res.status, res.header)
		}
	})
}

// TestForwardAuthPeerTrustedMapped: /verify believes a peer's account of
// the original request exactly when the client address resolver trusts
// that peer, IPv4-mapped addresses and prefixes included.
func TestForwardAuthPeerTrustedMapped(t *testing.T) {
	for _, tt := range gatetest.MappedPeerCases {
		t.Run(tt.Name, func(t *testing.T) {
			var opts []envOption
			if tt.Trusted != "" {
				opts = append(opts, withTrustedProxies(tt.Trusted))
			}
			e := newTestEnv(t, opts...)
			req := httptest.NewRequest(http.MethodGet, "/verify", nil)
			req.RemoteAddr = tt.Peer
			req.Header.Set("X-Forwarded-Method", "POST")
			req.Header.Set("X-Original-URI", "/api/items?page=2")
			method, path, err := e.srv.originalRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			if believed := method == "POST" && path == "/api/items"; believed != tt.Want {
				t.Errorf("original request %q %q; believed %v, want %v", method, path, believed, tt.Want)
			}
		})
	}
}
