package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/scope"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/username"
)

// loginFailed is the one answer to every wrong credential: unknown user,
// wrong password and disabled account look the same in status, headers and
// body (RFC 6749 §5.2 invalid_grant).
var loginFailed = &oauthError{
	Status:      http.StatusBadRequest,
	Code:        "invalid_grant",
	Description: "Incorrect username or password",
}

// passwordGrant is a parsed, validated RFC 6749 §4.3.2 request.
type passwordGrant struct {
	username string // normalised
	password string
	scope    string // normalised: single spaces, no duplicates
	clientID string
	// device is the device credential from the form (API clients) or the
	// cookie (browsers); empty when none.
	device string
	// challenge and solution answer a challenge_required response.
	challenge, solution string
}

// tokenResponse is the RFC 6749 §5.1 success body, plus the device
// credential for clients that keep no cookies.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	DeviceToken  string `json:"device_token,omitempty"`
}

// token handles POST /token: it reads the form and hands it to the grant
// it names (RFC 6749 §4.3 password, the default; §6 refresh_token).
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		s.metrics.attempt(outcomeInvalid)
		return err
	}
	switch gt := form["grant_type"]; {
	case gt == "" || gt == "password":
		return s.passwordToken(w, r, form)
	case gt == "refresh_token" && s.refresh != nil:
		return s.refreshToken(w, r, form)
	default:
		s.metrics.attempt(outcomeInvalid)
		supported := "password"
		if s.refresh != nil {
			supported = "password or refresh_token"
		}
		return &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "grant_type " + quoteShort(gt) + " is not supported; use " + supported}
	}
}

// passwordToken runs the password grant. The order is the design: nothing
// that costs more than parsing and one HMAC (and a DPoP proof's signature
// check) runs before the guard, and the password hash runs only inside the
// bounded pool.
func (s *Server) passwordToken(w http.ResponseWriter, r *http.Request, form map[string]string) error {
	start := time.Now()
	ctx := r.Context()
	req, err := s.parsePasswordGrant(r, form)
	if err != nil {
		s.metrics.attempt(outcomeInvalid)
		return err
	}
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return fmt.Errorf("client address: %w", err)
	}
	now := s.cfg.Now()

	// 1. A device credential, if the client sent one: one HMAC; only a
	// genuine credential for this name costs an account read here.
	dev, user, known, err := s.trustedDevice(ctx, now, req)
	if err != nil {
		s.metrics.attempt(outcomeUnavailable)
		return unavailable(err)
	}

	// 2. The guard, before any hash: deny, demand a challenge, or allow.
	verdict, ok, err := s.admit(ctx, w, now, ip, req, dev.ID, "")
	if !ok {
		return err
	}

	// 3. A DPoP proof, if the client sent one (or must): one signature
	// check, and the key the tokens will be bound to. It runs after the
	// guard so that junk proofs cannot make refusals expensive; a bad proof
	// keeps the reservation spent, a nonce request gives it back.
	jkt, err := s.tokenProofAfterGuard(ctx, r, now, verdict)
	if err != nil {
		return err
	}

	// 4. Look the user up (unless the device step did); an unknown name
	// verifies against the dummy hash so that it costs what a real one
	// costs.
	if !known {
		user, err = s.users.UserByName(ctx, req.username)
		known = err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.record(ctx, verdict, guard.Aborted)
			s.metrics.attempt(outcomeUnavailable)
			return unavailable(err)
		}
	}
	hash := s.dummy
	if known {
		hash = user.PasswordHash
	}

	// 5. The password, in the bounded hasher pool.
	match, rehash, err := s.verify(ctx, hash, req.password, verdict.Trust != guard.Untrusted, req.username)
	if err != nil {
		s.record(ctx, verdict, guard.Aborted)
		s.metrics.attempt(outcomeUnavailable)
		return err
	}

	// 6. Settle the guard's reservation: a failure keeps it, a success
	// refunds it and makes the network known.
	if !known || !match || user.Disabled {
		outcome := guard.Failure
		if !known {
			outcome = guard.UnknownUser
		}
		s.record(ctx, verdict, outcome)
		s.metrics.attempt(outcomeFailure)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login.failure",
			slog.String("username", req.username), slog.String("ip", ip.String()),
			slog.String("reason", failureReason(known, match, user.Disabled)))
		s.floor.pad(ctx, start)
		return loginFailed
	}
	s.record(ctx, verdict, guard.Success)
	if rehash {
		s.rehash(ctx, user, req.password)
	}
	// The scope policy needs the account (its own grants), so it runs
	// once the password matched; a token carries only granted scopes.
	if s.grantedScope(user, req.scope) != req.scope {
		s.metrics.attempt(outcomeInvalid)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login.scope_refused",
			slog.String("sub", user.ID), slog.String("ip", ip.String()), slog.String("scope", req.scope))
		return errScopeNotGranted
	}
	s.metrics.attempt(outcomeSuccess)
	s.screenAfterLogin(ctx, user, req.password)

	// 7. Issue a fresh device credential and the access token.
	deviceToken := s.issueDevice(ctx, w, now, user)
	access, err := s.signAccess(now, user, req.clientID, req.scope, jkt)
	if err != nil {
		return err
	}
	tokenType := schemeBearer
	if jkt != "" {
		tokenType = schemeDPoP
	}
	refresh, err := s.startRefreshFamily(ctx, now, user.ID, req.clientID, req.scope, jkt)
	if err != nil {
		return unavailable(err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login.success",
		slog.String("sub", user.ID), slog.String("username", user.Username), slog.String("ip", ip.String()),
		slog.String("client_id", req.clientID), slog.String("trust", string(verdict.Trust)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  access,
		TokenType:    tokenType,
		ExpiresIn:    int64(s.cfg.AccessTTL / time.Second),
		Scope:        req.scope,
		RefreshToken: refresh,
		DeviceToken:  deviceToken,
	})
	return nil
}

// record settles a guard reservation. A store that cannot refund is logged
// and otherwise ignored: the units stay spent, which errs toward safety.
func (g *loginGate) record(ctx context.Context, v guard.Verdict, o guard.Outcome) {
	if err := g.guard.Record(ctx, g.now(), v, o); err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "guard record failed", slog.String("error", err.Error()))
	}
}

// tooManyAttempts writes the 429 for a denied attempt: Retry-After, and the
// IETF RateLimit-Policy / RateLimit fields describing the client's own
// standing, never an account's — the per-address budget, or a device
// credential's own — except for a trusted client refused by the account's
// success budget, which knows the account. The body is the same whatever
// the username, so a 429 says nothing about existence.
func (g *loginGate) tooManyAttempts(w http.ResponseWriter, v guard.Verdict) error {
	h := w.Header()
	retry := max(int64(math.Ceil(v.RetryAfter.Seconds())), 1)
	h["Retry-After"] = []string{strconv.FormatInt(retry, 10)}
	if v.IPPolicy.Burst > 0 {
		name := v.PolicyName
		switch {
		case name != "":
		case v.Trust == guard.TrustDevice:
			name = "device"
		default:
			name = "ip"
		}
		// Both fields in one buffer: this is the hot path of an attack.
		b := make([]byte, 0, 64)
		b = strconv.AppendInt(append(append(append(b, '"'), name...), `";q=`...), int64(v.IPPolicy.Burst), 10)
		b = strconv.AppendInt(append(b, ";w="...), int64(v.IPPolicy.Period/time.Second), 10)
		n := len(b)
		b = strconv.AppendInt(append(append(append(b, '"'), name...), `";r=`...), int64(v.IPState.Remaining), 10)
		b = strconv.AppendInt(append(b, ";t="...), int64(math.Ceil(v.IPState.ResetAfter.Seconds())), 10)
		fields := string(b)
		h["Ratelimit-Policy"] = []string{fields[:n]}
		h["Ratelimit"] = []string{fields[n:]}
	}
	h["Content-Type"] = g.static.jsonType
	h["Content-Length"] = g.static.tooManyLen
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(g.static.tooManyBody)
	return nil
}

// staticResponses are built once in New and shared by every response
// (header value slices are never modified after they are set).
type staticResponses struct {
	jsonType    []string
	tooManyBody []byte
	tooManyLen  []string
}

func newStaticResponses() (staticResponses, error) {
	const desc = "Too many login attempts. Try again later."
	b, err := json.Marshal(errorBody{Error: "too_many_attempts", Description: desc, Detail: desc})
	if err != nil {
		return staticResponses{}, err
	}
	b = append(b, '\n')
	return staticResponses{
		jsonType:    []string{"application/json"},
		tooManyBody: b,
		tooManyLen:  []string{strconv.Itoa(len(b))},
	}, nil
}

func failureReason(known, match, disabled bool) string {
	switch {
	case !known:
		return "unknown_user"
	case !match:
		return "wrong_password"
	case disabled:
		return "disabled"
	}
	return "unknown"
}

// verify checks pw against hash inside the hasher pool — in its priority
// lane, under the account's name, for clients the guard trusts — and
// records the duration. A hash that
// cannot be parsed counts as a mismatch: the import step keeps such hashes
// out, and a login must not fail differently for them.
func (s *Server) verify(ctx context.Context, hash, pw string, trusted bool, username string) (match, rehash bool, err error) {
	var verr error
	var took time.Duration
	do := s.hasher.Do
	if trusted {
		do = func(ctx context.Context, fn func()) error { return s.hasher.DoFirst(ctx, username, fn) }
	}
	err = do(ctx, func() {
		t0 := time.Now()
		match, rehash, verr = password.VerifyLogin(hash, pw, s.cfg.Argon)
		took = time.Since(t0)
	})
	if err == nil {
		s.metrics.observeHash(took.Seconds())
	}
	switch {
	case errors.Is(err, password.ErrOverloaded):
		return false, false, unavailable(err)
	case err != nil:
		// The client went away while waiting for a hasher.
		return false, false, &oauthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "request cancelled", Cause: err}
	}
	if verr != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "stored hash cannot be verified", slog.String("error", verr.Error()))
		return false, false, nil
	}
	return match, rehash, nil
}

// rehash moves a user off an imported or outdated hash after a successful
// login. Failure is logged, never fatal: the login already succeeded and
// the next one will try again. The store's compare-and-swap makes a
// concurrent password reset win.
func (s *Server) rehash(ctx context.Context, user store.User, pw string) {
	var newHash string
	var herr error
	if err := s.hasher.Do(ctx, func() { newHash, herr = password.Hash(rand.Reader, []byte(password.Normalize(pw)), s.cfg.Argon) }); err != nil {
		return
	}
	if herr == nil {
		var class string
		if class, herr = password.Check(newHash); herr == nil {
			herr = s.users.ReplaceHash(ctx, user.ID, user.PasswordHash, newHash, class, s.cfg.Now())
		}
	}
	if herr != nil && !errors.Is(herr, store.ErrStale) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "rehash failed", slog.String("sub", user.ID), slog.String("error", herr.Error()))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "password.rehash", slog.String("sub", user.ID))
}

// screenAfterLogin screens the password of an account imported with a
// hash nobody could screen, now that the password is at hand. It runs only
// after a successful login (never before the guard, never for a wrong
// password). A common or breached password does not fail the login, which
// would lock its owner out: the account is marked as needing a password
// change and a password.breached event is logged. A failure is logged and
// leaves the account pending, so the next login tries again.
func (s *Server) screenAfterLogin(ctx context.Context, user store.User, pw string) {
	if s.screening == nil || s.screen == nil {
		return
	}
	sc, err := s.screening.PasswordScreening(ctx, user.ID)
	if err != nil || !sc.Pending {
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "password screening failed", slog.String("sub", user.ID), slog.String("error", err.Error()))
		}
		return
	}
	serr := password.Screen(s.screen, pw)
	if serr != nil && !errors.Is(serr, password.ErrPolicy) {
		s.log.LogAttrs(ctx, slog.LevelError, "password screening failed", slog.String("sub", user.ID), slog.String("error", serr.Error()))
		return
	}
	refused := serr != nil
	if err := s.screening.SetPasswordScreening(ctx, user.ID, store.Screening{ChangeRequired: refused}, s.cfg.Now()); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "password screening failed", slog.String("sub", user.ID), slog.String("error", err.Error()))
		return
	}
	if refused {
		s.log.LogAttrs(ctx, slog.LevelWarn, "password.breached",
			slog.String("sub", user.ID), slog.String("username", user.Username), slog.String("reason", serr.Error()),
			slog.String("action", "password change required"))
	}
}

// parsePasswordGrant reads and validates a token request. Every rejection
// is a precise invalid_request (or unsupported_grant_type, invalid_client);
// none of them depends on whether the account exists.
func (s *Server) parsePasswordGrant(r *http.Request, form map[string]string) (passwordGrant, error) {
	var req passwordGrant
	var err error
	for _, name := range []string{"username", "password"} {
		if _, ok := form[name]; !ok {
			return req, invalidRequest("missing parameter: %s", name)
		}
	}
	if req.username, err = username.Normalize(form["username"]); err != nil {
		return req, invalidRequest("%v", err)
	}
	req.password = form["password"]
	if req.scope, err = normaliseScope(form["scope"]); err != nil {
		return req, err
	}
	if req.clientID, err = clientID(r, form["client_id"]); err != nil {
		return req, err
	}
	if req.clientID == "" {
		req.clientID = s.cfg.DefaultClientID
	}
	return req, req.readAdaptive(r, form, "")
}

// readAdaptive reads what the guard may trust or ask for besides the
// credentials: the device credential (form field, then header, when
// header is not "", then cookie) and a challenge solution.
func (req *passwordGrant) readAdaptive(r *http.Request, form map[string]string, header string) error {
	req.device = form["device_token"]
	if req.device == "" && header != "" {
		req.device = r.Header.Get(header)
	}
	if req.device == "" {
		if c, err := r.Cookie(deviceCookie); err == nil {
			req.device = c.Value
		}
	}
	req.challenge, req.solution = form[challenge.FormToken], form[challenge.FormSolution]
	if (req.challenge == "") != (req.solution == "") {
		return invalidRequest("send both %s and %s, or neither", challenge.FormToken, challenge.FormSolution)
	}
	return nil
}

// readForm reads a form body (RFC 6749 §3.2: application/x-www-form-urlencoded),
// capped at MaxFormBytes, strictly parsed.
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	if err := checkFormContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, invalidRequest("%v", err)
	}
	if r.ContentLength > MaxFormBytes {
		return nil, invalidRequest("request body exceeds %d bytes", MaxFormBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFormBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, invalidRequest("request body exceeds %d bytes", MaxFormBytes)
		}
		return nil, invalidRequest("cannot read request body")
	}
	form, err := parseForm(body)
	if err != nil {
		return nil, invalidRequest("%v", err)
	}
	return form, nil
}

// clientID finds the public client's identifier: the client_id parameter,
// or HTTP Basic credentials with an empty secret (RFC 6749 §2.3.1, as
// golang.org/x/oauth2 sends them). credshield has no confidential clients,
// so a secret is refused rather than silently ignored.
func clientID(r *http.Request, fromForm string) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return fromForm, nil
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", invalidRequest("the token endpoint accepts only HTTP Basic client authentication")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", invalidRequest("malformed HTTP Basic credentials")
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", invalidRequest("malformed HTTP Basic credentials")
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || checkFormText(id) != nil {
		return "", invalidRequest("malformed HTTP Basic credentials")
	}
	if secret != "" {
		return "", &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client secrets are not accepted: credshield serves public clients only"}
	}
	if fromForm != "" && fromForm != id {
		return "", invalidRequest("client_id differs between the Authorization header and the form")
	}
	return id, nil
}

// normaliseScope validates a space-delimited scope (RFC 6749 §3.3) and
// returns it with single spaces and without repeats.
func normaliseScope(raw string) (string, error) {
	out, err := scope.Normalise(raw)
	if err != nil {
		return "", &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope contains a character RFC 6749 §3.3 does not allow"}
	}
	return out, nil
}

// errScopeNotGranted refuses a scope outside what the account may have
// (RFC 6749 §5.2 invalid_scope). It is answered only after the password
// matched, so it tells nothing to someone who does not know it.
var errScopeNotGranted = &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "the requested scope is not granted to this account"}

// grantedScope narrows req to the scopes user may have: those every
// account may request (Config.AllowedScopes) and those granted to the
// account. req is wholly granted when the result equals it.
func (s *Server) grantedScope(user store.User, req string) string {
	return scope.Filter(req, s.allowedScopes, user.Scopes)
}

// newJTI returns a random 128-bit token identifier.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
