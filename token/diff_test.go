package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	jjson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// referenceVerify is the oracle the narrow verifier is held to. It shares
// no code and no constant with package token; its parts are:
//
//   - go-jose's jwt package parses the compact JWS and checks the signature
//     with the key that kid names and only that key's algorithm
//     (jwt.ParseSigned, JSONWebToken.Claims);
//   - go-jose's JSON decoder (exact-case names, duplicates refused) reads
//     header and claims, into go-jose's own claim types (jwt.Claims:
//     strings, NumericDate numbers, aud a string or an array of strings);
//   - go-jose's Claims.ValidateWithLeeway checks iss, aud, exp, nbf and iat
//     against jwt.Expected;
//   - written out here, from the RFCs: what go-jose has no notion of
//     (marked "not in go-jose:": the key chosen by kid, typ, the types of
//     client_id, scope and username, cnf, ae) and where the verifier is
//     intentionally stricter than go-jose (marked "stricter:": input
//     limits, headers that carry keys or extensions, required claims,
//     exact NumericDates).
//
// now must be a whole second (testNow is): go-jose drops a NumericDate's
// fraction, and only at a whole-second now is every token it refuses for
// that reason one that the exact dates refuse too.
func referenceVerify(v *Verifier, keys KeyLookup, now time.Time, raw string) bool {
	maxLen := v.MaxLen
	if maxLen <= 0 {
		maxLen = 8 << 10 // the documented default, DefaultMaxLen
	}
	// stricter: a length cap before any decoding.
	if len(raw) > maxLen {
		return false
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	decoded := make([][]byte, 3)
	for i, p := range parts {
		// stricter: each segment must be the canonical encoding of its bytes.
		// encoding/base64 (and so go-jose) skips \r and \n and ignores
		// non-zero trailing bits.
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return false
		}
		decoded[i] = b
	}
	header, payload := decoded[0], decoded[1]
	// stricter: header and claims must be UTF-8 (RFC 8259 §8.1) and nest at
	// most 16 deep.
	if !utf8.Valid(header) || !utf8.Valid(payload) || jsonDepth(header) > 16 || jsonDepth(payload) > 16 {
		return false
	}

	all := []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256}
	tok, err := jwt.ParseSigned(raw, all)
	if err != nil || len(tok.Headers) != 1 {
		return false
	}
	// not in go-jose: the key is the one kid names, and a kid longer than
	// 128 bytes is not looked up.
	kid := tok.Headers[0].KeyID
	if kid == "" || len(kid) > 128 {
		return false
	}
	pub, alg, ok := keys.PublicKey(kid)
	if !ok {
		return false
	}
	if tok, err = jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}); err != nil {
		return false
	}
	var std jwt.Claims
	var claims map[string]jjson.RawMessage
	if tok.Claims(pub, &std, &claims) != nil || claims == nil {
		return false
	}
	if std.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: now}, v.Leeway) != nil {
		return false
	}

	var hdr map[string]jjson.RawMessage
	if jjson.Unmarshal(header, &hdr) != nil || hdr == nil {
		return false
	}
	// stricter: no extension (crit, b64) and no key carried by the token
	// (jwk, jku, x5u, x5c), whatever its value.
	for _, name := range []string{"crit", "b64", "jwk", "jku", "x5u", "x5c"} {
		if _, ok := hdr[name]; ok {
			return false
		}
	}
	// not in go-jose: typ is the verifier's (RFC 9068 §4: "at+jwt" by
	// default), compared as a media type: case-insensitive, "application/"
	// optional (RFC 7515 §4.1.9).
	wantType := v.Type
	if wantType == "" {
		wantType = "at+jwt"
	}
	typ, ok := refString(hdr, "typ")
	if !ok || !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), wantType) {
		return false
	}

	// stricter: RFC 9068 §2.2 requires exp, iat, sub and jti (go-jose
	// checks the dates only when present); iss and aud are required by
	// jwt.Expected above.
	if std.Expiry == nil || std.IssuedAt == nil || std.Subject == "" || std.ID == "" {
		return false
	}
	// stricter: NumericDates keep their fraction (RFC 7519 §2), lie between
	// 1970 and 9999-12-31T23:59:59Z, and exp is exclusive ("on or after
	// which the JWT MUST NOT be accepted", RFC 7519 §4.1.4), where go-jose
	// accepts a token during its exp second.
	for _, name := range []string{"exp", "nbf", "iat"} {
		if _, present := claims[name]; !present {
			continue
		}
		f, ok := refNumber(claims, name)
		if !ok || f < 0 || f > 253402300799 {
			return false
		}
		at := refDate(f)
		switch {
		case name == "exp" && !now.Before(at.Add(v.Leeway)):
			return false
		case name != "exp" && at.After(now.Add(v.Leeway)):
			return false
		}
	}
	// not in go-jose: client_id, scope and username are strings when
	// present (RFC 9068 §2.2, RFC 8693 §4.2; username is this service's).
	for _, name := range []string{"client_id", "scope", "username"} {
		if _, present := claims[name]; !present {
			continue
		}
		if _, ok := refString(claims, name); !ok {
			return false
		}
	}
	// not in go-jose: ae, the account epoch, is a whole number within
	// uint32.
	if _, present := claims["ae"]; present {
		f, ok := refNumber(claims, "ae")
		if !ok || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
			return false
		}
	}
	// not in go-jose: cnf is an object with a non-empty string jkt (RFC
	// 9449 §6.1); fail closed on confirmation methods the verifier cannot
	// check.
	if rawCnf, present := claims["cnf"]; present {
		var cnf map[string]jjson.RawMessage
		if jjson.Unmarshal(rawCnf, &cnf) != nil || cnf == nil {
			return false
		}
		if jkt, ok := refString(cnf, "jkt"); !ok || jkt == "" {
			return false
		}
	}
	return true
}

// refString decodes m[name] as a JSON string (null is not a string).
func refString(m map[string]jjson.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	var val any
	if jjson.Unmarshal(raw, &val) != nil {
		return "", false
	}
	s, ok := val.(string)
	return s, ok
}

// refNumber decodes m[name] as a JSON number (null is not a number).
func refNumber(m map[string]jjson.RawMessage, name string) (float64, bool) {
	var val any
	if jjson.Unmarshal(m[name], &val) != nil {
		return 0, false
	}
	f, ok := val.(float64)
	return f, ok
}

// refDate is NumericDate f (seconds since 1970, in range) as a time, to
// the nanosecond.
func refDate(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// jsonDepth returns the deepest nesting of valid JSON b (0 if invalid).
func jsonDepth(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// tokenGen makes valid and broken tokens for the differential test.
type tokenGen struct {
	t    testing.TB
	r    *rand.Rand
	keys *testKeys
}

// headerVariants returns the header JSON for k, mostly the standard one.
func (g *tokenGen) header(k *Key) string {
	std := fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}`, k.Alg, k.ID)
	if g.r.IntN(10) < 6 {
		return std
	}
	jwk, _ := jose.JSONWebKey{Key: k.Public}.MarshalJSON()
	other := []string{
		fmt.Sprintf(`{"alg":%q,"typ":"JWT","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+JWT","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"application/at+jwt","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"application/jwt","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":null,"kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":5,"kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"}`, k.Alg),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":""}`, k.Alg),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":null}`, k.Alg),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":7}`, k.Alg),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":"../../dev/null"}`, k.Alg),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":"\u%04x%s"}`, k.Alg, k.ID[0], k.ID[1:]),
		fmt.Sprintf(`{"\u0061lg":%q,"typ":"at+jwt","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"ALG":%q,"typ":"at+jwt","kid":%q}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"alg":%q,"typ":"at+jwt","kid":%q}`, k.Alg, k.Alg, k.ID),
		fmt.Sprintf(` { "alg" : %q , "typ" : "at+jwt" , "kid" : %q } `, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"jwk":%s}`, k.Alg, k.ID, jwk),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"jwk":null}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"jku":"https://evil.example"}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"x5u":"https://evil.example"}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"crit":["exp"],"exp":1}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"b64":false,"crit":["b64"]}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"b64":true}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"nonce":"n"}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"nonce":5}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"nonce":null}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"cty":"JWT","x":{"a":[1,2.5e3,{"b":null}],"c":true}}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"x":"\ud800"}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,"x":"`+"\xff"+`"}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}{}`, k.Alg, k.ID),
		fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q,}`, k.Alg, k.ID),
		fmt.Sprintf(`[{"alg":%q,"typ":"at+jwt","kid":%q}]`, k.Alg, k.ID),
		"\ufeff" + std,
		`null`,
	}
	return other[g.r.IntN(len(other))]
}

// payload returns claims JSON, mostly valid at testNow.
func (g *tokenGen) payload() string {
	n := testNow.Unix()
	base := fmt.Sprintf(`"iss":%q,"sub":"user-1","aud":%q,"exp":%d,"iat":%d,"jti":"j-%d"`, testIssuer, testAudience, n+300, n-60, g.r.IntN(1000))
	if g.r.IntN(10) < 5 {
		return "{" + base + `,"client_id":"cli","scope":"read"}`
	}
	esc := strings.ReplaceAll(testIssuer, "/", `\/`)
	other := []string{
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n-1, n-600),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n, n-600),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d.5,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n-30, n-600),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"nbf":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n, n+45),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n+90),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d.25,"jti":"j"}`, testIssuer, testAudience, n+300, n+30),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%de0,"iat":1.7e9,"jti":"j"}`, testIssuer, testAudience, n+300),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":"%d","iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":1e400,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":-5,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":null,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":3}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":4294967295}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":4294967296}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":1.5}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":-1}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":"3"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","ae":2e0}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":"%s","sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, esc, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":["x",%q],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":["x",5],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":[],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":null,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":"AP\u0049","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":"ap\u0069","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, n+300, n),
		fmt.Sprintf(`{"iss":null,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testAudience, n+300, n),
		fmt.Sprintf(`{"ISS":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":"evil","iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"jti":"j"}`, testIssuer, testAudience, n+300),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":"abc"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":""}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":null}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":5}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":null}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":"abc"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":[]}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"x5t#S256":"abc"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"x5t#S256":"abc","jkt":"def"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":"a","jkt":"b"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"jkt":"\u0061"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"j\u006bt":"a"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","cnf":{"JKT":"a"}}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","x":%s1%s}`, testIssuer, testAudience, n+300, n, strings.Repeat("[", 15), strings.Repeat("]", 15)),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","x":%s1%s}`, testIssuer, testAudience, n+300, n, strings.Repeat("[", 16), strings.Repeat("]", 16)),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"`+"\xc3\x28"+`"}`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","pad":%q}`, testIssuer, testAudience, n+300, n, strings.Repeat("p", 6000)),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j"} x`, testIssuer, testAudience, n+300, n),
		fmt.Sprintf(`{"iss":%q,"sub":"u","aud":%q,"exp":%d,"iat":%d,"jti":"j","s":1}`, testIssuer, testAudience, n+300, n),
		`[]`, `"x"`, `{}`, ``,
	}
	return other[g.r.IntN(len(other))]
}

// mutate breaks raw in one of many ways, or leaves it alone.
func (g *tokenGen) mutate(raw string) string {
	parts := strings.Split(raw, ".")
	switch g.r.IntN(16) {
	case 0, 1, 2, 3: // unchanged
		return raw
	case 4: // bit flip
		b := []byte(raw)
		i := g.r.IntN(len(b))
		b[i] ^= 1 << g.r.IntN(8)
		return string(b)
	case 5: // one character replaced
		b := []byte(raw)
		b[g.r.IntN(len(b))] = alphabet[g.r.IntN(len(alphabet))]
		return string(b)
	case 6: // header of a token signed by another key
		k := []*Key{g.keys.ed, g.keys.ec, g.keys.rs}[g.r.IntN(3)]
		parts[0] = enc([]byte(fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}`, k.Alg, k.ID)))
	case 7: // alg changed, signature kept
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			return raw
		}
		algs := []string{"none", "None", "NONE", "nOnE", "HS256", "EdDSA", "ES256", "RS256", "PS256", "ES384", "Ed25519", ""}
		var m map[string]any
		if json.Unmarshal(hdr, &m) != nil || m == nil {
			return raw
		}
		m["alg"] = algs[g.r.IntN(len(algs))]
		b, _ := json.Marshal(m)
		parts[0] = enc(b)
	case 8: // padding
		i := g.r.IntN(3)
		parts[i] += strings.Repeat("=", 1+g.r.IntN(2))
	case 9: // standard alphabet
		return strings.NewReplacer("-", "+", "_", "/").Replace(raw)
	case 10: // whitespace or line breaks inside
		ws := []string{"\n", "\r\n", " ", "\t"}[g.r.IntN(4)]
		i := g.r.IntN(len(raw) + 1)
		return raw[:i] + ws + raw[i:]
	case 11: // non-canonical final character
		i := g.r.IntN(3)
		p := parts[i]
		if p == "" {
			return raw
		}
		c := strings.IndexByte(alphabet, p[len(p)-1])
		if c < 0 {
			return raw
		}
		parts[i] = p[:len(p)-1] + string(alphabet[c^(1<<g.r.IntN(2))])
	case 12: // truncated or extended
		if g.r.IntN(2) == 0 {
			return raw[:g.r.IntN(len(raw))]
		}
		return raw + alphabet[:1+g.r.IntN(4)]
	case 13: // segments added or removed
		if g.r.IntN(2) == 0 {
			return raw + "." + parts[1]
		}
		return parts[0] + "." + parts[1] + parts[2]
	case 14: // signature stripped or zeroed
		if g.r.IntN(2) == 0 {
			parts[2] = ""
		} else {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			parts[2] = enc(make([]byte, len(sig)))
		}
	case 15: // payload swapped for another signed one
		parts[1] = enc([]byte(g.payload()))
	}
	return strings.Join(parts, ".")
}

// next returns one generated token.
func (g *tokenGen) next() string {
	var k *Key
	switch n := g.r.IntN(20); {
	case n < 12:
		k = g.keys.ed
	case n < 19:
		k = g.keys.ec
	default:
		k = g.keys.rs
	}
	input := enc([]byte(g.header(k))) + "." + enc([]byte(g.payload()))
	sig, err := signInput(k, []byte(input))
	if err != nil {
		g.t.Fatal(err)
	}
	return g.mutate(input + "." + enc(sig))
}

func TestDifferentialAgainstGoJose(t *testing.T) {
	keys := keysForTest(t)
	g := &tokenGen{t: t, r: rand.New(rand.NewPCG(1, 2)), keys: keys}
	const n = 6000
	var accepted, rejected int
	for i := 0; i < n; i++ {
		raw := g.next()
		v := testVerifier(keys.set)
		v.Leeway = []time.Duration{0, 30 * time.Second, time.Minute}[g.r.IntN(3)]
		_, err := v.Verify(testNow, raw)
		want := referenceVerify(v, keys.set, testNow, raw)
		if (err == nil) != want {
			t.Fatalf("token %d: narrow verifier err = %v, reference accepts = %v\nleeway %v\n%s", i, err, want, v.Leeway, raw)
		}
		if err != nil {
			rejected++
		} else {
			accepted++
		}
	}
	t.Logf("%d tokens: %d accepted, %d rejected by both", n, accepted, rejected)
	if accepted < n/10 || rejected < n/10 {
		t.Errorf("generator unbalanced: %d accepted, %d rejected", accepted, rejected)
	}
}

// FuzzVerify feeds arbitrary strings to Verify: it must not panic, every
// error must wrap a sentinel, and it must agree with the go-jose reference.
func FuzzVerify(f *testing.F) {
	keys := keysForTest(f)
	g := &tokenGen{t: f, r: rand.New(rand.NewPCG(3, 4)), keys: keys}
	for range 40 {
		f.Add(g.next())
	}
	for _, k := range []*Key{keys.ed, keys.ec, keys.rs} {
		f.Add(signWith(f, k, stdHeader(k), claimsJSON()))
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	sentinels := []error{ErrMalformed, ErrUnknownKey, ErrAlgorithm, ErrSignature, ErrType, ErrExpired,
		ErrNotYetValid, ErrIssuedInFuture, ErrIssuer, ErrAudience, ErrMissingClaim}
	f.Fuzz(func(t *testing.T, raw string) {
		v := testVerifier(keys.set)
		c, err := v.Verify(testNow, raw)
		if err == nil && c == nil {
			t.Fatal("accepted without claims")
		}
		if err != nil && !containsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if want := referenceVerify(v, keys.set, testNow, raw); (err == nil) != want {
			t.Fatalf("narrow verifier err = %v, reference accepts = %v\n%q", err, want, raw)
		}
	})
}

func containsFunc(list []error, f func(error) bool) bool {
	for _, e := range list {
		if f(e) {
			return true
		}
	}
	return false
}

// FuzzScanObject holds the strict JSON scanner to go-jose's JSON decoder plus
// the documented extra rules (UTF-8, depth).
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":1,"a":2}`, `{"a":"\u0061"}`, `{"\u0061":1,"a":2}`, `{"a":[1,{"b":[]}],"c":null}`,
		`{"a":-0.5e+3}`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":tru}`, `{"a":1,}`,
		`{"a":"\ud800","b":"\udc00"}`, `null`, `[]`, `{"a":1}x`, `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
		"{\"a\":\"\xff\"}", `{"a" : { "b" : "c" } }`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := scanObject(s, func(string, string) error { return nil })
		var m map[string]jjson.RawMessage
		trimmed := strings.TrimLeft(s, " \t\r\n")
		want := utf8.ValidString(s) && strings.HasPrefix(trimmed, "{") &&
			jjson.Unmarshal([]byte(s), &m) == nil && jsonDepth([]byte(s)) <= maxJSONDepth
		if (err == nil) != want {
			t.Fatalf("scanObject err = %v, reference accepts = %v: %q", err, want, s)
		}
	})
}
