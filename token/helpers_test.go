package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Fixed values every verifier test uses.
var (
	testNow      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testIssuer   = "https://id.example.test"
	testAudience = "api"
)

// testKeys holds one key of each algorithm. The Ed25519 key comes from a
// fixed seed; the others are generated once per test binary (RSA 3072 takes a
// second or so).
type testKeys struct {
	ed, ec, rs *Key
	set        *KeySet // all three, EdDSA active
}

var loadTestKeys = sync.OnceValues(func() (*testKeys, error) {
	seed := sha256.Sum256([]byte("credshield token test key"))
	ed, err := newKey(ed25519.NewKeyFromSeed(seed[:]), EdDSA, testNow.Add(-time.Hour), testNow.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	ec, err := GenerateKey(rand.Reader, ES256, testNow.Add(-2*time.Hour))
	if err != nil {
		return nil, err
	}
	rs, err := GenerateKey(rand.Reader, RS256, testNow.Add(-3*time.Hour))
	if err != nil {
		return nil, err
	}
	return &testKeys{ed: ed, ec: ec, rs: rs, set: newKeySet([]*Key{ed, ec, rs}, EdDSA)}, nil
})

func keysForTest(t testing.TB) *testKeys {
	t.Helper()
	k, err := loadTestKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testVerifier returns the verifier the tests use over keys.
func testVerifier(keys KeyLookup) *Verifier {
	return &Verifier{Keys: keys, Issuer: testIssuer, Audience: testAudience, Type: TypeAccessToken}
}

// validClaims returns claims Verify accepts at testNow.
func validClaims() Claims {
	return Claims{
		Issuer: testIssuer, Subject: "user-1", Audience: []string{testAudience},
		ExpiresAt: testNow.Add(5 * time.Minute), IssuedAt: testNow.Add(-time.Minute),
		ID: "jti-1", ClientID: "cli", Scope: "read write", Username: "alice", AccountEpoch: 7,
	}
}

// claimsJSON is the payload of validClaims, as a map for tests to edit.
func claimsJSON() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": testNow.Add(5 * time.Minute).Unix(), "iat": testNow.Add(-time.Minute).Unix(), "jti": "jti-1",
	}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signWith builds a compact JWS with the given header and payload (JSON
// strings or values to marshal), signed by k with k.Alg whatever the header
// says.
func signWith(t testing.TB, k *Key, hdr, payload any) string {
	t.Helper()
	input := enc([]byte(mustJSON(t, hdr))) + "." + enc([]byte(mustJSON(t, payload)))
	sig, err := signInput(k, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc(sig)
}

// stdHeader is the header Sign writes for k.
func stdHeader(k *Key) map[string]any {
	return map[string]any{"alg": k.Alg, "typ": TypeAccessToken, "kid": k.ID}
}

// vector is one file of testdata.
type vector struct {
	Source     string          `json:"source"`
	Alg        string          `json:"alg"`
	JWK        json.RawMessage `json:"jwk"`
	Thumbprint string          `json:"thumbprint"`
	Header     string          `json:"header"`
	Payload    string          `json:"payload"`
	JWS        string          `json:"jws"`
}

func loadVector(t *testing.T, name string) (vector, jose.JSONWebKey) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(v.JWK); err != nil {
		t.Fatalf("%s: jwk: %v", name, err)
	}
	return v, jwk
}
