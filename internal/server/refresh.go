package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/scope"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/token"
)

// RefreshStore keeps refresh-token families by token hash (store/sqlite).
// The server never hands it a usable token: only SHA-256 hashes. Errors
// wrap the store sentinels (ErrNotFound, ErrReused, ErrRevoked,
// ErrExpired). Implementations are safe for concurrent use.
type RefreshStore interface {
	CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (store.RefreshFamily, error)
	RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error)
	RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (store.RefreshFamily, error)
	RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error
}

// Default refresh-token lifetimes (Config.RefreshTTL, RefreshIdleTTL).
const (
	DefaultRefreshTTL     = 30 * 24 * time.Hour
	DefaultRefreshIdleTTL = 7 * 24 * time.Hour
	// DefaultRefreshFamiliesPerUser is Config.RefreshFamiliesPerUser's
	// default: far more devices and browsers than a person uses.
	DefaultRefreshFamiliesPerUser = 100
)

// refreshTokenLen is the length of a refresh token: 256 random bits,
// unpadded base64url.
const refreshTokenLen = 43

// refreshFailed is the one answer to every refresh token that cannot be
// redeemed (RFC 6749 §5.2): unknown, used, revoked, expired, bound to
// another key or issued to another client look the same.
var refreshFailed = &oauthError{
	Status:      http.StatusBadRequest,
	Code:        "invalid_grant",
	Description: "the refresh token is invalid, expired or revoked",
}

// newRefreshToken returns a fresh refresh token and the hash it is stored
// under.
func newRefreshToken() (tok, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok = base64.RawURLEncoding.EncodeToString(b[:])
	return tok, refreshHash(tok)
}

// refreshHash is the stored form of a refresh token: hex SHA-256. The token
// holds 256 random bits, so a fast hash suffices (no guessing to slow down).
func refreshHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// wellFormedRefresh reports whether tok can be one of ours.
func wellFormedRefresh(tok string) bool {
	if len(tok) != refreshTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// startRefreshFamily starts a refresh-token family for a login and returns
// its first token; "" when refresh tokens are off.
func (s *Server) startRefreshFamily(ctx context.Context, now time.Time, userID, clientID, scope, jkt string) (string, error) {
	if s.refresh == nil {
		return "", nil
	}
	tok, hash := newRefreshToken()
	_, err := s.refresh.CreateRefreshFamily(ctx, store.RefreshFamily{
		UserID: userID, ClientID: clientID, Scope: scope, JKT: jkt,
		CreatedAt: now, AbsoluteExpiresAt: now.Add(s.cfg.RefreshTTL),
	}, hash, now.Add(s.cfg.RefreshIdleTTL), s.cfg.RefreshFamiliesPerUser)
	if err != nil {
		return "", err
	}
	return tok, nil
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

// refreshToken runs the refresh_token grant (RFC 6749 §6): the token is
// rotated on every use, and a token presented a second time revokes its
// family (the token leaked: either the thief or the client used it first).
// The guard runs before the rotation, keyed by the family's user and the
// client address, so guessing and replaying burn the address's budget.
func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request, form map[string]string) error {
	ctx := r.Context()
	raw, ok := form["refresh_token"]
	if !ok || raw == "" {
		s.metrics.attempt(outcomeInvalid)
		return invalidRequest("missing parameter: refresh_token")
	}
	scope, err := normaliseScope(form["scope"])
	if err != nil {
		s.metrics.attempt(outcomeInvalid)
		return err
	}
	client, err := clientID(r, form["client_id"])
	if err != nil {
		s.metrics.attempt(outcomeInvalid)
		return err
	}
	client = cmp.Or(client, s.cfg.DefaultClientID)
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return err
	}
	now := s.cfg.Now()

	// The guard first, on the client address alone (no account budget, no
	// challenge: the token is 256 random bits), so that a flood of made-up
	// tokens stops before it costs a proof check or a database read.
	verdict, err := s.guard.CheckAddress(ctx, now, ip)
	if err != nil {
		s.metrics.attempt(outcomeUnavailable)
		return unavailable(err)
	}
	s.metrics.verdict(verdict)
	if !verdict.Allowed {
		return s.refuse(ctx, w, now, verdict, nil, ip.String(), "")
	}
	jkt, err := s.tokenProofAfterGuard(ctx, r, now, verdict)
	if err != nil {
		return err
	}
	var fam store.RefreshFamily
	if !wellFormedRefresh(raw) {
		s.record(ctx, verdict, guard.Failure)
		s.metrics.attempt(outcomeFailure)
		return refreshFailed
	}
	hash := refreshHash(raw)
	fam, err = s.refresh.RefreshFamilyByToken(ctx, hash)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.record(ctx, verdict, guard.Aborted)
		s.metrics.attempt(outcomeUnavailable)
		return unavailable(err)
	}
	var user store.User
	if known {
		user, err = s.users.UserByID(ctx, fam.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			known = false
		case err != nil:
			s.record(ctx, verdict, guard.Aborted)
			s.metrics.attempt(outcomeUnavailable)
			return unavailable(err)
		}
	}
	fail := func(outcome guard.Outcome, reason string) error {
		s.record(ctx, verdict, outcome)
		s.metrics.attempt(outcomeFailure)
		s.log.LogAttrs(ctx, slog.LevelInfo, "refresh.failure", slog.String("ip", ip.String()),
			slog.String("family", fam.ID), slog.String("reason", reason))
		return refreshFailed
	}
	switch {
	case !known:
		return fail(guard.UnknownUser, "unknown_token")
	case fam.ClientID != client:
		return fail(guard.Failure, "client_mismatch")
	case fam.JKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(fam.JKT)) != 1:
		// RFC 9449 §5: a bound refresh token is redeemable only with a
		// proof from its key; a thief holding the token alone gets nothing.
		return fail(guard.Failure, "dpop_key_mismatch")
	case user.Disabled:
		if err := s.refresh.RevokeRefreshFamily(ctx, fam.ID, now); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "revoke refresh family", slog.String("error", err.Error()))
		}
		return fail(guard.Failure, "disabled")
	case scope != "" && !scopeWithin(scope, fam.Scope):
		s.record(ctx, verdict, guard.Aborted)
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "the requested scope exceeds the scope originally granted"}
	case scope != "" && s.grantedScope(user, scope) != scope:
		s.record(ctx, verdict, guard.Aborted)
		return errScopeNotGranted
	}

	next, nextHash := newRefreshToken()
	fam, err = s.refresh.RotateRefreshToken(ctx, hash, nextHash, now, now.Add(s.cfg.RefreshIdleTTL))
	switch {
	case errors.Is(err, store.ErrReused):
		s.log.LogAttrs(ctx, slog.LevelWarn, "refresh.reuse",
			slog.String("sub", fam.UserID), slog.String("family", fam.ID), slog.String("client_id", fam.ClientID),
			slog.String("ip", ip.String()), slog.String("action", "family revoked"))
		return fail(guard.Failure, "reuse")
	case errors.Is(err, store.ErrRevoked):
		return fail(guard.Failure, "revoked")
	case errors.Is(err, store.ErrExpired):
		return fail(guard.Failure, "expired")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrStale):
		return fail(guard.Failure, "raced")
	case err != nil:
		s.record(ctx, verdict, guard.Aborted)
		s.metrics.attempt(outcomeUnavailable)
		return unavailable(err)
	}
	s.record(ctx, verdict, guard.Success)
	s.metrics.attempt(outcomeSuccess)

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
	tokenType := schemeBearer
	if bind != "" {
		tokenType = schemeDPoP
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "refresh.success", slog.String("sub", user.ID), slog.String("family", fam.ID), slog.String("ip", ip.String()))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  access,
		TokenType:    tokenType,
		ExpiresIn:    int64(s.cfg.AccessTTL / time.Second),
		Scope:        scope,
		RefreshToken: next,
	})
	return nil
}

// scopeWithin reports whether every scope token of req is in granted.
func scopeWithin(req, granted string) bool { return scope.Within(req, granted) }
