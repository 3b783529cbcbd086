package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/verify"
)

// POST /password, top to bottom: an account holder changes their own
// password. The access token says who; the current password proves it is
// the holder and not someone who stole the token, so checking it is a
// login attempt in every way that matters to an attacker: it goes through
// the gate on the account's and the address's budgets before any hash,
// and a wrong one spends budget like a wrong login. A stolen token buys no
// more password guesses than the login form gives away.

// Passwords changes an account's password (store/sqlite, store/postgres).
// Implementations are safe for concurrent use.
type Passwords interface {
	// ChangePassword stores newHash while the account id still has
	// oldHash and epoch, raises the epoch, revokes every refresh-token
	// family of the account and clears its screening state, atomically;
	// store.ErrStale when the hash or epoch changed meanwhile.
	ChangePassword(ctx context.Context, id string, epoch uint32, oldHash, newHash, class string, now time.Time) (store.User, error)
}

// passwordChange is a parsed POST /password request.
type passwordChange struct {
	current string
	next    string // as sent; the policy returns the form to hash
	// creds are the device credential (form or cookie) and challenge
	// solution the gate reads, as at POST /token.
	creds gate.Credentials
}

// errCurrentPassword answers a wrong current password. The caller holds a
// valid token for the account, so naming the field tells nothing an
// attacker could use (it is the same account either way); the guess is
// spent all the same.
var errCurrentPassword = &oauthError{
	Status:      http.StatusBadRequest,
	Code:        "invalid_grant",
	Description: "the current password is incorrect",
}

// codeWeakPassword is the error code of a new password the rules refuse
// (too short, common, breached); its description names the rule.
const codeWeakPassword = "weak_password"

// changePassword handles POST /password. The order is the design:
// authenticate the token (package verify, with a DPoP proof for a bound
// token), parse, check the new password against the rules (no hash, no
// budget: refusing a weak new password costs the caller no guess), admit
// the attempt through the gate, verify the current password in the hasher
// pool, settle, then store the change and issue fresh tokens. Settle runs
// exactly once; the deferred Settle(Aborted) refunds every exit that
// judged nothing.
//
// Success raises the account epoch, which ends every access token and
// device credential issued before (this request's too), and revokes every
// refresh-token family; the answer carries a new access token, refresh
// token and device credential for this client, bound to the same DPoP key
// as the token that made the request, so the session that changed the
// password continues and every other one ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	ctx := r.Context()
	claims, user, err := s.authorize(s.meVerifier, r)
	if err != nil {
		return err
	}
	form, err := readForm(w, r)
	if err != nil {
		s.gate.Count(gate.Login, gate.Invalid)
		return err
	}
	req, err := parsePasswordChange(r, form)
	if err != nil {
		s.gate.Count(gate.Login, gate.Invalid)
		return err
	}
	normalised, err := s.policy.Check(req.next)
	switch {
	case errors.Is(err, password.ErrPolicy):
		return &oauthError{Status: http.StatusBadRequest, Code: codeWeakPassword, Description: "new_password: " + err.Error()}
	case err != nil:
		return unavailable(err) // the breach filter cannot be read
	}
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return fmt.Errorf("client address: %w", err)
	}
	now := s.cfg.Now()

	// The gate, as for a login of this account from this address: a
	// device credential of this account keeps its owner's own budget.
	res, _, _, err := s.admitPassword(ctx, now, ip, passwordGrant{username: user.Username, creds: req.creds})
	if err != nil {
		return err
	}
	defer res.Settle(gate.Aborted)

	match, _, err := s.verify(ctx, user.PasswordHash, req.current, res.Trusted(), user.Username)
	if err != nil {
		return err
	}
	via := slog.String("via", "password_change")
	if !match {
		res.Settle(gate.Failure, slog.String("sub", user.ID), slog.String("reason", "wrong_password"), via)
		s.floor.Pad(ctx, start)
		return errCurrentPassword
	}
	res.Settle(gate.Success, slog.String("sub", user.ID), via, slog.String("trust", string(res.Verdict().Trust)))

	// The new hash in the lane the current password was checked in: a
	// trusted owner changing a password while the account is attacked is
	// not queued behind the attack.
	hash, class, err := s.hashPassword(ctx, s.lane(res.Trusted(), user.Username), normalised)
	if err != nil {
		return err
	}
	user, err = s.passwords.ChangePassword(ctx, user.ID, user.DeviceEpoch, user.PasswordHash, hash, class, now)
	switch {
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		return accountChanged(claims.JKT, err)
	case err != nil:
		return unavailable(err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "password.change", slog.String("sub", user.ID), slog.String("username", user.Username),
		slog.String("ip", ip.String()), slog.String("action", "sessions, tokens and device credentials revoked"))

	// Fresh credentials for this client under the new epoch.
	client := cmp.Or(claims.ClientID, s.cfg.DefaultClientID)
	scope := s.grantedScope(user, claims.Scope)
	deviceToken := s.gate.IssueDevice(ctx, w, now, user.ID, user.Username, user.DeviceEpoch)
	access, err := s.signAccess(now, user, client, scope, claims.JKT)
	if err != nil {
		return err
	}
	refresh, err := s.startRefreshFamily(ctx, now, user, client, scope, claims.JKT)
	switch {
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		return accountChanged(claims.JKT, err)
	case err != nil:
		return unavailable(err)
	}
	s.writeTokens(w, tokenResponse{AccessToken: access, Scope: scope, RefreshToken: refresh, DeviceToken: deviceToken}, claims.JKT)
	return nil
}

// admitPassword is the gate of every password check (a login, the
// current password of a change) for req.username from ip: first the
// device credential in req.creds, if any (one HMAC; only a genuine one
// for this name costs an account read, returned with known so the
// caller does not repeat it), then the guard, before any hash: deny,
// demand a challenge, or allow with a reservation on its budgets. The
// caller defers Settle(gate.Aborted) on the reservation at once. Errors
// are a refusal, or a 503 when the guard or the store cannot answer.
func (s *Server) admitPassword(ctx context.Context, now time.Time, ip netip.Addr, req passwordGrant) (*gate.Reservation, store.User, bool, error) {
	dev, user, known, err := s.trustedDevice(ctx, now, req)
	if err != nil {
		s.gate.Count(gate.Login, gate.Aborted)
		return nil, store.User{}, false, unavailable(err)
	}
	res, err := s.gate.Admit(ctx, now, gate.Attempt{Kind: gate.Login, Username: req.username, IP: ip, Device: dev.ID,
		Challenge: req.creds.Challenge, Solution: req.creds.Solution})
	if err != nil {
		return nil, store.User{}, false, err
	}
	return res, user, known, nil
}

// parsePasswordChange reads and validates a POST /password form. Every
// rejection is a precise invalid_request.
func parsePasswordChange(r *http.Request, form map[string]string) (passwordChange, error) {
	var req passwordChange
	for _, name := range []string{"current_password", "new_password"} {
		if _, ok := form[name]; !ok {
			return req, invalidRequest("missing parameter: %s", name)
		}
	}
	req.current, req.next = form["current_password"], form["new_password"]
	var err error
	req.creds, err = gate.ReadCredentials(r, form, "")
	return req, err
}

// lane is the hasher pool's lane for a password check of username: the
// priority lane, shared fairly between accounts, for clients the guard
// trusts; the common one otherwise.
func (s *Server) lane(trusted bool, username string) func(ctx context.Context, fn func()) error {
	if trusted {
		return func(ctx context.Context, fn func()) error { return s.hasher.DoFirst(ctx, username, fn) }
	}
	return s.hasher.Do
}

// hashPassword hashes a new password (already in its NFKC form) with the
// configured parameters in the hasher pool through do (a lane), and
// returns the hash and its class.
func (s *Server) hashPassword(ctx context.Context, do func(ctx context.Context, fn func()) error, normalised string) (hash, class string, err error) {
	var herr error
	if err := do(ctx, func() { hash, herr = password.Hash(rand.Reader, []byte(normalised), s.cfg.Argon) }); err != nil {
		return "", "", unavailable(err)
	}
	if herr != nil {
		return "", "", fmt.Errorf("hash new password: %w", herr)
	}
	if class, err = password.Check(hash); err != nil {
		return "", "", fmt.Errorf("hash new password: %w", err)
	}
	return hash, class, nil
}

// tokenScheme is the authorization scheme of a token bound to jkt ("" for
// a bearer token).
func tokenScheme(jkt string) string {
	if jkt != "" {
		return schemeDPoP
	}
	return schemeBearer
}

// accountChanged is the answer to a password change that a reset, a
// disable or another change overtook: the request's token is dead too, and
// says so as verify would on the next request.
func accountChanged(jkt string, err error) error {
	return &verify.Error{Status: http.StatusUnauthorized, Scheme: tokenScheme(jkt), Code: "invalid_token",
		Description: "the account changed during the request; sign in again", Err: err}
}
