package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Run with: go test ./token -run xxx -bench . -count 5 -benchtime 2000x
// The design target is BenchmarkVerify/EdDSA < 1.15 × BenchmarkEd25519Verify.

// benchToken returns a token as Sign writes it, its signing input and its
// raw signature.
func benchToken(b *testing.B, k *Key) (raw string, input, sig []byte) {
	b.Helper()
	keys := keysForTest(b)
	ks := newKeySet([]*Key{keys.ed, keys.ec, keys.rs}, k.Alg)
	raw, err := ks.Sign(validClaims())
	if err != nil {
		b.Fatal(err)
	}
	dot := strings.LastIndexByte(raw, '.')
	sig, err = base64.RawURLEncoding.DecodeString(raw[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	return raw, []byte(raw[:dot]), sig
}

func BenchmarkVerify(b *testing.B) {
	keys := keysForTest(b)
	// A DPoP-bound token: the same check plus the cnf object.
	b.Run("EdDSA-cnf", func(b *testing.B) {
		c := validClaims()
		c.JKT = keys.ec.ID
		raw, err := newKeySet([]*Key{keys.ed}, EdDSA).Sign(c)
		if err != nil {
			b.Fatal(err)
		}
		v := testVerifier(keys.set)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(testNow, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, k := range []*Key{keys.ed, keys.ec} {
		b.Run(k.Alg, func(b *testing.B) {
			raw, _, _ := benchToken(b, k)
			v := testVerifier(keys.set)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(testNow, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEd25519Verify is the floor: the signature check alone.
func BenchmarkEd25519Verify(b *testing.B) {
	keys := keysForTest(b)
	_, input, sig := benchToken(b, keys.ed)
	pub := keys.ed.Public.(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkECDSAVerify is the ES256 floor: SHA-256 and ecdsa.Verify.
func BenchmarkECDSAVerify(b *testing.B) {
	keys := keysForTest(b)
	_, input, sig := benchToken(b, keys.ec)
	pub := keys.ec.Public.(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if !ecdsa.Verify(pub, sum[:], r, s) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkGoJoseVerify is the alternative: go-jose parse, verify, and
// encoding/json for the claims (their checks cost little next to these).
func BenchmarkGoJoseVerify(b *testing.B) {
	keys := keysForTest(b)
	for _, k := range []*Key{keys.ed, keys.ec} {
		b.Run(k.Alg, func(b *testing.B) {
			raw, _, _ := benchToken(b, k)
			algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.Alg)}
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(raw, algs)
				if err != nil {
					b.Fatal(err)
				}
				payload, err := jws.Verify(k.Public)
				if err != nil {
					b.Fatal(err)
				}
				var c wireClaims
				if err := json.Unmarshal(payload, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The verifier's own work (everything but the signature check) stays small
// in allocations; this fails if a change makes it allocate per byte.
func TestVerifyAllocations(t *testing.T) {
	keys := keysForTest(t)
	raw, err := keys.set.Sign(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	v := testVerifier(keys.set)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := v.Verify(testNow, raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 8 {
		t.Errorf("Verify allocates %.0f times per call, want at most 8", allocs)
	}
	t.Logf("%.0f allocations per Verify", allocs)
}
