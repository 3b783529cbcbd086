package token

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Verification failures. Verify wraps exactly one of these, so callers map
// them with errors.Is (all are RFC 6750 invalid_token to a client; the kind
// is for logs and metrics).
var (
	ErrMalformed      = errors.New("token: malformed")
	ErrUnknownKey     = errors.New("token: unknown key")
	ErrAlgorithm      = errors.New("token: algorithm does not match key")
	ErrSignature      = errors.New("token: bad signature")
	ErrType           = errors.New("token: wrong type")
	ErrExpired        = errors.New("token: expired")
	ErrNotYetValid    = errors.New("token: not yet valid")
	ErrIssuedInFuture = errors.New("token: issued in the future")
	ErrIssuer         = errors.New("token: wrong issuer")
	ErrAudience       = errors.New("token: wrong audience")
	ErrMissingClaim   = errors.New("token: missing claim")
)

// ErrVerifierConfig reports a Verifier that cannot check anything safely
// (no keys, issuer or audience, or a leeway outside 0..MaxLeeway).
var ErrVerifierConfig = errors.New("token: verifier misconfigured")

// Limits of the verifier.
const (
	DefaultMaxLen = 8 << 10          // longest token Verify decodes unless MaxLen says otherwise
	MaxLeeway     = 60 * time.Second // largest clock-skew allowance a Verifier accepts
	maxKIDLen     = 128              // a kid longer than this is not ours; refused before lookup
	maxDate       = 253402300799     // 9999-12-31T23:59:59Z; larger NumericDates are refused
)

// KeyLookup finds a verification key and the one algorithm it is used with.
// *KeySet implements it; a resource server may implement it over a fetched
// JWKS. The kid comes from the token: implementations must treat it as an
// opaque map key (never a path, URL or query).
type KeyLookup interface {
	PublicKey(kid string) (pub crypto.PublicKey, alg string, ok bool)
}

var _ KeyLookup = (*KeySet)(nil)

// Verifier checks access tokens strictly: the key named by kid fixes the
// algorithm, the signature is checked with the standard library, then the
// typ header and the claims (iss, aud, exp, nbf, iat, sub, jti).
//
// Keys, Issuer and Audience must be set. The zero Type means "at+jwt", the
// zero Leeway none, the zero MaxLen DefaultMaxLen. A Verifier is not modified
// by Verify and is safe for concurrent use if Keys is.
type Verifier struct {
	Keys     KeyLookup
	Issuer   string        // iss must equal this exactly
	Audience string        // aud (string or array) must contain this exactly
	Type     string        // typ header; compared case-insensitively, "application/" prefix optional
	Leeway   time.Duration // clock-skew allowance for exp, nbf and iat; at most MaxLeeway
	MaxLen   int           // longest accepted token in bytes
}

// header is what Verify reads from the protected header.
type header struct {
	alg, kid, typ string
	hasTyp        bool
}

// claimSet is the decoded payload before the rules are applied.
type claimSet struct {
	Claims
	hasIss, hasAud, hasSub, hasJti bool
	exp, nbf, iat                  float64
	hasExp, hasNbf, hasIat         bool
}

// Verify checks raw as an access token at time now and returns its claims.
// Every failure wraps one of the Err* sentinels above.
func (v *Verifier) Verify(now time.Time, raw string) (*Claims, error) {
	if v.Keys == nil || v.Issuer == "" || v.Audience == "" || v.Leeway < 0 || v.Leeway > MaxLeeway {
		return nil, ErrVerifierConfig
	}
	maxLen := v.MaxLen
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	if len(raw) > maxLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxLen)
	}
	seg, err := splitCompact(raw)
	if err != nil {
		return nil, err
	}
	// One buffer holds the decoded header and payload; the signature is
	// decoded by the algorithm's check, which knows its exact length.
	buf := make([]byte, decodedLen(seg.header)+decodedLen(seg.payload))
	hdrJSON, err := decodeSegment(buf, seg.header)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(string(hdrJSON))
	if err != nil {
		return nil, err
	}
	if len(h.kid) > maxKIDLen {
		return nil, fmt.Errorf("%w: kid too long", ErrUnknownKey)
	}
	pub, alg, ok := v.Keys.PublicKey(h.kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	if h.alg != alg {
		return nil, ErrAlgorithm
	}
	if err := verifySignature(alg, pub, raw[:seg.signed], seg.sig); err != nil {
		return nil, err
	}
	if !h.hasTyp || !typeMatches(h.typ, cmp.Or(v.Type, TypeAccessToken)) {
		return nil, ErrType
	}
	payload, err := decodeSegment(buf[len(hdrJSON):], seg.payload)
	if err != nil {
		return nil, err
	}
	cs, err := parseClaims(string(payload))
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(now, cs); err != nil {
		return nil, err
	}
	return &cs.Claims, nil
}

// typeMatches compares a typ header with want as media types (RFC 7515
// §4.1.9): case-insensitive, "application/" optional.
func typeMatches(typ, want string) bool {
	const app = "application/"
	if len(typ) > len(app) && strings.EqualFold(typ[:len(app)], app) {
		typ = typ[len(app):]
	}
	return strings.EqualFold(typ, want)
}

// segments locates the parts of a compact JWS.
type segments struct {
	header, payload, sig string
	signed               int // raw[:signed] is the JWS signing input
}

// splitCompact splits raw into exactly three segments, each non-empty except
// possibly the payload, and each canonical unpadded base64url: only the
// URL-safe alphabet, so padding, '+', '/', whitespace and line breaks (which
// encoding/base64 would skip) are all refused here.
func splitCompact(raw string) (segments, error) {
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return segments{}, fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	d2 := strings.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return segments{}, fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	d2 += d1 + 1
	s := segments{header: raw[:d1], payload: raw[d1+1 : d2], sig: raw[d2+1:], signed: d2}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !isB64URL(c) && i != d1 && i != d2 {
			return segments{}, fmt.Errorf("%w: not base64url", ErrMalformed)
		}
	}
	if s.header == "" || s.sig == "" {
		return segments{}, fmt.Errorf("%w: empty segment", ErrMalformed)
	}
	return s, nil
}

func isB64URL(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_'
}

// b64 decodes unpadded base64url and refuses non-zero trailing bits, so each
// byte string has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

func decodedLen(seg string) int { return b64.DecodedLen(len(seg)) }

// decodeSegment decodes seg into dst, which must have room for it.
func decodeSegment(dst []byte, seg string) ([]byte, error) {
	n, err := b64.Decode(dst, []byte(seg))
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url", ErrMalformed)
	}
	return dst[:n], nil
}

// parseHeader reads alg, kid and typ from a protected header. It refuses crit
// and b64 (no extension is understood) and the key-carrying headers jwk, jku, x5u and x5c: a key that comes with the
// token proves nothing, so they are never consulted and never tolerated.
func parseHeader(s string) (header, error) {
	var h header
	var hasAlg, hasKid bool
	err := scanObject(s, func(name, raw string) error {
		var ok bool
		switch name {
		case "alg":
			h.alg, ok = stringValue(raw)
			hasAlg = true
		case "kid":
			h.kid, ok = stringValue(raw)
			hasKid = true
		case "typ":
			h.typ, ok = stringValue(raw)
			h.hasTyp = true
		case "nonce": // go-jose insists on a string (or null); so do we, to agree with it
			_, ok = stringValue(raw)
			ok = ok || raw == "null"
		case "crit", "b64":
			// No extension is understood, so crit must be refused (RFC 7515
			// §4.1.11); b64 (RFC 7797) would change what was signed.
			return fmt.Errorf("%s header not supported", name)
		case "jwk", "jku", "x5u", "x5c":
			return fmt.Errorf("%s header refused: keys are never taken from the token", name)
		default:
			ok = true
		}
		if !ok {
			return fmt.Errorf("%s header has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if !hasAlg || !hasKid || h.kid == "" {
		return header{}, fmt.Errorf("%w: header needs alg and kid", ErrMalformed)
	}
	return h, nil
}

// verifySignature checks sig (still base64url) over input with pub using
// exactly alg. Lengths are checked before decoding.
func verifySignature(alg string, pub crypto.PublicKey, input, sig string) error {
	switch alg {
	case EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return ErrAlgorithm
		}
		var s [ed25519.SignatureSize]byte
		if err := decodeFixed(s[:], sig); err != nil {
			return err
		}
		msg := []byte(input)
		if !ed25519.Verify(k, msg, s[:]) {
			return ErrSignature
		}
		return nil
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return ErrAlgorithm
		}
		var s [64]byte
		if err := decodeFixed(s[:], sig); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(input))
		// ecdsa.Verify refuses r or s outside [1, n-1], so the all-zero
		// "psychic signature" (CVE-2022-21449) fails here.
		r, ss := new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:])
		if !ecdsa.Verify(k, sum[:], r, ss) {
			return ErrSignature
		}
		return nil
	case RS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return ErrAlgorithm
		}
		s := make([]byte, k.Size())
		if err := decodeFixed(s, sig); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(input))
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], s) != nil {
			return ErrSignature
		}
		return nil
	}
	return ErrAlgorithm
}

// decodeFixed decodes sig into dst, which it must fill exactly.
func decodeFixed(dst []byte, sig string) error {
	if len(sig) != base64.RawURLEncoding.EncodedLen(len(dst)) {
		return fmt.Errorf("%w: wrong length", ErrSignature)
	}
	n, err := b64.Decode(dst, []byte(sig))
	if err != nil || n != len(dst) {
		return fmt.Errorf("%w: bad base64url", ErrMalformed)
	}
	return nil
}

// parseClaims decodes the claims Verify uses; others are validated as JSON
// and ignored. Known claims must have their registered types: strings,
// NumericDates as JSON numbers (fractions allowed, strings refused), aud a
// string or an array of strings.
func parseClaims(s string) (*claimSet, error) {
	cs := &claimSet{}
	err := scanObject(s, func(name, raw string) error {
		ok := true
		switch name {
		case "iss":
			cs.Issuer, ok = stringValue(raw)
			cs.hasIss = true
		case "sub":
			cs.Subject, ok = stringValue(raw)
			cs.hasSub = true
		case "jti":
			cs.ID, ok = stringValue(raw)
			cs.hasJti = true
		case "client_id":
			cs.ClientID, ok = stringValue(raw)
		case "scope":
			cs.Scope, ok = stringValue(raw)
		case "username":
			cs.Username, ok = stringValue(raw)
		case "cnf":
			cs.JKT, ok = confirmation(raw)
		case "ae":
			cs.AccountEpoch, ok = epochValue(raw)
		case "exp":
			cs.exp, ok = numberValue(raw)
			cs.hasExp = true
		case "nbf":
			cs.nbf, ok = numberValue(raw)
			cs.hasNbf = true
		case "iat":
			cs.iat, ok = numberValue(raw)
			cs.hasIat = true
		case "aud":
			cs.hasAud = true
			if a, isStr := stringValue(raw); isStr {
				cs.Audience = []string{a}
				break
			}
			if raw[0] != '[' {
				ok = false
				break
			}
			cs.Audience = []string{}
			err := scanArray(raw, func(elem string) error {
				a, isStr := stringValue(elem)
				if !isStr {
					return errors.New("aud element is not a string")
				}
				cs.Audience = append(cs.Audience, a)
				return nil
			})
			ok = err == nil
		}
		if !ok {
			return fmt.Errorf("claim %s has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	for _, d := range []struct {
		has bool
		v   float64
	}{{cs.hasExp, cs.exp}, {cs.hasNbf, cs.nbf}, {cs.hasIat, cs.iat}} {
		if d.has && !(d.v >= 0 && d.v <= maxDate) {
			return nil, fmt.Errorf("%w: claims: date out of range", ErrMalformed)
		}
	}
	if cs.hasExp {
		cs.ExpiresAt = numericDate(cs.exp)
	}
	if cs.hasNbf {
		cs.NotBefore = numericDate(cs.nbf)
	}
	if cs.hasIat {
		cs.IssuedAt = numericDate(cs.iat)
	}
	return cs, nil
}

// confirmation reads a cnf claim (RFC 7800): it must be an object with a
// non-empty string member jkt (RFC 9449 §6.1). Other confirmation methods
// (x5t#S256, jwk) may sit beside jkt and are ignored; a cnf without jkt is
// refused, since a binding this verifier cannot check must not turn the
// token into a bearer token (fail closed).
func confirmation(raw string) (string, bool) {
	if raw[0] != '{' {
		return "", false
	}
	var jkt string
	var hasJKT bool
	err := scanObject(raw, func(name, val string) error {
		if name != "jkt" {
			return nil
		}
		s, ok := stringValue(val)
		if !ok {
			return errors.New("jkt is not a string")
		}
		jkt, hasJKT = s, true
		return nil
	})
	return jkt, err == nil && hasJKT && jkt != ""
}

// epochValue reads the account epoch claim: a JSON number that is a whole
// number from 0 to 2^32-1 (fraction-free; 1.0 and 1e0 are the number 1).
func epochValue(raw string) (uint32, bool) {
	f, ok := numberValue(raw)
	if !ok || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, false
	}
	return uint32(f), true
}

// numericDate converts a NumericDate (seconds since the epoch, in range) to
// a time, keeping the fraction.
func numericDate(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// checkClaims applies the claim rules in a fixed order.
func (v *Verifier) checkClaims(now time.Time, cs *claimSet) error {
	switch {
	case !cs.hasIss:
		return fmt.Errorf("%w: iss", ErrMissingClaim)
	case cs.Issuer != v.Issuer:
		return ErrIssuer
	case !cs.hasAud:
		return fmt.Errorf("%w: aud", ErrMissingClaim)
	}
	found := false
	for _, a := range cs.Audience {
		if a == v.Audience {
			found = true
			break
		}
	}
	if !found {
		return ErrAudience
	}
	switch {
	case !cs.hasExp:
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	case !now.Before(cs.ExpiresAt.Add(v.Leeway)):
		return ErrExpired
	case cs.hasNbf && cs.NotBefore.After(now.Add(v.Leeway)):
		return ErrNotYetValid
	case !cs.hasIat:
		return fmt.Errorf("%w: iat", ErrMissingClaim)
	case cs.IssuedAt.After(now.Add(v.Leeway)):
		return ErrIssuedInFuture
	case !cs.hasSub || cs.Subject == "":
		return fmt.Errorf("%w: sub", ErrMissingClaim)
	case !cs.hasJti || cs.ID == "":
		return fmt.Errorf("%w: jti", ErrMissingClaim)
	}
	return nil
}
