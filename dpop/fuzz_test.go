package dpop

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzCheck feeds arbitrary strings to every input of Check: it must never
// panic, every refusal must be an *Error or a documented plain error, and
// anything accepted must carry a thumbprint.
func FuzzCheck(f *testing.F) {
	_, key := mustEd25519(f)
	valid := handProof(f, key, testNow, nil, nil)
	f.Add(valid, testHTM, testHTU, testToken, "")
	f.Add(valid, testHTM, testHTU+"?q#f", testToken, "x")
	f.Add(mustProof(f, newKey(f, ES256), ES256, "POST", testHTU, testNow, "", ""), "POST", testHTU, "", "")
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.", "GET", "https://[::1]/", "", "")
	f.Add(strings.Repeat(".", 10), "", "", "", "")
	f.Add("", "GET", "http://a/%zz", "t", "n")
	f.Fuzz(func(t *testing.T, proof, htm, htu, token, nonce string) {
		c := newChecker(t, Config{AllowedAlgs: []string{EdDSA, ES256}, IATWindow: time.Hour / 6})
		jkt, err := c.Check(ctx, testNow, proof, htm, htu, token, nonce)
		if err == nil {
			if jkt == "" {
				t.Fatal("accepted without a thumbprint")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) && !errors.Is(err, ErrConfig) {
			t.Fatalf("undocumented error %T: %v", err, err)
		}
	})
}
