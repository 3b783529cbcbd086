package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/scope"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/username"
	"github.com/credshield/credshield/token"
)

// POST /token, top to bottom: the two grants, then the steps they take in
// the order they take them. What stands before the password (the guard,
// device credentials, challenges, refusals, settling) is package gate.

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
	// creds are the device credential (form or cookie) and challenge
	// solution the gate reads.
	creds gate.Credentials
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
		s.gate.Count(gate.Login, gate.Invalid)
		return err
	}
	switch gt := form["grant_type"]; {
	case gt == "" || gt == "password":
		return s.passwordToken(w, r, form)
	case gt == "refresh_token" && s.refresh != nil:
		return s.refreshToken(w, r, form)
	default:
		s.gate.Count(gate.Login, gate.Invalid)
		supported := "password"
		if s.refresh != nil {
			supported = "password or refresh_token"
		}
		return &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "grant_type " + quoteShort(gt) + " is not supported; use " + supported}
	}
}

// passwordToken runs the password grant. The order is the design: nothing
// that costs more than parsing and one HMAC (and a DPoP proof's signature
// check) runs before the gate, the password hash runs only inside the
// bounded pool, and the gate's reservation is settled exactly once: the
// deferred Settle(Aborted) refunds it on every exit that judged nothing.
func (s *Server) passwordToken(w http.ResponseWriter, r *http.Request, form map[string]string) error {
	start := time.Now()
	ctx := r.Context()
	req, err := s.parsePasswordGrant(r, form)
	if err != nil {
		s.gate.Count(gate.Login, gate.Invalid)
		return err
	}
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return fmt.Errorf("client address: %w", err)
	}
	now := s.cfg.Now()

	// 1-2. A device credential, if the client sent one, then the gate,
	// before any hash (admitPassword).
	res, user, known, err := s.admitPassword(ctx, now, ip, req)
	if err != nil {
		return err
	}
	defer res.Settle(gate.Aborted)

	// 3. A DPoP proof, if the client sent one (or must): one signature
	// check, and the key the tokens will be bound to.
	jkt, err := s.tokenProof(ctx, r, now, res)
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
			return unavailable(err)
		}
	}
	hash := s.dummy
	if known {
		hash = user.PasswordHash
	}

	// 5. The password, in the bounded hasher pool.
	match, rehash, err := s.verify(ctx, hash, req.password, res.Trusted(), req.username)
	if err != nil {
		return err
	}

	// 6. Settle the reservation: a failure keeps it, a success refunds it
	// and makes the network known. The scope policy needs the account (its
	// own grants), so it runs once the password matched; a token carries
	// only granted scopes.
	if !known || !match || user.Disabled {
		outcome := gate.Failure
		if !known {
			outcome = gate.UnknownUser
		}
		res.Settle(outcome, slog.String("reason", failureReason(known, match, user.Disabled)))
		s.floor.Pad(ctx, start)
		return loginFailed
	}
	if s.grantedScope(user, req.scope) != req.scope {
		res.Settle(gate.ScopeRefused, slog.String("sub", user.ID), slog.String("scope", req.scope))
		if rehash {
			s.rehash(ctx, user, req.password)
		}
		return errScopeNotGranted
	}
	res.Settle(gate.Success, slog.String("sub", user.ID), slog.String("client_id", req.clientID),
		slog.String("trust", string(res.Verdict().Trust)))
	if rehash {
		s.rehash(ctx, user, req.password)
	}
	s.screenAfterLogin(ctx, user, req.password)

	// 7. Issue a fresh device credential and the tokens.
	deviceToken := s.gate.IssueDevice(ctx, w, now, user.ID, user.Username, user.DeviceEpoch)
	access, err := s.signAccess(now, user, req.clientID, req.scope, jkt)
	if err != nil {
		return err
	}
	refresh, err := s.startRefreshFamily(ctx, now, user, req.clientID, req.scope, jkt)
	switch {
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		// A change, reset or disable committed while the password was
		// checked: the hash it matched is no longer the account's, and
		// neither are the tokens signed above.
		return loginFailed
	case err != nil:
		return unavailable(err)
	}
	s.writeTokens(w, tokenResponse{AccessToken: access, Scope: req.scope, RefreshToken: refresh, DeviceToken: deviceToken}, jkt)
	return nil
}

// refreshToken runs the refresh_token grant (RFC 6749 §6): the token is
// rotated on every use, and a token presented a second time revokes its
// family (the token leaked: either the thief or the client used it first).
// The gate runs before the rotation, on the client address alone (no
// account budget, no challenge: the token is 256 random bits), so that
// guessing and replaying burn the address's budget and a flood of made-up
// tokens stops before it costs a proof check or a database read.
func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request, form map[string]string) error {
	ctx := r.Context()
	raw, ok := form["refresh_token"]
	if !ok || raw == "" {
		s.gate.Count(gate.Refresh, gate.Invalid)
		return invalidRequest("missing parameter: refresh_token")
	}
	scope, err := normaliseScope(form["scope"])
	if err != nil {
		s.gate.Count(gate.Refresh, gate.Invalid)
		return err
	}
	client, err := clientID(r, form["client_id"])
	if err != nil {
		s.gate.Count(gate.Refresh, gate.Invalid)
		return err
	}
	client = cmp.Or(client, s.cfg.DefaultClientID)
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return err
	}
	now := s.cfg.Now()

	res, err := s.gate.AdmitAddress(ctx, now, gate.Refresh, ip)
	if err != nil {
		return err
	}
	defer res.Settle(gate.Aborted)
	jkt, err := s.tokenProof(ctx, r, now, res)
	if err != nil {
		return err
	}
	var fam store.RefreshFamily
	fail := func(outcome gate.Outcome, reason string) error {
		res.Settle(outcome, slog.String("family", fam.ID), slog.String("reason", reason))
		return refreshFailed
	}
	if !wellFormedRefresh(raw) {
		return fail(gate.Failure, "malformed_token")
	}
	hash := refreshHash(raw)
	fam, err = s.refresh.RefreshFamilyByToken(ctx, hash)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable(err)
	}
	var user store.User
	if known {
		user, err = s.users.UserByID(ctx, fam.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			known = false
		case err != nil:
			return unavailable(err)
		}
	}
	switch {
	case !known:
		return fail(gate.UnknownUser, "unknown_token")
	case fam.ClientID != client:
		return fail(gate.Failure, "client_mismatch")
	case fam.JKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(fam.JKT)) != 1:
		// RFC 9449 §5: a bound refresh token is redeemable only with a
		// proof from its key; a thief holding the token alone gets nothing.
		return fail(gate.Failure, "dpop_key_mismatch")
	case user.Disabled, fam.AccountEpoch != user.DeviceEpoch:
		// A disable, or a reset or change of the password since the login
		// that started the family (or a family from before families
		// carried the epoch): the session ends with the state it began in.
		if err := s.refresh.RevokeRefreshFamily(ctx, fam.ID, now); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "revoke refresh family", slog.String("error", err.Error()))
		}
		reason := "account_changed"
		if user.Disabled {
			reason = "disabled"
		}
		return fail(gate.Failure, reason)
	case scope != "" && !scopeWithin(scope, fam.Scope):
		res.Settle(gate.Invalid, slog.String("family", fam.ID), slog.String("reason", "scope_beyond_family"))
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "the requested scope exceeds the scope originally granted"}
	case scope != "" && s.grantedScope(user, scope) != scope:
		res.Settle(gate.Invalid, slog.String("family", fam.ID), slog.String("reason", "scope_not_granted"))
		return errScopeNotGranted
	}

	next, nextHash := newRefreshToken()
	fam, err = s.refresh.RotateRefreshToken(ctx, hash, nextHash, now, now.Add(s.cfg.RefreshIdleTTL))
	switch {
	case errors.Is(err, store.ErrReused):
		s.log.LogAttrs(ctx, slog.LevelWarn, "refresh.reuse",
			slog.String("sub", fam.UserID), slog.String("family", fam.ID), slog.String("client_id", fam.ClientID),
			slog.String("ip", ip.String()), slog.String("action", "family revoked"))
		return fail(gate.Failure, "reuse")
	case errors.Is(err, store.ErrRevoked):
		return fail(gate.Failure, "revoked")
	case errors.Is(err, store.ErrExpired):
		return fail(gate.Failure, "expired")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrStale):
		return fail(gate.Failure, "raced")
	case err != nil:
		return unavailable(err)
	}
	res.Settle(gate.Success, slog.String("sub", user.ID), slog.String("family", fam.ID))

	// A bound family stays bound to its key; an unbound one yields an
	// access token bound to this request's proof, if any.
	bind := cmp.Or(fam.JKT, jkt)
	// The family's scope is what was granted at login; the policy may have
	// shrunk since (--allowed-scopes, the account's grants), and a family
	// must not keep a scope for its remaining lifetime that a new login
	// would not get: the new token carries only what is still granted.
	scope = s.grantedScope(user, cmp.Or(scope, fam.Scope))
	access, err := s.signAccess(now, user, fam.ClientID, scope, bind)
	if err != nil {
		return err
	}
	s.writeTokens(w, tokenResponse{AccessToken: access, Scope: scope, RefreshToken: next}, bind)
	return nil
}

// writeTokens writes a successful token response, typed DPoP when the
// access token is bound to jkt.
func (s *Server) writeTokens(w http.ResponseWriter, t tokenResponse, jkt string) {
	t.TokenType = tokenScheme(jkt)
	t.ExpiresIn = int64(s.cfg.AccessTTL / time.Second)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, t)
}

// trustedDevice checks the device credential of req, if any. It costs one
// HMAC for a forged or foreign credential; a genuine one for this username
// also reads the account, to reject credentials revoked by a reset or a
// disable (their epoch is older). The account read is returned so the
// password step does not repeat it. A credential that fails is ignored:
// the client is simply untrusted.
func (s *Server) trustedDevice(ctx context.Context, now time.Time, req passwordGrant) (device.Credential, store.User, bool, error) {
	c, ok := s.gate.Device(now, req.creds.Device, req.username)
	if !ok {
		return device.Credential{}, store.User{}, false, nil
	}
	u, err := s.users.UserByName(ctx, req.username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return device.Credential{}, store.User{}, false, nil
	case err != nil:
		return device.Credential{}, store.User{}, false, err
	}
	if u.Disabled || device.CheckEpoch(c, u.DeviceEpoch) != nil {
		s.metrics.Device("revoked_seen")
		return device.Credential{}, u, true, nil
	}
	return c, u, true, nil
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
	req.creds, err = gate.ReadCredentials(r, form, "")
	return req, err
}

// readForm reads a form body (RFC 6749 §3.2: application/x-www-form-urlencoded),
// capped at httpapi.MaxFormBytes, strictly parsed.
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	if err := httpapi.CheckFormContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, invalidRequest("%v", err)
	}
	if r.ContentLength > httpapi.MaxFormBytes {
		return nil, invalidRequest("request body exceeds %d bytes", httpapi.MaxFormBytes)
	}
	var body []byte
	var err error
	if n := r.ContentLength; n >= 0 {
		// A declared length within the cap (checked above), past which
		// net/http never reads: one buffer of that size, where ReadAll
		// and MaxBytesReader cost three allocations.
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, httpapi.MaxFormBytes))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, invalidRequest("request body exceeds %d bytes", httpapi.MaxFormBytes)
		}
		return nil, invalidRequest("cannot read request body")
	}
	form, err := httpapi.ParseForm(body)
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
	if err1 != nil || err2 != nil || httpapi.CheckFormText(id) != nil {
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

// tokenProof checks the DPoP proof sent to POST /token (RFC 9449 §5) and
// returns its key's thumbprint, which the issued tokens are bound to; "" when
// the client sent no proof and binding is optional. htu is built from the
// configured issuer, never from the Host header. It runs after the gate,
// so that junk proofs cannot make refusals expensive, and settles res
// when the proof fails: a bad proof keeps the reservation spent (junk
// costs its sender budget), a nonce request or a replay cache the server
// cannot reach gives it back.
func (s *Server) tokenProof(ctx context.Context, r *http.Request, now time.Time, res *gate.Reservation) (string, error) {
	jkt, err := s.checkTokenProof(ctx, r, now)
	if err != nil {
		res.Settle(proofOutcome(err))
	}
	return jkt, err
}

func (s *Server) checkTokenProof(ctx context.Context, r *http.Request, now time.Time) (string, error) {
	values := r.Header.Values("DPoP")
	if len(values) == 0 {
		if s.cfg.RequireDPoP {
			return "", &oauthError{Status: http.StatusBadRequest, Code: dpop.CodeInvalidProof, Description: "a DPoP proof is required"}
		}
		return "", nil
	}
	proof, err := dpop.ProofFromHeader(values)
	if err == nil {
		var jkt string
		jkt, err = s.dpop.Check(ctx, now, proof, http.MethodPost, s.cfg.Issuer+"/token", "", "")
		if err == nil {
			return jkt, nil
		}
	}
	if qe := s.replayQuota(err); qe != nil {
		return "", qe
	}
	var de *dpop.Error
	if errors.As(err, &de) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "dpop.rejected", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
		oe := &oauthError{Status: http.StatusBadRequest, Code: de.Code, Description: de.Description(), Cause: err}
		if de.Code == dpop.CodeUseNonce {
			oe.Nonce = s.dpop.Nonce(now)
		}
		return "", oe
	}
	// A full or unreachable replay cache: fail closed, but as the
	// server's condition, not the client's.
	return "", unavailable(err)
}

// verify checks pw against hash inside the hasher pool — in its priority
// lane, under the account's name, for clients the guard trusts — and
// records the duration. A hash that
// cannot be parsed counts as a mismatch: the import step keeps such hashes
// out, and a login must not fail differently for them.
func (s *Server) verify(ctx context.Context, hash, pw string, trusted bool, username string) (match, rehash bool, err error) {
	var verr error
	var took time.Duration
	err = s.lane(trusted, username)(ctx, func() {
		t0 := time.Now()
		match, rehash, verr = password.VerifyLogin(hash, pw, s.cfg.Argon)
		took = time.Since(t0)
	})
	if err == nil {
		s.metrics.ObserveHash(took.Seconds())
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

// rehash moves a user off an imported or outdated hash after a successful
// login. Failure is logged, never fatal: the login already succeeded and
// the next one will try again. The store's compare-and-swap makes a
// concurrent password reset win.
func (s *Server) rehash(ctx context.Context, user store.User, pw string) {
	newHash, class, herr := s.hashPassword(ctx, s.hasher.Do, password.Normalize(pw))
	if herr == nil {
		herr = s.users.ReplaceHash(ctx, user.ID, user.PasswordHash, newHash, class, s.cfg.Now())
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

// signAccess issues an access token for user, bound to jkt when it is set.
func (s *Server) signAccess(now time.Time, user store.User, clientID, scope, jkt string) (string, error) {
	return s.keys.Sign(token.Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   user.ID,
		Audience:  []string{s.cfg.Audience},
		IssuedAt:  now,
		ExpiresAt: now.Add(s.cfg.AccessTTL),
		ID:        newJTI(),
		ClientID:  clientID,
		Scope:     scope,
		Username:  user.Username,
		JKT:       jkt,
		// The account's epoch: a later reset, disable, enable or change
		// of scopes ends this token at once (checkAccount).
		AccountEpoch: user.DeviceEpoch,
	})
}

// startRefreshFamily starts a refresh-token family for a login of user (as
// read before its password was checked) and returns its first token; ""
// when refresh tokens are off. An account epoch that moved since the read
// wraps store.ErrStale and starts nothing.
func (s *Server) startRefreshFamily(ctx context.Context, now time.Time, user store.User, clientID, scope, jkt string) (string, error) {
	if s.refresh == nil {
		return "", nil
	}
	tok, hash := newRefreshToken()
	_, err := s.refresh.CreateRefreshFamily(ctx, store.RefreshFamily{
		UserID: user.ID, ClientID: clientID, Scope: scope, JKT: jkt, AccountEpoch: user.DeviceEpoch,
		CreatedAt: now, AbsoluteExpiresAt: now.Add(s.cfg.RefreshTTL),
	}, hash, now.Add(s.cfg.RefreshIdleTTL), s.cfg.RefreshFamiliesPerUser)
	if err != nil {
		return "", err
	}
	return tok, nil
}

// scopeWithin reports whether every scope token of req is in granted.
func scopeWithin(req, granted string) bool { return scope.Within(req, granted) }

// newJTI returns a random 128-bit token identifier.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
