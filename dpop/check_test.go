package dpop

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestCheckValidProofs(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			c := newChecker(t, Config{AllowedAlgs: []string{EdDSA, ES256, RS256}})
			key := newKey(t, alg)
			want, err := Thumbprint(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			proof := mustProof(t, key, alg, testHTM, testHTU, testNow, testToken, "")
			jkt, err := c.Check(ctx, testNow, proof, testHTM, testHTU, testToken, "")
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if jkt != want {
				t.Fatalf("jkt = %q, want %q", jkt, want)
			}
		})
	}
}

func TestCheckRefusals(t *testing.T) {
	_, key := mustEd25519(t)
	_, other := mustEd25519(t)
	privJWK, err := jose.JSONWebKey{Key: key}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, err := jose.JSONWebKey{Key: newKey(t, ES256).Public()}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	set := func(k string, v any) func(h, c map[string]any) { return func(_, c map[string]any) { c[k] = v } }
	setH := func(k string, v any) func(h, c map[string]any) { return func(h, _ map[string]any) { h[k] = v } }
	del := func(k string) func(h, c map[string]any) { return func(_, c map[string]any) { delete(c, k) } }
	tests := []struct {
		name      string
		proof     string
		htm, htu  string // request; defaults testHTM, testHTU
		token     string // presented access token; "-" for none
		code      string // "" means accepted
		sentinel  error
		allowAlgs []string
	}{
		{name: "valid hand-built", proof: handProof(t, key, testNow, nil, nil)},
		{name: "no token at the token endpoint, ath ignored", proof: handProof(t, key, testNow, nil, nil), token: "-"},
		{name: "typ with application/ prefix", proof: handProof(t, key, testNow, setH("typ", "application/DPoP+JWT"), nil)},
		{name: "wrong htm", proof: handProof(t, key, testNow, set("htm", "POST"), nil), code: CodeInvalidProof, sentinel: ErrMethod},
		{name: "htm case differs", proof: handProof(t, key, testNow, set("htm", "get"), nil), code: CodeInvalidProof, sentinel: ErrMethod},
		{name: "wrong htu path", proof: handProof(t, key, testNow, set("htu", "https://api.example.com/other"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "wrong htu host", proof: handProof(t, key, testNow, set("htu", "https://evil.example.com/things"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "wrong htu scheme", proof: handProof(t, key, testNow, set("htu", "http://api.example.com/things"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "wrong htu port", proof: handProof(t, key, testNow, set("htu", "https://api.example.com:8443/things"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "htu path prefix only", proof: handProof(t, key, testNow, set("htu", "https://api.example.com/thing"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "htu not a url", proof: handProof(t, key, testNow, set("htu", "/things"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "htu with credentials", proof: handProof(t, key, testNow, set("htu", "https://u:p@api.example.com/things"), nil), code: CodeInvalidProof, sentinel: ErrURL},
		{name: "htu query and fragment ignored (§4.3)", proof: handProof(t, key, testNow, set("htu", testHTU+"?a=1#frag"), nil)},
		{name: "request query ignored", proof: handProof(t, key, testNow, nil, nil), htu: testHTU + "?page=2"},
		{name: "htu normalised case and default port", proof: handProof(t, key, testNow, set("htu", "HTTPS://API.Example.COM:443/things"), nil)},
		{name: "htu dot segments and escapes normalised", proof: handProof(t, key, testNow, set("htu", "https://api.example.com/a/../%74hings"), nil)},
		{name: "iat at the edge of the window", proof: handProof(t, key, testNow.Add(-DefaultIATWindow), nil, nil)},
		{name: "stale iat", proof: handProof(t, key, testNow.Add(-DefaultIATWindow-time.Second), nil, nil), code: CodeInvalidProof, sentinel: ErrStale},
		{name: "iat slightly ahead", proof: handProof(t, key, testNow.Add(DefaultIATFuture), nil, nil)},
		{name: "future iat", proof: handProof(t, key, testNow.Add(DefaultIATFuture+time.Second), nil, nil), code: CodeInvalidProof, sentinel: ErrFuture},
		{name: "iat as a string", proof: handProof(t, key, testNow, set("iat", "1772366400"), nil), code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "negative iat", proof: handProof(t, key, testNow, set("iat", -1), nil), code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "wrong ath", proof: handProof(t, key, testNow, set("ath", AccessTokenHash("another token")), nil), code: CodeInvalidProof, sentinel: ErrAccessToken},
		{name: "missing ath with a token", proof: handProof(t, key, testNow, del("ath"), nil), code: CodeInvalidProof, sentinel: ErrAccessToken},
		{name: "missing jti", proof: handProof(t, key, testNow, del("jti"), nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "empty jti", proof: handProof(t, key, testNow, set("jti", ""), nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "huge jti", proof: handProof(t, key, testNow, set("jti", strings.Repeat("j", maxJTILen+1)), nil), code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "missing htm", proof: handProof(t, key, testNow, del("htm"), nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "missing htu", proof: handProof(t, key, testNow, del("htu"), nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "missing iat", proof: handProof(t, key, testNow, del("iat"), nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "claim name case differs", proof: handProof(t, key, testNow, func(_, c map[string]any) { c["HTU"] = c["htu"]; delete(c, "htu") }, nil), code: CodeInvalidProof, sentinel: ErrMissingClaim},
		{name: "private key in jwk", proof: handProof(t, key, testNow, setH("jwk", json.RawMessage(privJWK)), nil), code: CodeInvalidProof, sentinel: ErrPrivateKey},
		{name: "no jwk", proof: handProof(t, key, testNow, func(h, _ map[string]any) { delete(h, "jwk") }, nil), code: CodeInvalidProof, sentinel: ErrKey},
		{name: "jwk not an object", proof: handProof(t, key, testNow, setH("jwk", "key"), nil), code: CodeInvalidProof, sentinel: ErrKey},
		{name: "jwk of another key type than alg", proof: handProof(t, key, testNow, setH("jwk", json.RawMessage(ecJWK)), nil), code: CodeInvalidProof, sentinel: ErrKey},
		{name: "signed by another key", proof: handProof(t, key, testNow, nil, func(in []byte) []byte { return ed25519.Sign(other, in) }), code: CodeInvalidProof, sentinel: ErrSignature},
		{name: "alg none", proof: handProof(t, key, testNow, setH("alg", "none"), func([]byte) []byte { return nil }), code: CodeInvalidProof, sentinel: ErrAlgorithm},
		{name: "alg HS256 keyed with the public key", proof: handProof(t, key, testNow, setH("alg", "HS256"), hs256(key.Public().(ed25519.PublicKey))), code: CodeInvalidProof, sentinel: ErrAlgorithm},
		{name: "alg not in the allowed list", proof: handProof(t, key, testNow, nil, nil), allowAlgs: []string{ES256}, code: CodeInvalidProof, sentinel: ErrAlgorithm},
		{name: "typ jwt", proof: handProof(t, key, testNow, setH("typ", "JWT"), nil), code: CodeInvalidProof, sentinel: ErrType},
		{name: "typ at+jwt", proof: handProof(t, key, testNow, setH("typ", "at+jwt"), nil), code: CodeInvalidProof, sentinel: ErrType},
		{name: "no typ", proof: handProof(t, key, testNow, func(h, _ map[string]any) { delete(h, "typ") }, nil), code: CodeInvalidProof, sentinel: ErrType},
		{name: "crit header", proof: handProof(t, key, testNow, setH("crit", []string{"exp"}), nil), code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "garbage", proof: "not a jwt", code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "empty", proof: "", code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "too long", proof: strings.Repeat("a", DefaultMaxLen+1), code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "four segments", proof: handProof(t, key, testNow, nil, nil) + ".x", code: CodeInvalidProof, sentinel: ErrMalformed},
		{name: "method of another request", proof: handProof(t, key, testNow, nil, nil), htm: "DELETE", code: CodeInvalidProof, sentinel: ErrMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t, Config{AllowedAlgs: tt.allowAlgs})
			htm, htu, token := cmp.Or(tt.htm, testHTM), cmp.Or(tt.htu, testHTU), cmp.Or(tt.token, testToken)
			if token == "-" {
				token = ""
			}
			jkt, err := c.Check(ctx, testNow, tt.proof, htm, htu, token, "")
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if want, _ := Thumbprint(key.Public()); jkt != want {
					t.Fatalf("jkt = %q, want %q", jkt, want)
				}
				return
			}
			if jkt != "" {
				t.Errorf("jkt = %q on a refusal", jkt)
			}
			wantRefused(t, err, tt.code, tt.sentinel)
		})
	}
}

func mustEd25519(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	k := newKey(t, EdDSA).(ed25519.PrivateKey)
	return k.Public().(ed25519.PublicKey), k
}

func TestCheckReplay(t *testing.T) {
	c := newChecker(t, Config{})
	_, key := mustEd25519(t)
	proof := handProof(t, key, testNow, func(_, cl map[string]any) { cl["jti"] = "same-jti" }, nil)
	if _, err := c.Check(ctx, testNow, proof, testHTM, testHTU, testToken, ""); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := c.Check(ctx, testNow.Add(time.Second), proof, testHTM, testHTU, testToken, "")
	wantRefused(t, err, CodeInvalidProof, ErrReplay)

	// The jti is scoped to the key: another client may pick the same one.
	_, other := mustEd25519(t)
	proof2 := handProof(t, other, testNow, func(_, cl map[string]any) { cl["jti"] = "same-jti" }, nil)
	if _, err := c.Check(ctx, testNow, proof2, testHTM, testHTU, testToken, ""); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// Once the entry has expired, the proof is stale anyway.
	_, err = c.Check(ctx, testNow.Add(DefaultIATWindow+2*time.Second), proof, testHTM, testHTU, testToken, "")
	wantRefused(t, err, CodeInvalidProof, ErrStale)

	// A refused proof leaves no entry: fixing the request then succeeds.
	proof3 := handProof(t, key, testNow, nil, nil)
	_, err = c.Check(ctx, testNow, proof3, "POST", testHTU, testToken, "")
	wantRefused(t, err, CodeInvalidProof, ErrMethod)
	if _, err := c.Check(ctx, testNow, proof3, testHTM, testHTU, testToken, ""); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
}

func TestCheckReplayCacheFullFailsClosed(t *testing.T) {
	cache := NewMemoryReplayCache(1)
	c := newChecker(t, Config{Replay: cache})
	_, key := mustEd25519(t)
	if _, err := c.Check(ctx, testNow, handProof(t, key, testNow, nil, nil), testHTM, testHTU, testToken, ""); err != nil {
		t.Fatal(err)
	}
	_, err := c.Check(ctx, testNow, handProof(t, key, testNow, nil, nil), testHTM, testHTU, testToken, "")
	if !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("err = %v, want ErrReplayCacheFull", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatalf("a full cache is the server's condition, not an *Error: %v", err)
	}
	// When the first entry expires there is room again.
	later := testNow.Add(DefaultIATWindow + 2*time.Second)
	if _, err := c.Check(ctx, later, handProof(t, key, later, nil, nil), testHTM, testHTU, testToken, ""); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestCheckNonceFlow(t *testing.T) {
	ns, err := NewNonceSource(randBytes(t, 32), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, Config{Nonces: ns})
	key := newKey(t, ES256)

	// 1. The client tries without a nonce and is told to use one.
	_, err = c.Check(ctx, testNow, mustProof(t, key, ES256, "POST", testHTU, testNow, "", ""), "POST", testHTU, "", "")
	wantRefused(t, err, CodeUseNonce, ErrNonceRequired)
	nonce := c.Nonce(testNow)
	if nonce == "" {
		t.Fatal("no nonce to send")
	}
	// 2. It retries with the nonce from the DPoP-Nonce header.
	if _, err := c.Check(ctx, testNow, mustProof(t, key, ES256, "POST", testHTU, testNow, "", nonce), "POST", testHTU, "", ""); err != nil {
		t.Fatalf("with nonce: %v", err)
	}
	// 3. The nonce survives into the next window, then goes stale.
	next := testNow.Add(5 * time.Minute)
	if _, err := c.Check(ctx, next, mustProof(t, key, ES256, "POST", testHTU, next, "", nonce), "POST", testHTU, "", ""); err != nil {
		t.Fatalf("nonce in the next window: %v", err)
	}
	late := testNow.Add(10 * time.Minute)
	_, err = c.Check(ctx, late, mustProof(t, key, ES256, "POST", testHTU, late, "", nonce), "POST", testHTU, "", "")
	wantRefused(t, err, CodeUseNonce, ErrNonceRequired)
	// 4. A made-up nonce is refused.
	_, err = c.Check(ctx, testNow, mustProof(t, key, ES256, "POST", testHTU, testNow, "", "made-up"), "POST", testHTU, "", "")
	wantRefused(t, err, CodeUseNonce, ErrNonceRequired)
	// 5. A caller-supplied expected nonce overrides the source.
	if _, err := c.Check(ctx, testNow, mustProof(t, key, ES256, "POST", testHTU, testNow, "", "exact"), "POST", testHTU, "", "exact"); err != nil {
		t.Fatalf("expected nonce: %v", err)
	}
	_, err = c.Check(ctx, testNow, mustProof(t, key, ES256, "POST", testHTU, testNow, "", nonce), "POST", testHTU, "", "exact")
	wantRefused(t, err, CodeUseNonce, ErrNonceRequired)
}

func TestCheckBadRequestURL(t *testing.T) {
	c := newChecker(t, Config{})
	_, key := mustEd25519(t)
	_, err := c.Check(ctx, testNow, handProof(t, key, testNow, nil, nil), testHTM, "api.example.com/things", testToken, "")
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig for a request URL the caller built wrongly", err)
	}
}

func TestNewCheckerRefusesSymmetricAlgs(t *testing.T) {
	for _, algs := range [][]string{{"none"}, {"HS256"}, {EdDSA, "HS512"}, {"PS256"}, {"es256"}} {
		if _, err := NewChecker(Config{AllowedAlgs: algs}); !errors.Is(err, ErrConfig) {
			t.Errorf("NewChecker(%v) err = %v, want ErrConfig", algs, err)
		}
	}
	for _, cfg := range []Config{{IATWindow: -time.Second}, {IATWindow: time.Hour}, {IATWindow: time.Second, IATFuture: time.Minute}} {
		if _, err := NewChecker(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewChecker(%+v) err = %v, want ErrConfig", cfg, err)
		}
	}
	c := newChecker(t, Config{})
	if got := strings.Join(c.Algs(), " "); got != "ES256 EdDSA" {
		t.Errorf("default algs = %q", got)
	}
}

func TestProofFromHeader(t *testing.T) {
	tests := []struct {
		values []string
		ok     bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"a.b.c"}, true},
		{[]string{"a.b.c", "d.e.f"}, false},
	}
	for _, tt := range tests {
		p, err := ProofFromHeader(tt.values)
		if tt.ok != (err == nil) {
			t.Errorf("ProofFromHeader(%q) = %q, %v", tt.values, p, err)
		}
		if !tt.ok {
			wantRefused(t, err, CodeInvalidProof, ErrHeaderCount)
		}
	}
}

// rfcVectors are the RFC 9449 examples in testdata.
type rfcVectors struct {
	TokenRequest    rfcRequest `json:"token_request"`
	ResourceRequest rfcRequest `json:"resource_request"`
	ATH             string     `json:"ath"`
	JKT             string     `json:"jkt"`
}

type rfcRequest struct {
	Proof       string `json:"proof"`
	HTM         string `json:"htm"`
	HTU         string `json:"htu"`
	IAT         int64  `json:"iat"`
	AccessToken string `json:"access_token"`
}

func TestRFC9449Examples(t *testing.T) {
	b, err := os.ReadFile("testdata/rfc9449.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := AccessTokenHash(v.ResourceRequest.AccessToken); got != v.ATH {
		t.Errorf("AccessTokenHash = %q, want %q (RFC 9449 §7.1)", got, v.ATH)
	}
	for name, r := range map[string]rfcRequest{"token request §4.1": v.TokenRequest, "resource request §7.1": v.ResourceRequest} {
		t.Run(name, func(t *testing.T) {
			c := newChecker(t, Config{})
			// The examples are from 2019: check them at their own time.
			at := time.Unix(r.IAT, 0).Add(time.Second)
			jkt, err := c.Check(ctx, at, r.Proof, r.HTM, r.HTU, r.AccessToken, "")
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if jkt != v.JKT {
				t.Errorf("jkt = %q, want %q (RFC 9449 §6.1)", jkt, v.JKT)
			}
			// Today they are stale, and a second use is a replay.
			_, err = newChecker(t, Config{}).Check(ctx, testNow, r.Proof, r.HTM, r.HTU, r.AccessToken, "")
			wantRefused(t, err, CodeInvalidProof, ErrStale)
			_, err = c.Check(ctx, at, r.Proof, r.HTM, r.HTU, r.AccessToken, "")
			wantRefused(t, err, CodeInvalidProof, ErrReplay)
			// One flipped signature byte breaks it.
			i := strings.LastIndexByte(r.Proof, '.') + 5
			repl := "A"
			if r.Proof[i] == 'A' {
				repl = "B"
			}
			bad := r.Proof[:i] + repl + r.Proof[i+1:]
			_, err = newChecker(t, Config{}).Check(ctx, at, bad, r.HTM, r.HTU, r.AccessToken, "")
			wantRefused(t, err, CodeInvalidProof, ErrSignature)
		})
	}
}
