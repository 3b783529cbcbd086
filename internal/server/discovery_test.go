package server

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/password"
)

func get(t *testing.T, e *testEnv, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

func TestDiscoveryDocuments(t *testing.T) {
	e := newTestEnv(t)

	jwks := get(t, e, "/.well-known/jwks.json")
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks.body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", jwks.body, err)
	}
	k := set.Keys[0]
	if k["kid"] != e.keys.Active().ID || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kty"] != "OKP" {
		t.Errorf("jwk %v", k)
	}
	if _, private := k["d"]; private {
		t.Fatal("JWKS publishes a private key")
	}

	md := get(t, e, "/.well-known/oauth-authorization-server").json(t)
	if md["issuer"] != e.cfg.Issuer || md["token_endpoint"] != e.cfg.Issuer+"/token" || md["jwks_uri"] != e.cfg.Issuer+"/.well-known/jwks.json" {
		t.Errorf("metadata %v", md)
	}
	// The Host header never changes what the service says it is.
	spoofed := get(t, e, "/.well-known/oauth-authorization-server", "Host", "evil.example", "X-Forwarded-Host", "evil.example")
	if strings.Contains(string(spoofed.body), "evil.example") {
		t.Errorf("metadata follows the Host header: %s", spoofed.body)
	}

	api := get(t, e, "/openapi.json").json(t)
	flows := api["components"].(map[string]any)["securitySchemes"].(map[string]any)["OAuth2PasswordBearer"].(map[string]any)["flows"].(map[string]any)
	if flows["password"].(map[string]any)["tokenUrl"] != e.cfg.Issuer+"/token" {
		t.Errorf("openapi flows %v", flows)
	}
	if api["openapi"] != "3.1.0" {
		t.Errorf("openapi version %v", api["openapi"])
	}

	if res := get(t, e, "/healthz"); res.status != 200 {
		t.Errorf("/healthz %d", res.status)
	}
	if res := get(t, e, "/readyz"); res.status != 200 {
		t.Errorf("/readyz %d", res.status)
	}
	if res := get(t, e, "/nope"); res.status != 404 || res.json(t)["error"] != "not_found" {
		t.Errorf("unknown path: %d %s", res.status, res.body)
	}
}

func TestCORS(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.CORSOrigins = []string{"https://app.example"} }))
	preflight := func(origin string) response {
		req, _ := http.NewRequest(http.MethodOptions, e.ts.URL+"/token", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		return e.do(req)
	}
	ok := preflight("https://app.example")
	if ok.status != http.StatusNoContent || ok.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("listed origin preflight: %d %v", ok.status, ok.header)
	}
	if ok.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Error("a listed origin may not send the device cookie")
	}
	if !strings.Contains(ok.header.Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("preflight does not allow the DPoP header: %q", ok.header.Get("Access-Control-Allow-Headers"))
	}
	bad := preflight("https://evil.example")
	if bad.status != http.StatusForbidden || bad.header.Get("Access-Control-Allow-Origin") != "" || bad.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("unlisted origin preflight: %d %v", bad.status, bad.header)
	}
	simple := get(t, e, "/healthz", "Origin", "https://evil.example")
	if simple.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unlisted origin got %q", simple.header.Get("Access-Control-Allow-Origin"))
	}
	listed := get(t, e, "/healthz", "Origin", "https://app.example")
	if listed.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("listed origin got %q", listed.header.Get("Access-Control-Allow-Origin"))
	}
	if !strings.Contains(listed.header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Errorf("DPoP-Nonce not exposed: %q", listed.header.Get("Access-Control-Expose-Headers"))
	}
	// No origins configured: nobody gets CORS headers.
	none := newTestEnv(t)
	if res := get(t, none, "/healthz", "Origin", "https://app.example"); res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS answered with no origins configured")
	}
}

// TestHasherPoolOverload fires 2,000 parallel logins at a pool of 2 workers
// and 8 waiting places with the real default argon2id cost: the excess gets
// 503 with Retry-After at once, nothing else fails, and the heap stays far
// below what 2,000 concurrent 19 MiB hashes would need.
func TestHasherPoolOverload(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real argon2id at 19 MiB")
	}
	e := newTestEnv(t, withPool(2, 8), withConfig(func(c *Config) { c.Argon = password.DefaultParams() }))
	h, err := password.Hash(crand.Reader, []byte("correct horse battery"), password.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	e.addUserHash("ivy", h)
	transport := &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}
	body := url.Values{"username": {"ivy"}, "password": {"wrong password"}}.Encode()

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()

	const n = 2000
	var wg sync.WaitGroup
	counts := make(map[int]int)
	var mu sync.Mutex
	var missingRetryAfter atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Post(e.ts.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(body))
			code := -1
			if err == nil {
				code = res.StatusCode
				if code == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
					missingRetryAfter.Add(1)
				}
				res.Body.Close()
			}
			mu.Lock()
			counts[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusBadRequest] == 0 {
		t.Errorf("want both 400 and 503 answers, got %v", counts)
	}
	if counts[http.StatusBadRequest]+counts[http.StatusServiceUnavailable] != n {
		t.Errorf("unexpected answers: %v", counts)
	}
	if missingRetryAfter.Load() > 0 {
		t.Errorf("%d 503 answers without Retry-After", missingRetryAfter.Load())
	}
	// 2,000 concurrent argon2id hashes would need ~38 GiB; the pool allows
	// two at a time. Connections and goroutines cost a few hundred MiB at
	// most.
	if p := peak.Load(); p > 512<<20 {
		t.Errorf("peak heap %d MiB", p>>20)
	}
	t.Logf("answers %v, peak heap %d MiB", counts, peak.Load()>>20)
}

// TestMalformedRequestsNeverFail5xx sends 1,000 randomly malformed requests
// to every endpoint: none may get a 5xx.
func TestMalformedRequestsNeverFail5xx(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("jack", "correct horse battery")
	good := e.accessToken("jack", "correct horse battery")
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"username", "password", "grant_type", "scope", "client_id", "=", "&", "%", "%00", "%ff", "%zz", "jack",
		"\x00", "\xff", "€", "+", ";", "refresh_token", "password=x", strings.Repeat("A", 3000), "..", "{", "}"}
	contentTypes := []string{"application/x-www-form-urlencoded", "application/json", "", "text/plain", "application/x-www-form-urlencoded; charset=utf-8",
		"application/x-www-form-urlencoded; charset=\"", "multipart/form-data", ";;;"}
	auths := []string{"", "Basic", "Basic Og==", "Basic " + strings.Repeat("=", 10), "Bearer", "Bearer " + good[:len(good)-3], "Bearer " + good + good,
		"Bearer ..", "Bearer " + strings.Repeat("a.", 4000), "DPoP x"}
	paths := []string{"/token", "/users/me", "/revoke", "/verify", "/.well-known/jwks.json", "/%2e%2e/token", "/token/", "/users/me?access_token=" + good}
	methods := []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := 0; i < 1000; i++ {
		var b strings.Builder
		for j := rng.IntN(12); j > 0; j-- {
			b.WriteString(pick(pieces))
		}
		req, err := http.NewRequestWithContext(context.Background(), pick(methods), e.ts.URL+pick(paths), strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if ct := pick(contentTypes); ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if a := pick(auths); a != "" {
			req.Header.Set("Authorization", a)
		}
		if rng.IntN(4) == 0 {
			req.Header.Set("Origin", "https://x.example")
		}
		res := e.do(req)
		if res.status >= 500 {
			t.Fatalf("request %d %s %s body %q: status %d body %s", i, req.Method, req.URL, b.String(), res.status, res.body)
		}
		if res.status >= 400 && req.Method != http.MethodHead && !json.Valid(res.body) {
			t.Errorf("request %d: %d error body is not JSON: %q", i, res.status, res.body)
		}
	}
}
