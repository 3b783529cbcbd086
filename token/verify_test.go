package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	keys := keysForTest(t)
	for _, k := range []*Key{keys.ed, keys.ec, keys.rs} {
		t.Run(k.Alg, func(t *testing.T) {
			ks := newKeySet([]*Key{keys.ed, keys.ec, keys.rs}, k.Alg)
			c := validClaims()
			c.NotBefore = testNow.Add(-time.Minute)
			raw, err := ks.Sign(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := testVerifier(ks).Verify(testNow, raw)
			if err != nil {
				t.Fatal(err)
			}
			want := c
			want.ExpiresAt, want.IssuedAt, want.NotBefore = c.ExpiresAt.UTC(), c.IssuedAt.UTC(), c.NotBefore.UTC()
			if got.Issuer != want.Issuer || got.Subject != want.Subject || got.ID != want.ID ||
				got.ClientID != want.ClientID || got.Scope != want.Scope || got.Username != want.Username || got.AccountEpoch != want.AccountEpoch ||
				len(got.Audience) != 1 || got.Audience[0] != testAudience ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) || !got.NotBefore.Equal(want.NotBefore) {
				t.Errorf("claims = %+v, want %+v", *got, want)
			}
			seg, _ := splitCompact(raw)
			hdr, _ := decodeSegment(make([]byte, 200), seg.header)
			if want := `{"alg":"` + k.Alg + `","typ":"at+jwt","kid":"` + k.ID + `"}`; string(hdr) != want {
				t.Errorf("header = %s, want %s", hdr, want)
			}
			// go-jose agrees the token is well formed and signed by k.
			jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.Alg)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(k.Public); err != nil {
				t.Errorf("go-jose: %v", err)
			}
		})
	}
}

func TestSignRefusesIncompleteClaims(t *testing.T) {
	keys := keysForTest(t)
	for name, edit := range map[string]func(*Claims){
		"no iss": func(c *Claims) { c.Issuer = "" }, "no sub": func(c *Claims) { c.Subject = "" },
		"no aud": func(c *Claims) { c.Audience = nil }, "empty aud": func(c *Claims) { c.Audience = []string{""} },
		"no exp": func(c *Claims) { c.ExpiresAt = time.Time{} }, "no iat": func(c *Claims) { c.IssuedAt = time.Time{} },
		"no jti": func(c *Claims) { c.ID = "" },
	} {
		c := validClaims()
		edit(&c)
		if _, err := keys.set.Sign(c); !errors.Is(err, ErrClaims) {
			t.Errorf("%s: err = %v, want ErrClaims", name, err)
		}
	}
	if _, err := (&KeySet{}).Sign(validClaims()); err == nil {
		t.Error("empty key set signed")
	}
}

func TestVerifierConfig(t *testing.T) {
	keys := keysForTest(t)
	raw, err := keys.set.Sign(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*Verifier{
		"no keys":        {Issuer: testIssuer, Audience: testAudience},
		"no issuer":      {Keys: keys.set, Audience: testAudience},
		"no audience":    {Keys: keys.set, Issuer: testIssuer},
		"leeway too big": {Keys: keys.set, Issuer: testIssuer, Audience: testAudience, Leeway: 2 * time.Minute},
		"negative":       {Keys: keys.set, Issuer: testIssuer, Audience: testAudience, Leeway: -time.Second},
	} {
		if _, err := v.Verify(testNow, raw); !errors.Is(err, ErrVerifierConfig) {
			t.Errorf("%s: err = %v, want ErrVerifierConfig", name, err)
		}
	}
	// Zero Type means at+jwt, not "any type".
	v := &Verifier{Keys: keys.set, Issuer: testIssuer, Audience: testAudience}
	if _, err := v.Verify(testNow, raw); err != nil {
		t.Errorf("zero Type: %v", err)
	}
	jwt := signWith(t, keys.ed, map[string]any{"alg": EdDSA, "typ": "JWT", "kid": keys.ed.ID}, claimsJSON())
	if _, err := v.Verify(testNow, jwt); !errors.Is(err, ErrType) {
		t.Errorf("zero Type, typ JWT: err = %v, want ErrType", err)
	}
}

// forged builds the token for one forgery case.
type forged struct {
	name   string
	raw    func(t *testing.T, k *testKeys) string
	now    time.Time     // zero: testNow
	leeway time.Duration // verifier leeway
	maxLen int
	want   error // nil: accepted
}

func TestForgedTokensRejected(t *testing.T) {
	keys := keysForTest(t)
	valid := func(t *testing.T, k *testKeys) string { return signWith(t, k.ed, stdHeader(k.ed), claimsJSON()) }
	withClaims := func(edit func(map[string]any)) func(*testing.T, *testKeys) string {
		return func(t *testing.T, k *testKeys) string {
			c := claimsJSON()
			edit(c)
			return signWith(t, k.ed, stdHeader(k.ed), c)
		}
	}
	withHeader := func(edit func(h map[string]any, k *testKeys)) func(*testing.T, *testKeys) string {
		return func(t *testing.T, k *testKeys) string {
			h := stdHeader(k.ed)
			edit(h, k)
			return signWith(t, k.ed, h, claimsJSON())
		}
	}
	// swapHeader replaces the header of a validly signed token.
	swapHeader := func(hdr func(k *testKeys) string, keepSig bool) func(*testing.T, *testKeys) string {
		return func(t *testing.T, k *testKeys) string {
			parts := strings.Split(valid(t, k), ".")
			parts[0] = enc([]byte(hdr(k)))
			if !keepSig {
				parts[2] = ""
			}
			return strings.Join(parts, ".")
		}
	}
	hs256 := func(secret func(k *testKeys) []byte) func(*testing.T, *testKeys) string {
		return func(t *testing.T, k *testKeys) string {
			input := enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+k.ed.ID+`"}`)) + "." + enc([]byte(mustJSON(t, claimsJSON())))
			mac := hmac.New(sha256.New, secret(k))
			mac.Write([]byte(input))
			return input + "." + enc(mac.Sum(nil))
		}
	}
	cases := []forged{
		{name: "valid EdDSA", raw: valid},
		{name: "valid ES256", raw: func(t *testing.T, k *testKeys) string { return signWith(t, k.ec, stdHeader(k.ec), claimsJSON()) }},
		{name: "valid RS256", raw: func(t *testing.T, k *testKeys) string { return signWith(t, k.rs, stdHeader(k.rs), claimsJSON()) }},
		{name: "typ application/AT+JWT", raw: withHeader(func(h map[string]any, _ *testKeys) { h["typ"] = "application/AT+JWT" })},
		{name: "aud array", raw: withClaims(func(c map[string]any) { c["aud"] = []string{"other", testAudience} })},
		{name: "fractional dates", raw: withClaims(func(c map[string]any) { c["exp"] = float64(testNow.Unix()) + 0.5 }), now: testNow.Add(400 * time.Millisecond)},

		// alg none, every casing, with and without a signature.
		{name: "alg none with sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"none","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, true), want: ErrAlgorithm},
		{name: "alg None with sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"None","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, true), want: ErrAlgorithm},
		{name: "alg NONE with sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"NONE","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, true), want: ErrAlgorithm},
		{name: "alg nOnE with sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"nOnE","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, true), want: ErrAlgorithm},
		{name: "alg none no sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"none","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, false), want: ErrMalformed},
		{name: "alg None no sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"None","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, false), want: ErrMalformed},
		{name: "alg NONE no sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"NONE","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, false), want: ErrMalformed},
		{name: "alg nOnE no sig", raw: swapHeader(func(k *testKeys) string { return `{"alg":"nOnE","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, false), want: ErrMalformed},
		{name: "alg none no kid", raw: swapHeader(func(*testKeys) string { return `{"alg":"none"}` }, false), want: ErrMalformed},
		{name: "stripped signature", raw: func(t *testing.T, k *testKeys) string {
			v := valid(t, k)
			return v[:strings.LastIndexByte(v, '.')+1]
		}, want: ErrMalformed},
		{name: "no signature segment", raw: func(t *testing.T, k *testKeys) string {
			v := valid(t, k)
			return v[:strings.LastIndexByte(v, '.')]
		}, want: ErrMalformed},
		{name: "alg ES256 on the Ed25519 key", raw: swapHeader(func(k *testKeys) string { return `{"alg":"ES256","typ":"at+jwt","kid":"` + k.ed.ID + `"}` }, true), want: ErrAlgorithm},

		// HS256 keyed with the public key in every form it is published in.
		{name: "HS256 raw public key", raw: hs256(func(k *testKeys) []byte { return k.ed.Public.(ed25519.PublicKey) }), want: ErrAlgorithm},
		{name: "HS256 PEM SPKI", raw: hs256(func(k *testKeys) []byte {
			der, _ := x509.MarshalPKIXPublicKey(k.ed.Public)
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		}), want: ErrAlgorithm},
		{name: "HS256 JWK JSON", raw: hs256(func(k *testKeys) []byte {
			b, _ := jose.JSONWebKey{Key: k.ed.Public, KeyID: k.ed.ID, Algorithm: EdDSA, Use: "sig"}.MarshalJSON()
			return b
		}), want: ErrAlgorithm},
		{name: "HS256 on the ES256 key", raw: func(t *testing.T, k *testKeys) string {
			input := enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+k.ec.ID+`"}`)) + "." + enc([]byte(mustJSON(t, claimsJSON())))
			der, _ := x509.MarshalPKIXPublicKey(k.ec.Public)
			mac := hmac.New(sha256.New, der)
			mac.Write([]byte(input))
			return input + "." + enc(mac.Sum(nil))
		}, want: ErrAlgorithm},

		{name: "tampered payload", raw: func(t *testing.T, k *testKeys) string {
			parts := strings.Split(valid(t, k), ".")
			c := claimsJSON()
			c["sub"] = "admin"
			parts[1] = enc([]byte(mustJSON(t, c)))
			return strings.Join(parts, ".")
		}, want: ErrSignature},
		{name: "signature of another token", raw: func(t *testing.T, k *testKeys) string {
			a := strings.Split(valid(t, k), ".")
			c := claimsJSON()
			c["jti"] = "other"
			b := strings.Split(signWith(t, k.ed, stdHeader(k.ed), c), ".")
			return a[0] + "." + a[1] + "." + b[2]
		}, want: ErrSignature},

		// Claims.
		{name: "expired", raw: valid, now: testNow.Add(10 * time.Minute), want: ErrExpired},
		{name: "at exp exactly", raw: valid, now: testNow.Add(5 * time.Minute), want: ErrExpired},
		{name: "expired within leeway", raw: valid, now: testNow.Add(5*time.Minute + 20*time.Second), leeway: 30 * time.Second},
		{name: "expired beyond leeway", raw: valid, now: testNow.Add(5*time.Minute + 30*time.Second), leeway: 30 * time.Second, want: ErrExpired},
		{name: "future nbf", raw: withClaims(func(c map[string]any) { c["nbf"] = testNow.Add(time.Minute).Unix() }), want: ErrNotYetValid},
		{name: "nbf within leeway", raw: withClaims(func(c map[string]any) { c["nbf"] = testNow.Add(30 * time.Second).Unix() }), leeway: time.Minute},
		{name: "future iat", raw: withClaims(func(c map[string]any) { c["iat"] = testNow.Add(2 * time.Minute).Unix() }), leeway: time.Minute, want: ErrIssuedInFuture},
		{name: "iat within leeway", raw: withClaims(func(c map[string]any) { c["iat"] = testNow.Add(30 * time.Second).Unix() }), leeway: time.Minute},
		{name: "wrong iss", raw: withClaims(func(c map[string]any) { c["iss"] = "https://evil.example" }), want: ErrIssuer},
		{name: "iss differs in case", raw: withClaims(func(c map[string]any) { c["iss"] = strings.ToUpper(testIssuer) }), want: ErrIssuer},
		{name: "wrong aud", raw: withClaims(func(c map[string]any) { c["aud"] = "other" }), want: ErrAudience},
		{name: "aud array without us", raw: withClaims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), want: ErrAudience},
		{name: "empty aud array", raw: withClaims(func(c map[string]any) { c["aud"] = []string{} }), want: ErrAudience},
		{name: "aud number", raw: withClaims(func(c map[string]any) { c["aud"] = 5 }), want: ErrMalformed},
		{name: "no iss", raw: withClaims(func(c map[string]any) { delete(c, "iss") }), want: ErrMissingClaim},
		{name: "no aud", raw: withClaims(func(c map[string]any) { delete(c, "aud") }), want: ErrMissingClaim},
		{name: "no exp", raw: withClaims(func(c map[string]any) { delete(c, "exp") }), want: ErrMissingClaim},
		{name: "no iat", raw: withClaims(func(c map[string]any) { delete(c, "iat") }), want: ErrMissingClaim},
		{name: "no sub", raw: withClaims(func(c map[string]any) { delete(c, "sub") }), want: ErrMissingClaim},
		{name: "no jti", raw: withClaims(func(c map[string]any) { delete(c, "jti") }), want: ErrMissingClaim},
		{name: "exp as string", raw: withClaims(func(c map[string]any) { c["exp"] = "9999999999" }), want: ErrMalformed},
		{name: "exp negative", raw: withClaims(func(c map[string]any) { c["exp"] = -1 }), want: ErrMalformed},
		{name: "exp huge", raw: withClaims(func(c map[string]any) { c["exp"] = 1e300 }), want: ErrMalformed},
		{name: "sub not a string", raw: withClaims(func(c map[string]any) { c["sub"] = 1 }), want: ErrMalformed},
		{name: "duplicate iss", raw: func(t *testing.T, k *testKeys) string {
			c := mustJSON(t, claimsJSON())
			return signWith(t, k.ed, stdHeader(k.ed), `{"iss":"https://evil.example",`+c[1:])
		}, want: ErrMalformed},
		{name: "ISS in upper case is not iss", raw: func(t *testing.T, k *testKeys) string {
			c := claimsJSON()
			delete(c, "iss")
			c["ISS"] = testIssuer
			return signWith(t, k.ed, stdHeader(k.ed), c)
		}, want: ErrMissingClaim},
		{name: "payload not an object", raw: func(t *testing.T, k *testKeys) string { return signWith(t, k.ed, stdHeader(k.ed), `[1]`) }, want: ErrMalformed},
		{name: "payload with trailing data", raw: func(t *testing.T, k *testKeys) string {
			return signWith(t, k.ed, stdHeader(k.ed), mustJSON(t, claimsJSON())+"{}")
		}, want: ErrMalformed},
		{name: "payload invalid UTF-8", raw: func(t *testing.T, k *testKeys) string {
			c := mustJSON(t, claimsJSON())
			return signWith(t, k.ed, stdHeader(k.ed), `{"x":"`+"\xff"+`",`+c[1:])
		}, want: ErrMalformed},

		// Keys and headers.
		{name: "unknown kid", raw: withHeader(func(h map[string]any, _ *testKeys) { h["kid"] = "nope" }), want: ErrUnknownKey},
		{name: "kid path traversal", raw: withHeader(func(h map[string]any, _ *testKeys) { h["kid"] = "../../dev/null" }), want: ErrUnknownKey},
		{name: "kid too long", raw: withHeader(func(h map[string]any, _ *testKeys) { h["kid"] = strings.Repeat("a", 200) }), want: ErrUnknownKey},
		{name: "no kid", raw: withHeader(func(h map[string]any, _ *testKeys) { delete(h, "kid") }), want: ErrMalformed},
		{name: "kid not a string", raw: withHeader(func(h map[string]any, _ *testKeys) { h["kid"] = 1 }), want: ErrMalformed},
		{name: "embedded jwk of the attacker", raw: func(t *testing.T, k *testKeys) string {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			evil, _ := newKey(priv, EdDSA, testNow, testNow)
			h := stdHeader(evil)
			h["jwk"] = jose.JSONWebKey{Key: evil.Public}
			return signWith(t, evil, h, claimsJSON())
		}, want: ErrMalformed},
		{name: "embedded jwk with our kid", raw: withHeader(func(h map[string]any, k *testKeys) { h["jwk"] = jose.JSONWebKey{Key: k.ed.Public} }), want: ErrMalformed},
		{name: "jku header", raw: withHeader(func(h map[string]any, _ *testKeys) { h["jku"] = "https://evil.example/jwks" }), want: ErrMalformed},
		{name: "x5u header", raw: withHeader(func(h map[string]any, _ *testKeys) { h["x5u"] = "https://evil.example/cert" }), want: ErrMalformed},
		{name: "x5c header", raw: withHeader(func(h map[string]any, _ *testKeys) { h["x5c"] = []string{"MIIB"} }), want: ErrMalformed},
		{name: "crit header", raw: withHeader(func(h map[string]any, _ *testKeys) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), want: ErrMalformed},
		{name: "duplicate alg", raw: func(t *testing.T, k *testKeys) string {
			return signWith(t, k.ed, `{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"`+k.ed.ID+`"}`, claimsJSON())
		}, want: ErrMalformed},
		{name: "escaped header names", raw: func(t *testing.T, k *testKeys) string {
			return signWith(t, k.ed, `{"\u0061lg":"EdDSA","typ":"at+jwt","kid":"`+k.ed.ID+`"}`, claimsJSON())
		}},
		{name: "ES256 psychic signature", raw: func(t *testing.T, k *testKeys) string {
			input := enc([]byte(mustJSON(t, stdHeader(k.ec)))) + "." + enc([]byte(mustJSON(t, claimsJSON())))
			return input + "." + enc(make([]byte, 64))
		}, want: ErrSignature},
		{name: "ES256 signature too short", raw: func(t *testing.T, k *testKeys) string {
			parts := strings.Split(signWith(t, k.ec, stdHeader(k.ec), claimsJSON()), ".")
			parts[2] = parts[2][:40]
			return strings.Join(parts, ".")
		}, want: ErrSignature},
		{name: "ES256 DER signature", raw: func(t *testing.T, k *testKeys) string {
			input := enc([]byte(mustJSON(t, stdHeader(k.ec)))) + "." + enc([]byte(mustJSON(t, claimsJSON())))
			sum := sha256.Sum256([]byte(input))
			der, _ := k.ec.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
			return input + "." + enc(der)
		}, want: ErrSignature},
		{name: "wrong typ", raw: withHeader(func(h map[string]any, _ *testKeys) { h["typ"] = "JWT" }), want: ErrType},
		{name: "typ dpop+jwt", raw: withHeader(func(h map[string]any, _ *testKeys) { h["typ"] = "dpop+jwt" }), want: ErrType},
		{name: "no typ", raw: withHeader(func(h map[string]any, _ *testKeys) { delete(h, "typ") }), want: ErrType},

		// Encoding.
		{name: "oversize", raw: valid, maxLen: 100, want: ErrMalformed},
		{name: "oversize default", raw: withClaims(func(c map[string]any) { c["pad"] = strings.Repeat("x", DefaultMaxLen) }), want: ErrMalformed},
		{name: "padding", raw: func(t *testing.T, k *testKeys) string { return valid(t, k) + "==" }, want: ErrMalformed},
		{name: "padded header", raw: func(t *testing.T, k *testKeys) string {
			parts := strings.Split(valid(t, k), ".")
			for len(parts[0])%4 != 0 {
				parts[0] += "="
			}
			return strings.Join(parts, ".")
		}, want: ErrMalformed},
		{name: "std alphabet", raw: func(t *testing.T, k *testKeys) string {
			for i := 0; ; i++ {
				c := claimsJSON()
				c["jti"] = strings.Repeat("?", i) // "?" encodes with '/' or '_' in places
				v := signWith(t, k.ed, stdHeader(k.ed), c)
				if s := strings.NewReplacer("-", "+", "_", "/").Replace(v); s != v {
					return s
				}
			}
		}, want: ErrMalformed},
		{name: "line break", raw: func(t *testing.T, k *testKeys) string {
			v := valid(t, k)
			return v[:20] + "\n" + v[20:]
		}, want: ErrMalformed},
		{name: "non-canonical final bits", raw: func(t *testing.T, k *testKeys) string {
			v := valid(t, k)
			last := strings.IndexByte(alphabet, v[len(v)-1])
			return v[:len(v)-1] + string(alphabet[last^1]) // a 64-byte signature leaves 4 unused bits
		}, want: ErrMalformed},
		{name: "four segments", raw: func(t *testing.T, k *testKeys) string { return valid(t, k) + ".AAAA" }, want: ErrMalformed},
		{name: "empty", raw: func(*testing.T, *testKeys) string { return "" }, want: ErrMalformed},
		{name: "dots only", raw: func(*testing.T, *testKeys) string { return ".." }, want: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw(t, keys)
			v := testVerifier(keys.set)
			v.Leeway, v.MaxLen = tc.leeway, tc.maxLen
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			c, err := v.Verify(now, raw)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == nil && c == nil:
				t.Fatal("no claims")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			case tc.want != nil && c != nil:
				t.Fatal("claims returned with an error")
			}
		})
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestConfirmationClaim(t *testing.T) {
	keys := keysForTest(t)
	jkt := keys.ed.ID // any RFC 7638 thumbprint has the shape of a jkt
	c := validClaims()
	c.JKT = jkt
	raw, err := keys.set.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := testVerifier(keys.set).Verify(testNow, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.JKT != jkt {
		t.Errorf("JKT = %q, want %q", got.JKT, jkt)
	}
	unbound, err := keys.set.Sign(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mustDecodePayload(t, unbound), "cnf") {
		t.Error("unbound token carries cnf")
	}

	for _, bad := range []string{"short", jkt + "A", jkt[:42] + "=", strings.Repeat("+", 43), strings.Repeat("A", 42) + "B"} {
		c := validClaims()
		c.JKT = bad
		if _, err := keys.set.Sign(c); !errors.Is(err, ErrClaims) {
			t.Errorf("Sign(jkt %q): err = %v, want ErrClaims", bad, err)
		}
	}

	for _, tc := range []struct {
		name string
		cnf  any
		want string // "" means refused
	}{
		{"jkt", map[string]any{"jkt": "abc"}, "abc"},
		{"jkt beside another method", map[string]any{"jkt": "abc", "x5t#S256": "x"}, "abc"},
		{"no jkt", map[string]any{"x5t#S256": "x"}, ""},
		{"empty object", map[string]any{}, ""},
		{"empty jkt", map[string]any{"jkt": ""}, ""},
		{"jkt not a string", map[string]any{"jkt": 5}, ""},
		{"null jkt", map[string]any{"jkt": nil}, ""},
		{"cnf null", nil, ""},
		{"cnf string", "abc", ""},
		{"cnf array", []any{"abc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := claimsJSON()
			p["cnf"] = tc.cnf
			got, err := testVerifier(keys.set).Verify(testNow, signWith(t, keys.ed, stdHeader(keys.ed), p))
			switch {
			case tc.want == "" && !errors.Is(err, ErrMalformed):
				t.Errorf("err = %v, want ErrMalformed", err)
			case tc.want != "" && (err != nil || got.JKT != tc.want):
				t.Errorf("got %+v, %v; want jkt %q", got, err, tc.want)
			}
		})
	}
}

func mustDecodePayload(t *testing.T, raw string) string {
	t.Helper()
	seg, err := splitCompact(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := b64.DecodeString(seg.payload)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
