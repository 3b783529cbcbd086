package server

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/token"
)

// forge builds a compact JWS from header and claims maps, signed by sign
// (nil: empty signature).
func forge(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func TestForgedTokensRejected(t *testing.T) {
	e := newTestEnv(t)
	u := e.addUser("alice", "correct horse battery")
	good := e.accessToken("alice", "correct horse battery")
	active := e.keys.Active()
	pub := active.Public.(ed25519.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	jwks, err := e.keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks %s: %v", jwks, err)
	}
	jwkJSON := []byte(set.Keys[0])

	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": e.cfg.Issuer, "aud": e.cfg.Audience, "sub": u.ID, "username": "alice",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "j1", "client_id": "public",
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hdr := func(alg string, mod func(map[string]any)) map[string]any {
		h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": active.ID}
		if mod != nil {
			mod(h)
		}
		return h
	}
	signReal := func(in []byte) []byte { return ed25519.Sign(active.Signer.(ed25519.PrivateKey), in) }
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	attackerPub := attackerKey.Public().(ed25519.PublicKey)

	parts := strings.Split(good, ".")
	tampered := func() string {
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		s := strings.Replace(string(b), `"alice"`, `"admin"`, 1)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(s)) + "." + parts[2]
	}()

	tests := []struct {
		name string
		tok  string
	}{
		{"alg none", forge(t, hdr("none", nil), claims(nil), nil)},
		{"alg None", forge(t, hdr("None", nil), claims(nil), nil)},
		{"alg NONE", forge(t, hdr("NONE", nil), claims(nil), nil)},
		{"alg nOnE", forge(t, hdr("nOnE", nil), claims(nil), nil)},
		{"alg none without kid", forge(t, map[string]any{"alg": "none", "typ": "at+jwt"}, claims(nil), nil)},
		{"stripped signature", parts[0] + "." + parts[1] + "."},
		{"no signature segment", parts[0] + "." + parts[1]},
		{"HS256 with raw public key", forge(t, hdr("HS256", nil), claims(nil), hs256(pub))},
		{"HS256 with PEM public key", forge(t, hdr("HS256", nil), claims(nil), hs256(pemKey))},
		{"HS256 with JWK public key", forge(t, hdr("HS256", nil), claims(nil), hs256(jwkJSON))},
		{"tampered payload", tampered},
		{"expired", forge(t, hdr("EdDSA", nil), claims(func(c map[string]any) {
			c["exp"] = now.Add(-2 * time.Minute).Unix()
			c["iat"] = now.Add(-20 * time.Minute).Unix()
		}), signReal)},
		{"future nbf", forge(t, hdr("EdDSA", nil), claims(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), signReal)},
		{"future iat", forge(t, hdr("EdDSA", nil), claims(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }), signReal)},
		{"wrong iss", forge(t, hdr("EdDSA", nil), claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), signReal)},
		{"wrong aud", forge(t, hdr("EdDSA", nil), claims(func(c map[string]any) { c["aud"] = "https://other.example" }), signReal)},
		{"wrong typ", forge(t, hdr("EdDSA", func(h map[string]any) { h["typ"] = "JWT" }), claims(nil), signReal)},
		{"unknown kid", forge(t, hdr("EdDSA", func(h map[string]any) { h["kid"] = "no-such-key" }), claims(nil), signReal)},
		{"embedded jwk", forge(t, hdr("EdDSA", func(h map[string]any) {
			h["kid"] = "attacker"
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(attackerPub)}
		}), claims(nil), func(in []byte) []byte { return ed25519.Sign(attackerKey, in) })},
		{"embedded jwk with real kid", forge(t, hdr("EdDSA", func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(attackerPub)}
		}), claims(nil), func(in []byte) []byte { return ed25519.Sign(attackerKey, in) })},
		{"kid path traversal", forge(t, hdr("HS256", func(h map[string]any) { h["kid"] = "../../../../dev/null" }), claims(nil), hs256(nil))},
		{"kid path traversal to key file", forge(t, hdr("EdDSA", func(h map[string]any) { h["kid"] = "../keys/" + active.ID }), claims(nil), signReal)},
		{"garbage", "not a token"},
		{"four segments", good + ".x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.me("Bearer " + tt.tok)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d body %s", res.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="credshield", error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	// The control: the real token passes, so the cases above fail for the
	// reason they test.
	if res := e.me("Bearer " + good); res.status != http.StatusOK {
		t.Fatalf("good token: status %d", res.status)
	}
	if res := e.me("Bearer " + forge(t, hdr("EdDSA", nil), claims(nil), signReal)); res.status != http.StatusOK {
		t.Fatalf("control forged-with-real-key token: status %d body %s", res.status, res.body)
	}
}

func TestBearerChallenges(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name   string
		auth   []string
		status int
		header string
	}{
		{"no token", nil, 401, `Bearer realm="credshield"`},
		{"other scheme", []string{"Basic YTpi"}, 401, `Bearer realm="credshield"`},
		{"empty bearer", []string{"Bearer "}, 401, `Bearer realm="credshield", error="invalid_token", error_description="the access token is malformed"`},
		{"not token68", []string{"Bearer a b"}, 401, `Bearer realm="credshield", error="invalid_token", error_description="the access token is malformed"`},
		{"two headers", []string{"Bearer a", "Bearer b"}, 400, `Bearer realm="credshield", error="invalid_request", error_description="more than one Authorization header"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/users/me", nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			res := e.do(req)
			if res.status != tt.status || res.header.Get("WWW-Authenticate") != tt.header {
				t.Errorf("status %d WWW-Authenticate %q; want %d %q", res.status, res.header.Get("WWW-Authenticate"), tt.status, tt.header)
			}
		})
	}
}

func TestExpiryWithLeeway(t *testing.T) {
	now := time.Now()
	clock := &now
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = func() time.Time { return *clock } }))
	e.addUser("hank", "correct horse battery")
	tok := e.accessToken("hank", "correct horse battery")
	for _, tt := range []struct {
		after  time.Duration
		status int
	}{
		{14 * time.Minute, 200},
		{15*time.Minute + 20*time.Second, 200}, // within the 30 s leeway
		{15*time.Minute + 31*time.Second, 401},
	} {
		later := now.Add(tt.after)
		clock = &later
		if res := e.me("Bearer " + tok); res.status != tt.status {
			t.Errorf("after %v: status %d, want %d", tt.after, res.status, tt.status)
		}
	}
	if _, err := (&token.Verifier{Keys: e.keys, Issuer: e.cfg.Issuer, Audience: e.cfg.Audience, Type: "at+jwt"}).Verify(now.Add(16*time.Minute), tok); err == nil {
		t.Error("verifier accepted an expired token")
	}
}
