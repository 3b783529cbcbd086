package server

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/verify"
)

// Revocations records access tokens revoked before their expiry, by jti
// (store/sqlite). Implementations are safe for concurrent use.
type Revocations interface {
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
}

// revoke handles POST /revoke (RFC 7009). A refresh token revokes its whole
// family; an access token (one of our JWTs, still valid) is revoked by jti
// until it expires. Unknown, invalid and already revoked tokens get the
// same 200 as a successful revocation (§2.2): the answer says nothing about
// a token, and the client's goal (the token is unusable) holds either way.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	tok, ok := form["token"]
	if !ok || tok == "" {
		return invalidRequest("missing parameter: token")
	}
	client, err := clientID(r, form["client_id"])
	if err != nil {
		return err
	}
	client = cmp.Or(client, s.cfg.DefaultClientID)
	ctx := r.Context()
	now := s.cfg.Now()
	// token_type_hint only saves a lookup (§2.1); the token's shape says
	// what it is, so the hint is not needed and never trusted.
	switch {
	case wellFormedRefresh(tok) && s.refresh != nil:
		err = s.revokeRefresh(ctx, now, tok, client)
	case strings.Count(tok, ".") == 2 && s.revocations != nil:
		err = s.revokeAccess(ctx, now, tok, client)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// errOtherClient refuses to revoke a token issued to another client (RFC
// 7009 §2.1).
var errOtherClient = &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the token was not issued to this client"}

func (s *Server) revokeRefresh(ctx context.Context, now time.Time, tok, client string) error {
	fam, err := s.refresh.RefreshFamilyByToken(ctx, refreshHash(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return unavailable(err)
	case fam.ClientID != client:
		return errOtherClient
	case !fam.RevokedAt.IsZero():
		return nil
	}
	if err := s.refresh.RevokeRefreshFamily(ctx, fam.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable(err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "refresh.revoke", slog.String("sub", fam.UserID), slog.String("family", fam.ID))
	return nil
}

func (s *Server) revokeAccess(ctx context.Context, now time.Time, tok, client string) error {
	claims, err := s.verifier.Verify(now, tok)
	if err != nil {
		return nil // not a live token of ours: nothing to revoke
	}
	if claims.ClientID != client {
		return errOtherClient
	}
	// Verifiers accept a token until exp + leeway; the row must outlive that.
	if err := s.revocations.RevokeJTI(ctx, claims.ID, claims.ExpiresAt.Add(s.cfg.Leeway+time.Second)); err != nil {
		return unavailable(err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "token.revoke", slog.String("sub", claims.Subject), slog.String("jti", claims.ID))
	return nil
}

// Why checkAccount refuses a token, for logs; verify answers both as 401
// invalid_token, "the access token is no longer valid".
var (
	errTokenRevoked   = errors.New("the access token was revoked")
	errAccountChanged = errors.New("the account is gone, disabled or changed since the token was issued")
)

// checkAccount is verify's CheckAccount for the resource endpoints: what
// only credshield itself knows about a verified token. Its jti was not
// revoked, and its account still exists, is enabled and has not changed
// since the token was issued (the token's account epoch is the account's
// current one: a password reset, a disable, an enable or a change of
// scopes since then ends it). The account read goes back to authorize
// through the request context.
func (s *Server) checkAccount(ctx context.Context, claims *verify.Claims) error {
	if s.revocations != nil {
		revoked, err := s.revocations.JTIRevoked(ctx, claims.ID, s.cfg.Now())
		switch {
		case err != nil:
			return unavailableResource(err)
		case revoked:
			return errTokenRevoked
		}
	}
	user, err := s.users.UserByID(ctx, claims.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (user.Disabled || claims.AccountEpoch != user.DeviceEpoch)):
		return errAccountChanged
	case err != nil:
		return unavailableResource(err)
	}
	if slot, ok := ctx.Value(accountKey{}).(*store.User); ok {
		*slot = user
	}
	return nil
}
