package dpop

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodePart decodes one segment of a compact JWS into a map.
func decodePart(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewProofContents(t *testing.T) {
	key := newKey(t, ES256)
	zero := bytes.NewReader(make([]byte, jtiBytes))
	p, err := NewProof(key, ES256, "POST", "https://AS.example.com:443/token?x=1#f", testNow, "tok", "n0nce", zero)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(p, ".")
	if len(parts) != 3 {
		t.Fatalf("%d segments", len(parts))
	}
	h, c := decodePart(t, parts[0]), decodePart(t, parts[1])
	if h["typ"] != ProofType || h["alg"] != ES256 {
		t.Errorf("header = %v", h)
	}
	jwk, _ := h["jwk"].(map[string]any)
	if jwk["kty"] != "EC" || jwk["d"] != nil || jwk["x"] == nil {
		t.Errorf("jwk = %v, want the public EC key only", jwk)
	}
	want := map[string]any{
		"jti": "AAAAAAAAAAAAAAAAAAAAAA", "htm": "POST", "htu": "https://as.example.com/token",
		"iat": float64(testNow.Unix()), "ath": AccessTokenHash("tok"), "nonce": "n0nce",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if len(c) != len(want) {
		t.Errorf("claims = %v, want exactly %v", c, want)
	}

	// Without token and nonce, ath and nonce are absent.
	p, err = NewProof(key, ES256, "POST", testHTU, testNow, "", "", bytes.NewReader(make([]byte, jtiBytes)))
	if err != nil {
		t.Fatal(err)
	}
	c = decodePart(t, strings.Split(p, ".")[1])
	if _, ok := c["ath"]; ok {
		t.Error("ath without a token")
	}
	if _, ok := c["nonce"]; ok {
		t.Error("nonce without one given")
	}
}

// opaque hides the concrete key type, as an HSM or agent signer would.
type opaque struct{ crypto.Signer }

func TestNewProofOpaqueSigner(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		key := newKey(t, alg)
		p, err := NewProof(opaque{key}, alg, testHTM, testHTU, testNow, testToken, "", randReader(t))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, err := newChecker(t, Config{}).Check(ctx, testNow, p, testHTM, testHTU, testToken, ""); err != nil {
			t.Fatalf("%s: Check: %v", alg, err)
		}
	}
}

func randReader(t *testing.T) io.Reader {
	return bytes.NewReader(randBytes(t, 64))
}

func TestNewProofRefuses(t *testing.T) {
	ed := newKey(t, EdDSA)
	tests := []struct {
		name     string
		key      crypto.Signer
		alg, htu string
		rand     io.Reader
	}{
		{"alg does not suit key", ed, ES256, testHTU, randReader(t)},
		{"symmetric alg", ed, "HS256", testHTU, randReader(t)},
		{"relative htu", ed, EdDSA, "/token", randReader(t)},
		{"no randomness", ed, EdDSA, testHTU, bytes.NewReader(nil)},
	}
	for _, tt := range tests {
		if p, err := NewProof(tt.key, tt.alg, "POST", tt.htu, testNow, "", "", tt.rand); err == nil {
			t.Errorf("%s: NewProof = %q, want an error", tt.name, p)
		}
	}
	if _, err := NewProof(ed, ES256, "POST", testHTU, testNow, "", "", randReader(t)); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("err = %v, want ErrAlgorithm", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"https://api.example.com/things", "https://api.example.com/things"},
		{"HTTPS://API.EXAMPLE.COM/Things", "https://api.example.com/Things"}, // path stays case-sensitive
		{"https://api.example.com:443/x", "https://api.example.com/x"},
		{"http://api.example.com:80/x", "http://api.example.com/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"http://api.example.com:443/x", "http://api.example.com:443/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com/x?q=1#frag", "https://api.example.com/x"},
		{"https://api.example.com/x?", "https://api.example.com/x"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/..", "https://api.example.com/"},
		{"https://api.example.com/%7euser/%2fx%3a", "https://api.example.com/~user/%2Fx%3A"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[::1]:8443/x", "https://[::1]:8443/x"},
		{"https://127.0.0.1:8443/x", "https://127.0.0.1:8443/x"},
		{"ftp://api.example.com/x", ""},
		{"/x", ""},
		{"api.example.com/x", ""},
		{"https:///x", ""},
		{"https://user@api.example.com/x", ""},
		{"mailto:a@example.com", ""},
		{"https://api.example.com/%zz", ""},
		{"https://" + strings.Repeat("a", maxURLLen) + ".com/", ""},
	}
	for _, tt := range tests {
		got, err := normalizeURL(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("normalizeURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
