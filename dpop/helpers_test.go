package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Fixed request of most tests.
const (
	testHTM   = "GET"
	testHTU   = "https://api.example.com/things"
	testToken = "an-access-token"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rsaKey is generated once: RSA generation is slow.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case RS256:
		return rsaKey()
	}
	t.Fatalf("no key for %q", alg)
	return nil
}

func newChecker(t testing.TB, cfg Config) *Checker {
	t.Helper()
	c, err := NewChecker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustProof(t testing.TB, key crypto.Signer, alg, htm, htu string, now time.Time, token, nonce string) string {
	t.Helper()
	p, err := NewProof(key, alg, htm, htu, now, token, nonce, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// handProof builds a proof with the standard library so tests can make it
// wrong in ways NewProof never would. The header starts as
// {typ, alg EdDSA, jwk of key's public half} and the claims as a valid set
// for testHTM/testHTU at iat; edit may change both before signing with key
// (Ed25519). sign, when set, replaces the signature.
func handProof(t testing.TB, key ed25519.PrivateKey, iat time.Time, edit func(h, c map[string]any), sign func(input []byte) []byte) string {
	t.Helper()
	jwk, err := jose.JSONWebKey{Key: key.Public()}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{"typ": ProofType, "alg": EdDSA, "jwk": json.RawMessage(jwk)}
	c := map[string]any{
		"jti": "jti-" + base64.RawURLEncoding.EncodeToString(randBytes(t, 9)),
		"htm": testHTM, "htu": testHTU, "iat": iat.Unix(),
		"ath": AccessTokenHash(testToken),
	}
	if edit != nil {
		edit(h, c)
	}
	enc := base64.RawURLEncoding
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	input := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	} else {
		sig = ed25519.Sign(key, []byte(input))
	}
	return input + "." + enc.EncodeToString(sig)
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

// wantRefused checks err is an *Error with code wrapping sentinel.
func wantRefused(t testing.TB, err error, code string, sentinel error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code || !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want code %s wrapping %v", err, code, sentinel)
	}
}

var ctx = context.Background()
