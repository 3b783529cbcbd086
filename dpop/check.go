package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults and limits of a Checker.
const (
	DefaultIATWindow = 60 * time.Second // how old a proof may be
	DefaultIATFuture = 5 * time.Second  // how far ahead a client's clock may run
	MaxIATWindow     = 10 * time.Minute // larger windows are refused: replay entries live this long
	DefaultMaxLen    = 8 << 10          // longest proof Check decodes (an RSA-4096 proof is about 2.3 KiB)
	maxJTILen        = 256              // a jti longer than this is refused before it reaches the cache
	maxNonceLen      = 256
	maxDate          = 253402300799 // 9999-12-31T23:59:59Z
)

// DefaultAlgs are the proof algorithms a Checker accepts unless
// Config.AllowedAlgs says otherwise.
var DefaultAlgs = []string{ES256, EdDSA}

// Config configures a Checker. Every zero field has a safe default.
type Config struct {
	// AllowedAlgs lists the proof algorithms accepted: any of EdDSA, ES256
	// and RS256. Anything else (none, HS256, unknown names) is refused by
	// NewChecker: a proof's key is the client's own, so only asymmetric
	// signatures prove possession. Default DefaultAlgs.
	AllowedAlgs []string
	// IATWindow is how old (by iat) a proof may be; default
	// DefaultIATWindow, at most MaxIATWindow.
	IATWindow time.Duration
	// IATFuture is how far in the future iat may be; default
	// DefaultIATFuture, at most IATWindow.
	IATFuture time.Duration
	// Replay remembers accepted proofs; default a MemoryReplayCache of
	// DefaultReplayCapacity. Several replicas must share one (Redis).
	Replay ReplayCache
	// Nonces, when set, makes a server nonce mandatory: a proof without
	// a current one fails with code use_dpop_nonce.
	Nonces *NonceSource
	// MaxLen is the longest proof accepted; default DefaultMaxLen.
	MaxLen int
}

// Checker checks DPoP proofs (RFC 9449 §4.3). Create it with NewChecker;
// the zero value is not usable. It is safe for concurrent use if its
// ReplayCache is.
type Checker struct {
	cfg  Config
	algs []jose.SignatureAlgorithm
}

// NewChecker validates cfg, fills in defaults and returns a Checker.
func NewChecker(cfg Config) (*Checker, error) {
	if len(cfg.AllowedAlgs) == 0 {
		cfg.AllowedAlgs = DefaultAlgs
	}
	cfg.AllowedAlgs = slices.Clone(cfg.AllowedAlgs)
	algs := make([]jose.SignatureAlgorithm, 0, len(cfg.AllowedAlgs))
	for _, a := range cfg.AllowedAlgs {
		if a != EdDSA && a != ES256 && a != RS256 {
			return nil, fmt.Errorf("%w: algorithm %q is not an asymmetric algorithm this package supports", ErrConfig, a)
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	if cfg.IATWindow == 0 {
		cfg.IATWindow = DefaultIATWindow
	}
	if cfg.IATFuture == 0 {
		cfg.IATFuture = DefaultIATFuture
	}
	if cfg.IATWindow < 0 || cfg.IATWindow > MaxIATWindow || cfg.IATFuture < 0 || cfg.IATFuture > cfg.IATWindow {
		return nil, fmt.Errorf("%w: iat window must be within 0..%s and the future allowance within it", ErrConfig, MaxIATWindow)
	}
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryReplayCache(DefaultReplayCapacity)
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	return &Checker{cfg: cfg, algs: algs}, nil
}

// Algs returns the accepted algorithms, for the algs parameter of a DPoP
// WWW-Authenticate challenge and dpop_signing_alg_values_supported.
func (c *Checker) Algs() []string { return slices.Clone(c.cfg.AllowedAlgs) }

// IATWindow returns how old a proof may be: how long a replay-cache entry
// lives, and so how long a key refused with ErrReplayQuota should wait.
func (c *Checker) IATWindow() time.Duration { return c.cfg.IATWindow }

// Nonce returns the nonce to send in a DPoP-Nonce header at now, or "" when
// the Checker does not use nonces.
func (c *Checker) Nonce(now time.Time) string {
	if c.cfg.Nonces == nil {
		return ""
	}
	return c.cfg.Nonces.Current(now)
}

// ProofFromHeader returns the single DPoP header value of a request, given
// all of them (r.Header.Values("DPoP")). None or several is ErrHeaderCount
// inside an *Error (RFC 9449 §4.3 step 1).
func ProofFromHeader(values []string) (string, error) {
	if len(values) != 1 || values[0] == "" {
		return "", invalid(ErrHeaderCount)
	}
	return values[0], nil
}

// Check verifies proof at now for a request with method htm to URL htu, and
// returns the RFC 7638 thumbprint (jkt) of the proof's key.
//
// htu must be built by the caller from configuration (the issuer or
// resource URL) and the request path, never from the Host header; its query
// and fragment are ignored, like the proof's. accessToken is the token the
// request presents ("" at the token endpoint): when set, the proof's ath
// must be its hash. nonce, when not empty, is the nonce the proof must
// carry; when empty and the Checker has a NonceSource, the proof must carry
// a nonce that source issued.
//
// A refused proof returns an *Error wrapping one of the Err* sentinels, with
// Code use_dpop_nonce for a missing or stale nonce (send Nonce(now) in a
// DPoP-Nonce header) and invalid_dpop_proof otherwise. ErrReplayCacheFull
// and replay cache failures are returned without *Error, as are ErrConfig
// errors for an htu the caller built wrongly.
func (c *Checker) Check(ctx context.Context, now time.Time, proof, htm, htu, accessToken, nonce string) (string, error) {
	if len(proof) > c.cfg.MaxLen {
		return "", invalid(fmt.Errorf("%w: longer than %d bytes", ErrMalformed, c.cfg.MaxLen))
	}
	target, err := normalizeURL(htu)
	if err != nil {
		return "", fmt.Errorf("%w: request url: %w", ErrConfig, err)
	}
	alg, err := c.checkHeader(proof)
	if err != nil {
		return "", invalid(err)
	}
	jws, err := jose.ParseSignedCompact(proof, c.algs)
	if err != nil || len(jws.Signatures) != 1 {
		return "", invalid(ErrMalformed)
	}
	jwk := jws.Signatures[0].Header.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return "", invalid(ErrKey)
	}
	if err := checkKey(jwk.Key, alg); err != nil {
		return "", invalid(fmt.Errorf("%w: %w", ErrKey, err))
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return "", invalid(ErrSignature)
	}
	cl, err := parseClaims(payload)
	if err != nil {
		return "", invalid(err)
	}
	if cl.htm != htm {
		return "", invalid(ErrMethod)
	}
	if got, err := normalizeURL(cl.htu); err != nil || got != target {
		return "", invalid(ErrURL)
	}
	if !c.nonceOK(now, cl.nonce, nonce) {
		return "", &Error{Code: CodeUseNonce, Err: ErrNonceRequired}
	}
	switch {
	case cl.iat.Before(now.Add(-c.cfg.IATWindow)):
		return "", invalid(ErrStale)
	case cl.iat.After(now.Add(c.cfg.IATFuture)):
		return "", invalid(ErrFuture)
	}
	if accessToken != "" {
		want := AccessTokenHash(accessToken)
		if !cl.hasATH || subtle.ConstantTimeCompare([]byte(cl.ath), []byte(want)) != 1 {
			return "", invalid(ErrAccessToken)
		}
	}
	jkt, err := Thumbprint(jwk.Key)
	if err != nil {
		return "", invalid(fmt.Errorf("%w: %w", ErrKey, err))
	}
	// The proof is accepted only once per key until it could no longer pass
	// the iat check; recording happens last so refused proofs cost no entry.
	expires := cl.iat.Add(c.cfg.IATWindow + time.Second)
	if err := c.cfg.Replay.Remember(ctx, now, replayKey(jkt, cl.jti), expires); err != nil {
		if errors.Is(err, ErrReplay) {
			return "", invalid(ErrReplay)
		}
		return "", fmt.Errorf("dpop replay cache: %w", err)
	}
	return jkt, nil
}

// checkHeader reads the protected header before go-jose does, for the
// checks go-jose leaves to us: typ, the private-key members of jwk (named
// here rather than lost in a generic parse error), and no extensions.
func (c *Checker) checkHeader(proof string) (alg string, err error) {
	seg, _, ok := strings.Cut(proof, ".")
	if !ok {
		return "", ErrMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return "", fmt.Errorf("%w: header is not a json object", ErrMalformed)
	}
	if _, ok := h["crit"]; ok {
		return "", fmt.Errorf("%w: crit header: no extension is understood", ErrMalformed)
	}
	if _, ok := h["b64"]; ok {
		return "", fmt.Errorf("%w: b64 header: no extension is understood", ErrMalformed)
	}
	var typ string
	if json.Unmarshal(h["typ"], &typ) != nil || !typeMatches(typ, ProofType) {
		return "", ErrType
	}
	if json.Unmarshal(h["alg"], &alg) != nil || !slices.Contains(c.cfg.AllowedAlgs, alg) {
		return "", ErrAlgorithm
	}
	var jwk map[string]json.RawMessage
	if err := json.Unmarshal(h["jwk"], &jwk); err != nil || jwk == nil {
		return "", ErrKey
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
		if _, ok := jwk[m]; ok {
			return "", fmt.Errorf("%w: member %q", ErrPrivateKey, m)
		}
	}
	return alg, nil
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

// nonceOK applies the nonce rule: an expected nonce must be matched
// exactly; without one, a configured NonceSource must have issued it.
func (c *Checker) nonceOK(now time.Time, got, expected string) bool {
	switch {
	case expected != "":
		return subtle.ConstantTimeCompare([]byte(got), []byte(expected)) == 1
	case c.cfg.Nonces != nil:
		return got != "" && c.cfg.Nonces.Valid(now, got)
	}
	return true
}

// claims are the proof claims Check uses.
type claims struct {
	jti, htm, htu, ath, nonce string
	hasATH                    bool
	iat                       time.Time
}

// parseClaims decodes a verified proof payload. Claim names match exactly
// (encoding/json's case-insensitive struct matching is avoided); jti, htm,
// htu and iat are required, with their registered types.
func parseClaims(payload []byte) (claims, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return claims{}, fmt.Errorf("%w: payload is not a json object", ErrMalformed)
	}
	var c claims
	str := func(name string, dst *string, required bool) error {
		raw, ok := m[name]
		if !ok {
			if required {
				return fmt.Errorf("%w: %s", ErrMissingClaim, name)
			}
			return nil
		}
		if json.Unmarshal(raw, dst) != nil || raw[0] != '"' {
			return fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
		}
		if required && *dst == "" {
			return fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
		return nil
	}
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"jti", &c.jti, true}, {"htm", &c.htm, true}, {"htu", &c.htu, true}, {"ath", &c.ath, false}, {"nonce", &c.nonce, false}} {
		if err := str(f.name, f.dst, f.required); err != nil {
			return claims{}, err
		}
	}
	_, c.hasATH = m["ath"]
	if len(c.jti) > maxJTILen || len(c.nonce) > maxNonceLen {
		return claims{}, fmt.Errorf("%w: jti or nonce too long", ErrMalformed)
	}
	raw, ok := m["iat"]
	if !ok {
		return claims{}, fmt.Errorf("%w: iat", ErrMissingClaim)
	}
	var iat float64
	if raw[0] == '"' || json.Unmarshal(raw, &iat) != nil || !(iat >= 0 && iat <= maxDate) {
		return claims{}, fmt.Errorf("%w: iat is not a date", ErrMalformed)
	}
	sec, frac := math.Modf(iat)
	c.iat = time.Unix(int64(sec), int64(frac*1e9))
	return c, nil
}

// replayKey names a proof in the replay cache: jti scoped to the key that
// signed it (two clients may pick the same jti), hashed to a fixed size so
// an entry's memory does not depend on what the client sent. The key's own
// part comes first (ReplayScope), so a cache can bound each key's share.
func replayKey(jkt, jti string) string {
	scope := sha256.Sum256([]byte(jkt))
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return base64.RawURLEncoding.EncodeToString(scope[:12]) + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
