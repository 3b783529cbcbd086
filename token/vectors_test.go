package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// The RFC examples carry no kid, no typ and 2011 claims, so they go through
// the signature check on its own: segment split, canonical base64url, the
// header's alg, and the standard-library verification.
func TestRFCSignatureVectors(t *testing.T) {
	for _, file := range []string{"rfc7515-a2-rs256.json", "rfc7515-a3-es256.json", "rfc8037-a4-ed25519.json"} {
		t.Run(file, func(t *testing.T) {
			v, jwk := loadVector(t, file)
			pub := jwk.Public().Key
			if err := CheckPublicKey(pub, v.Alg); err != nil {
				t.Fatalf("%s key: %v", v.Source, err)
			}
			seg, err := splitCompact(v.JWS)
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := decodeSegment(make([]byte, decodedLen(seg.header)), seg.header)
			if err != nil {
				t.Fatal(err)
			}
			var alg string
			if err := scanObject(string(hdr), func(name, raw string) error {
				if name == "alg" {
					alg, _ = stringValue(raw)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if alg != v.Alg {
				t.Fatalf("header alg = %q, want %q", alg, v.Alg)
			}
			input := v.JWS[:seg.signed]
			if err := verifySignature(alg, pub, input, seg.sig); err != nil {
				t.Fatalf("RFC signature does not verify: %v", err)
			}
			// The check must be able to fail: another input, another alg.
			if err := verifySignature(alg, pub, input+"x", seg.sig); !errors.Is(err, ErrSignature) {
				t.Errorf("changed input: err = %v, want ErrSignature", err)
			}
			for _, other := range []string{EdDSA, ES256, RS256, "HS256", "none"} {
				if other != alg && verifySignature(other, pub, input, seg.sig) == nil {
					t.Errorf("verified as %s", other)
				}
			}
		})
	}
}

// Ed25519 is deterministic, so signing RFC 8037 A.4's input with A.1's key
// must give A.4's signature, and the key's kid must be A.3's thumbprint.
func TestRFC8037SignAndThumbprint(t *testing.T) {
	v, jwk := loadVector(t, "rfc8037-a4-ed25519.json")
	priv, ok := jwk.Key.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("jwk key is %T", jwk.Key)
	}
	k, err := newKey(priv, EdDSA, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != v.Thumbprint {
		t.Errorf("kid = %s, want %s", k.ID, v.Thumbprint)
	}
	seg, err := splitCompact(v.JWS)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signInput(k, []byte(v.JWS[:seg.signed]))
	if err != nil {
		t.Fatal(err)
	}
	if got := enc(sig); got != seg.sig {
		t.Errorf("signature = %s, want %s", got, seg.sig)
	}
	payload, err := decodeSegment(make([]byte, decodedLen(seg.payload)), seg.payload)
	if err != nil || string(payload) != v.Payload {
		t.Errorf("payload = %q, %v; want %q", payload, err, v.Payload)
	}
}

func TestThumbprintVectors(t *testing.T) {
	for _, file := range []string{"rfc7638-3.1-thumbprint.json", "rfc8037-a4-ed25519.json"} {
		t.Run(file, func(t *testing.T) {
			v, jwk := loadVector(t, file)
			got, err := Thumbprint(jwk.Public().Key)
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Thumbprint {
				t.Errorf("thumbprint = %s, want %s (%s)", got, v.Thumbprint, v.Source)
			}
		})
	}
}

// RFC 7519 §3.1's HS256 token parses (header and claims decode as the RFC
// shows) but is refused: no kid, and HS256 is never an algorithm of ours.
func TestRFC7519HS256Refused(t *testing.T) {
	v, jwk := loadVector(t, "rfc7519-3.1-hs256.json")
	seg, err := splitCompact(v.JWS)
	if err != nil {
		t.Fatal(err)
	}
	// Transcription check: the RFC's key really made this MAC.
	mac := hmac.New(sha256.New, jwk.Key.([]byte))
	mac.Write([]byte(v.JWS[:seg.signed]))
	if enc(mac.Sum(nil)) != seg.sig {
		t.Fatal("HMAC over the vector does not match its signature: vector mistyped")
	}
	buf := make([]byte, decodedLen(seg.header)+decodedLen(seg.payload))
	hdr, err := decodeSegment(buf, seg.header)
	if err != nil || string(hdr) != v.Header {
		t.Fatalf("header = %q, %v; want %q", hdr, err, v.Header)
	}
	got := map[string]string{}
	if err := scanObject(string(hdr), func(name, raw string) error {
		got[name], _ = stringValue(raw)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got["typ"] != "JWT" || got["alg"] != "HS256" {
		t.Errorf("header members = %v", got)
	}
	payload, err := decodeSegment(buf[len(hdr):], seg.payload)
	if err != nil || string(payload) != v.Payload {
		t.Fatalf("payload = %q, %v", payload, err)
	}
	cs, err := parseClaims(string(payload))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Issuer != "joe" || !cs.ExpiresAt.Equal(time.Unix(1300819380, 0)) {
		t.Errorf("claims = %+v", cs.Claims)
	}

	keys := keysForTest(t)
	anyKid := lookupFunc(func(string) (crypto.PublicKey, string, bool) { return keys.ed.Public, EdDSA, true })
	for name, lookup := range map[string]KeyLookup{"key set": keys.set, "any kid": anyKid} {
		v2 := testVerifier(lookup)
		if _, err := v2.Verify(time.Unix(1300819000, 0), v.JWS); err == nil {
			t.Errorf("%s: RFC 7519 HS256 token accepted", name)
		}
	}
}

// lookupFunc adapts a function to KeyLookup.
type lookupFunc func(kid string) (crypto.PublicKey, string, bool)

func (f lookupFunc) PublicKey(kid string) (crypto.PublicKey, string, bool) { return f(kid) }
