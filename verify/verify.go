package verify

import (
	"cmp"
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/token"
)

// Defaults of Config.
const (
	DefaultCacheTTL           = 5 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMaxJWKSBytes       = 1 << 20
	jwksPath                  = "/.well-known/jwks.json"
)

// KeySource looks up the issuer's public verification keys by kid: the key
// and the one JWS algorithm (EdDSA, ES256 or RS256) it verifies. It must be
// safe for concurrent use. credshield's own key set (token.KeySet) is one.
type KeySource interface {
	PublicKey(kid string) (pub crypto.PublicKey, alg string, ok bool)
}

// Config configures a Verifier. Issuer, Audience and ResourceURL are
// required; every other zero field has a default.
type Config struct {
	Issuer   string // the iss every token must carry, exactly (credshield's --issuer)
	Audience string // a value the token's aud must contain
	// Keys, when set, are the issuer's keys, looked up in place of a
	// fetched JWKS: for a process that holds them itself (credshield's own
	// resource endpoints). Then nothing is fetched, and JWKSURL must be
	// empty; HTTPClient, FetchTimeout, CacheTTL, MinRefreshInterval and
	// MaxJWKSBytes are unused.
	Keys KeySource
	// JWKSURL is where the keys are; default Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// ResourceURL is this service's external base URL as clients call it
	// (scheme, host, optional path prefix). A DPoP proof's htu is compared
	// with ResourceURL + the request path; the Host header is never used.
	ResourceURL string
	// HTTPClient fetches the JWKS; default a client with FetchTimeout.
	HTTPClient *http.Client
	// FetchTimeout bounds one JWKS fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// CacheTTL is how long a fetched JWKS is used before a refresh;
	// default DefaultCacheTTL.
	CacheTTL time.Duration
	// MinRefreshInterval is the least time between two fetches, so tokens
	// with unknown kids cannot make the Verifier hammer the issuer; default
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxJWKSBytes caps the JWKS body; default DefaultMaxJWKSBytes.
	MaxJWKSBytes int64
	// Leeway is the clock-skew allowance for exp, nbf and iat; at most
	// token.MaxLeeway.
	Leeway time.Duration
	// RequireDPoP refuses Bearer tokens: every token must be DPoP-bound and
	// come with a proof.
	RequireDPoP bool
	// DPoPReplay remembers DPoP proofs; default an in-memory cache (one
	// process). Replicas behind one load balancer must share one.
	DPoPReplay dpop.ReplayCache
	// DPoPAlgs are the proof algorithms accepted; default dpop.DefaultAlgs.
	DPoPAlgs []string
	// DPoPNonces, when set, requires server nonces in proofs (RFC 9449 §9).
	DPoPNonces *dpop.NonceSource
	// DPoPChecker, when set, checks the proofs in place of a checker built
	// from DPoPReplay, DPoPAlgs and DPoPNonces (which must then be unset):
	// for a process that checks proofs elsewhere too (credshield's token
	// endpoint) and must use one replay cache and one nonce source for all.
	DPoPChecker *dpop.Checker
	// ProofTarget, when set, names the request a DPoP proof must be for, in
	// place of the request itself: its method, and its path (escaped,
	// starting with "/"), which is appended to ResourceURL to make the htu;
	// the Host header is still never used. It is for a forward-auth
	// endpoint, which checks the credentials of a request a proxy received
	// and learns that request's method and URI from the proxy's headers.
	// It is called only for a DPoP-bound token sent with the DPoP scheme.
	// An error refuses the request: an *Error is answered as it is,
	// another with 401 invalid_token. It must be safe for concurrent use.
	ProofTarget func(r *http.Request) (method, path string, err error)
	// AdmitProof, when set, is asked before each DPoP proof is checked
	// (after the token itself passed), so that a client whose proofs keep
	// failing can be refused before its proofs cost signature checks. An
	// error refuses the request: an *Error is answered as it is (a 429
	// with RetryAfter, say), another with 503. Otherwise done is called
	// exactly once, with nil when the proof passed or with the *Error the
	// request is refused with. It must be safe for concurrent use.
	AdmitProof func(r *http.Request) (done func(err error), err error)
	// CheckAccount, when set, is called with every token that passed all
	// other checks (signature, claims, DPoP proof) before the request goes
	// on: the place for what only the account's record knows. credshield
	// raises an account's epoch on every password reset, disable, enable
	// and change of scopes, and a token whose AccountEpoch is not the
	// account's current epoch must be refused; a hook that reads the
	// account (from credshield's database or a cache of it) can also
	// refuse disabled accounts and revoked jtis. An error refuses the
	// request with 401 invalid_token, unless it is an *Error, which is
	// answered as it is (return one with Status 503 when the account
	// cannot be read, so that an outage does not read as a bad token). It
	// must be safe for concurrent use. nil: no such check (see the package
	// doc, "What it cannot know").
	CheckAccount func(ctx context.Context, c *Claims) error
	// Realm names the protection space in challenges; default Audience.
	Realm string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Claims are a verified token's claims. For a DPoP-bound token, JKT (cnf.jkt)
// is the thumbprint of the key whose proof came with the request; it is ""
// for a bearer token.
type Claims struct {
	token.Claims
}

// Verifier checks access tokens on incoming requests. Create it with New;
// the zero value is not usable. It is safe for concurrent use.
type Verifier struct {
	cfg      Config
	keys     *keyCache // nil when Config.Keys is set
	tokens   token.Verifier
	proofs   *dpop.Checker
	resource string // ResourceURL without a trailing slash
	algs     string // the algs challenge parameter
}

// New validates cfg and fetches the JWKS once; it fails if the fetch does
// (see the package doc). ctx bounds that first fetch. With Config.Keys
// nothing is fetched.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("verify: Issuer and Audience are required")
	}
	if cfg.Leeway < 0 || cfg.Leeway > token.MaxLeeway {
		return nil, fmt.Errorf("verify: Leeway must be within 0..%s", token.MaxLeeway)
	}
	res, err := url.Parse(cfg.ResourceURL)
	if err != nil || (res.Scheme != "https" && res.Scheme != "http") || res.Host == "" || res.RawQuery != "" || res.Fragment != "" {
		return nil, errors.New("verify: ResourceURL must be an absolute http(s) URL without query or fragment")
	}
	if cfg.Keys != nil && cfg.JWKSURL != "" {
		return nil, errors.New("verify: Keys and JWKSURL are exclusive")
	}
	if cfg.Keys == nil {
		if cfg.JWKSURL == "" {
			cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + jwksPath
		}
		if u, err := url.Parse(cfg.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("verify: JWKSURL must be an absolute http(s) URL")
		}
	}
	cfg.FetchTimeout = cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.FetchTimeout}
	}
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, DefaultCacheTTL)
	cfg.MinRefreshInterval = cmp.Or(cfg.MinRefreshInterval, DefaultMinRefreshInterval)
	cfg.MaxJWKSBytes = cmp.Or(cfg.MaxJWKSBytes, DefaultMaxJWKSBytes)
	cfg.Realm = cmp.Or(cfg.Realm, cfg.Audience)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	checker := cfg.DPoPChecker
	if checker == nil {
		if checker, err = dpop.NewChecker(dpop.Config{AllowedAlgs: cfg.DPoPAlgs, Replay: cfg.DPoPReplay, Nonces: cfg.DPoPNonces}); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	} else if cfg.DPoPAlgs != nil || cfg.DPoPReplay != nil || cfg.DPoPNonces != nil {
		return nil, errors.New("verify: DPoPChecker excludes DPoPAlgs, DPoPReplay and DPoPNonces")
	}
	v := &Verifier{
		cfg:      cfg,
		proofs:   checker,
		resource: strings.TrimSuffix(cfg.ResourceURL, "/"),
		algs:     strings.Join(checker.Algs(), " "),
	}
	v.tokens = token.Verifier{Keys: cfg.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway}
	if cfg.Keys != nil {
		return v, nil
	}
	v.keys = &keyCache{
		url: cfg.JWKSURL, client: cfg.HTTPClient, maxBytes: cfg.MaxJWKSBytes,
		ttl: cfg.CacheTTL, minRefresh: cfg.MinRefreshInterval, timeout: cfg.FetchTimeout,
	}
	v.tokens.Keys = v.keys
	v.keys.mu.Lock()
	err = v.keys.fetchLocked(ctx, cfg.Now())
	v.keys.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// ctxKey is the context key of the claims.
type ctxKey struct{}

// ClaimsFromContext returns the claims Middleware stored for the request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// Middleware verifies every request before next sees it: on success the
// claims are in the request context, otherwise next is not called and the
// response is the error (see WriteError).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Verify(r)
		if err != nil {
			v.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// Verify checks the request's credentials at the Verifier's clock. Errors
// are *Error.
func (v *Verifier) Verify(r *http.Request) (*Claims, error) {
	return v.VerifyAt(v.cfg.Now(), r)
}

// Error is a refused request: what WriteError sends. Code and Description
// are client-safe; Err is the cause, for logs only.
type Error struct {
	Status      int
	Scheme      string // challenge the error belongs to: "Bearer" or "DPoP"
	Code        string // RFC 6750 / RFC 9449 error code; "" when no credentials were sent
	Description string
	Nonce       string // a DPoP-Nonce to send with use_dpop_nonce
	// RetryAfter is when to come back after a 429 or 503; WriteError sends
	// it in whole seconds, rounded up, and at least 1.
	RetryAfter time.Duration
	Err        error
}

// Error returns the code, description and cause, for logs.
func (e *Error) Error() string {
	s := "verify: " + cmp.Or(e.Code, "no credentials") + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes the cause (token.Err*, dpop.Err*) to errors.Is.
func (e *Error) Unwrap() error { return e.Err }

const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

func invalidToken(scheme, desc string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Scheme: scheme, Code: "invalid_token", Description: desc, Err: cause}
}

// VerifyAt is Verify at time now.
func (v *Verifier) VerifyAt(now time.Time, r *http.Request) (*Claims, error) {
	scheme, raw, err := v.credentials(r)
	if err != nil {
		return nil, err
	}
	if scheme == schemeBearer && v.cfg.RequireDPoP {
		return nil, invalidToken(schemeDPoP, "a DPoP-bound token and proof are required", nil)
	}
	claims, err := v.verifyToken(r.Context(), now, raw)
	if err != nil {
		desc := "the access token is invalid"
		if errors.Is(err, token.ErrExpired) {
			desc = "the access token expired"
		}
		return nil, invalidToken(scheme, desc, err)
	}
	jkt := claims.JKT
	switch {
	case scheme == schemeBearer && jkt != "":
		// RFC 9449 §7.2: a bound token must not be downgraded to a
		// bearer token, or a stolen one works without the key.
		return nil, invalidToken(schemeBearer, "the access token is DPoP-bound: send it with the DPoP scheme and a proof", nil)
	case scheme == schemeBearer:
		return v.checkAccount(r.Context(), scheme, &Claims{Claims: *claims})
	case jkt == "":
		return nil, invalidToken(schemeDPoP, "the access token is not DPoP-bound", nil)
	}
	if err := v.checkProof(r, now, raw, jkt); err != nil {
		return nil, err
	}
	return v.checkAccount(r.Context(), scheme, &Claims{Claims: *claims})
}

// checkAccount runs Config.CheckAccount, when set, on claims that passed
// every other check.
func (v *Verifier) checkAccount(ctx context.Context, scheme string, c *Claims) (*Claims, error) {
	if v.cfg.CheckAccount == nil {
		return c, nil
	}
	if err := v.cfg.CheckAccount(ctx, c); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, invalidToken(scheme, "the access token is no longer valid", err)
	}
	return c, nil
}

// credentials reads the Authorization header: exactly one, scheme Bearer or
// DPoP (RFC 6750 §2.1, RFC 9449 §7.1), token68 syntax. Tokens in the query
// or body are not accepted: they end up in logs.
func (v *Verifier) credentials(r *http.Request) (scheme, raw string, err error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", "", &Error{Status: http.StatusUnauthorized, Description: "authentication required"}
	}
	if len(values) > 1 {
		return "", "", &Error{Status: http.StatusBadRequest, Scheme: schemeBearer, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	s, tok, _ := strings.Cut(values[0], " ")
	switch {
	case strings.EqualFold(s, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(s, schemeDPoP):
		scheme = schemeDPoP
	default: // another scheme is no credential of ours (RFC 6750 §3.1)
		return "", "", &Error{Status: http.StatusUnauthorized, Description: "authentication required"}
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || !isToken68(tok) {
		return "", "", invalidToken(scheme, "the access token is malformed", nil)
	}
	return scheme, tok, nil
}

// isToken68 reports whether s matches RFC 7235's token68 syntax.
func isToken68(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// verifyToken runs token.Verifier over the cached keys, refreshing them
// when stale and once (rate-limited) when the kid is unknown.
func (v *Verifier) verifyToken(ctx context.Context, now time.Time, raw string) (*token.Claims, error) {
	if v.keys == nil {
		return v.tokens.Verify(now, raw)
	}
	v.keys.refreshIfStale(ctx, now)
	before := v.keys.set.Load()
	claims, err := v.tokens.Verify(now, raw)
	if errors.Is(err, token.ErrUnknownKey) && v.keys.refreshForUnknownKey(ctx, now, before) {
		claims, err = v.tokens.Verify(now, raw)
	}
	return claims, err
}

// checkProof checks the request's DPoP proof against the token and its
// binding, for the request Config.ProofTarget names (default: r itself),
// within Config.AdmitProof.
func (v *Verifier) checkProof(r *http.Request, now time.Time, raw, jkt string) (err error) {
	htm, htu := r.Method, v.resource+r.URL.EscapedPath()
	if v.cfg.ProofTarget != nil {
		var path string
		htm, path, err = v.cfg.ProofTarget(r)
		if err != nil {
			return asError(err, invalidToken(schemeDPoP, "the request the DPoP proof is for is unknown", err))
		}
		if !strings.HasPrefix(path, "/") {
			return invalidToken(schemeDPoP, "the request the DPoP proof is for is unknown", nil)
		}
		htu = v.resource + path
	}
	if v.cfg.AdmitProof != nil {
		done, aerr := v.cfg.AdmitProof(r)
		if aerr != nil {
			return asError(aerr, unavailable("the DPoP proof cannot be checked right now", aerr))
		}
		defer func() { done(err) }() // err: the named result
	}
	return v.checkProofFor(r.Context(), r.Header.Values("DPoP"), now, htm, htu, raw, jkt)
}

// asError is err when it is an *Error, otherwise fallback.
func asError(err error, fallback *Error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fallback
}

// unavailable is the server's condition, not the client's: fail closed,
// and say when to retry.
func unavailable(desc string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Scheme: schemeDPoP, Code: "temporarily_unavailable",
		Description: desc, RetryAfter: time.Second, Err: cause}
}

// checkProofFor checks the proof in the DPoP header values for a request
// with method htm to URL htu.
func (v *Verifier) checkProofFor(ctx context.Context, values []string, now time.Time, htm, htu, raw, jkt string) error {
	proof, err := dpop.ProofFromHeader(values)
	if err == nil {
		var got string
		got, err = v.proofs.Check(ctx, now, proof, htm, htu, raw, "")
		if err == nil {
			if subtle.ConstantTimeCompare([]byte(got), []byte(jkt)) != 1 {
				return &Error{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: dpop.CodeInvalidProof,
					Description: "the DPoP proof is not from the key the token is bound to"}
			}
			return nil
		}
	}
	var de *dpop.Error
	switch {
	case errors.As(err, &de):
		e := &Error{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: de.Code, Description: de.Description(), Err: err}
		if de.Code == dpop.CodeUseNonce {
			e.Nonce = v.proofs.Nonce(now)
		}
		return e
	case errors.Is(err, dpop.ErrConfig): // a request path that makes no URL (OPTIONS *)
		return &Error{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: dpop.CodeInvalidProof,
			Description: "the DPoP proof is invalid", Err: err}
	case errors.Is(err, dpop.ErrReplayQuota):
		// This key holds its share of the replay cache: only it is
		// refused, until its older proofs expire, so the cache never
		// fills and other clients are still served.
		return &Error{Status: http.StatusTooManyRequests, Scheme: schemeDPoP, Code: "too_many_requests",
			Description: "Too many requests with this DPoP key. Try again later.",
			RetryAfter:  v.proofs.IATWindow() + time.Second, Err: err}
	}
	// A full replay cache or an unreachable shared one: fail closed.
	return unavailable("the DPoP proof cannot be checked right now", err)
}

// WriteError answers a refused request: status, WWW-Authenticate
// challenges (RFC 6750 §3, RFC 9449 §7.1: a DPoP challenge with algs always,
// a Bearer challenge unless RequireDPoP), DPoP-Nonce when one is needed,
// Retry-After on 429 and 503, Cache-Control: no-store, and a JSON body
// {"error","error_description","detail"}. An error that is not an *Error is
// answered 500 without detail.
func (v *Verifier) WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error"}
	}
	h := w.Header()
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusBadRequest {
		if !v.cfg.RequireDPoP {
			h.Add("WWW-Authenticate", v.challenge(schemeBearer, e))
		}
		h.Add("WWW-Authenticate", v.challenge(schemeDPoP, e))
	}
	if e.Nonce != "" {
		h.Set("DPoP-Nonce", e.Nonce)
	}
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.FormatInt(retrySeconds(e.RetryAfter), 10))
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description,omitempty"`
		Detail      string `json:"detail,omitempty"`
	}{e.Code, e.Description, e.Description})
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// retrySeconds is d in whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// challenge renders one WWW-Authenticate challenge; the error parameters go
// on the challenge of the scheme e belongs to.
func (v *Verifier) challenge(scheme string, e *Error) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(" realm=")
	b.WriteString(strconv.Quote(v.cfg.Realm))
	if e.Code != "" && e.Scheme == scheme {
		b.WriteString(", error=")
		b.WriteString(strconv.Quote(e.Code))
		if e.Description != "" {
			b.WriteString(", error_description=")
			b.WriteString(strconv.Quote(e.Description))
		}
	}
	if scheme == schemeDPoP {
		b.WriteString(", algs=")
		b.WriteString(strconv.Quote(v.algs))
	}
	return b.String()
}
