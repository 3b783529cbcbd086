package scan

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"strings"
)

var b64 = base64.RawURLEncoding

// jwt is a decoded compact JWS. The scanner builds its malformed and
// forged tokens from one of these by hand, with the standard library: a
// JOSE library would refuse to produce most of them.
type jwt struct {
	raw    string
	header map[string]any
	claims map[string]any
	input  string // header.payload as received
	sig    []byte
}

var errNotJWT = errors.New("not a compact JWS")

func parseJWT(raw string) (*jwt, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errNotJWT
	}
	t := &jwt{raw: raw, input: parts[0] + "." + parts[1]}
	for i, dst := range []*map[string]any{&t.header, &t.claims} {
		b, err := b64.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			return nil, fmt.Errorf("%w: segment %d: %v", errNotJWT, i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil || *dst == nil {
			return nil, fmt.Errorf("%w: segment %d is not a JSON object", errNotJWT, i)
		}
	}
	sig, err := b64.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", errNotJWT, err)
	}
	t.sig = sig
	return t, nil
}

func (t *jwt) alg() string { s, _ := t.header["alg"].(string); return s }
func (t *jwt) kid() string { s, _ := t.header["kid"].(string); return s }

// segment encodes v as a base64url JSON segment. encoding/json sorts map
// keys, so equal maps give equal segments.
func segment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("scan: marshal token segment: " + err.Error()) // maps of JSON values always marshal
	}
	return b64.EncodeToString(b)
}

// signingInput is the JWS signing input for a header and claims.
func signingInput(h, c map[string]any) string { return segment(h) + "." + segment(c) }

// withHeader returns a copy of h with the given members set (a nil value
// deletes the member).
func withHeader(h map[string]any, kv ...any) map[string]any {
	out := maps.Clone(h)
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

// hmacToken signs h.c with HMAC under alg (HS256, HS384, HS512).
func hmacToken(h, c map[string]any, key []byte) string {
	input := signingInput(h, c)
	var fn func() hash.Hash
	switch h["alg"] {
	case "HS384":
		fn = sha512.New384
	case "HS512":
		fn = sha512.New
	default:
		fn = sha256.New
	}
	mac := hmac.New(fn, key)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// number reads a numeric claim.
func number(m map[string]any, k string) (float64, bool) {
	switch v := m[k].(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// claimsJSON renders claims for evidence.
func claimsJSON(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
