package verify

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/credshield/credshield/token"
)

// discard is a ResponseWriter that drops everything, so the benchmark
// measures the middleware and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkVerify compares, in one run, the bare Ed25519 signature check of
// an access token with Verifier.Verify and the full middleware on the same
// token (go test -bench Verify -run ^$ ./verify/).
func BenchmarkVerify(b *testing.B) {
	is := newIssuer(b)
	ks := newKeySet(b, token.EdDSA)
	is.publish(ks)
	clk := &clock{t: t0}
	v := newVerifier(b, is, clk, nil)
	tok := sign(b, ks, testClaims(t0))
	r, err := http.NewRequest("GET", testResource+"/things", nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)

	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := ks.Active().Public.(ed25519.PublicKey)
	input := []byte(tok[:dot])

	b.Run("ed25519.Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, input, sig) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("Verifier.Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Middleware", func(b *testing.B) {
		h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
}
