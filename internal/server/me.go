package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/verify"
)

// meResponse is the body of GET /users/me, shaped like the FastAPI example's.
type meResponse struct {
	Username string `json:"username"`
	Sub      string `json:"sub"`
}

// me handles GET /users/me: the request's token is checked by package
// verify (signature, claims, DPoP proof for a bound token) with what only
// this service knows added through its hooks (the proof budget, revoked
// jtis, disabled or changed accounts).
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	_, user, err := s.authorize(s.meVerifier, r)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meResponse{Username: user.Username, Sub: user.ID})
	return nil
}

// newResourceVerifier is the verify.Verifier of a resource endpoint over
// the service's own keys, DPoP checker and account records: resourceURL
// is what a DPoP proof's htu starts with, target (nil: the request itself)
// names the request a proof is for.
func (s *Server) newResourceVerifier(ctx context.Context, resourceURL string, target func(*http.Request) (string, string, error)) (*verify.Verifier, error) {
	return verify.New(ctx, verify.Config{
		Issuer:       s.cfg.Issuer,
		Audience:     s.cfg.Audience,
		Keys:         s.keys,
		ResourceURL:  resourceURL,
		Leeway:       s.cfg.Leeway,
		RequireDPoP:  s.cfg.RequireDPoP,
		DPoPChecker:  s.dpop,
		ProofTarget:  target,
		AdmitProof:   s.admitProof,
		CheckAccount: s.checkAccount,
		Realm:        s.cfg.Realm,
		Now:          s.cfg.Now,
	})
}

// accountKey is the context key under which authorize lets checkAccount
// hand back the account it read, so a request reads it once.
type accountKey struct{}

// authorize runs v over r and returns the token's claims and its account.
// Errors are *verify.Error, for refuseResource.
func (s *Server) authorize(v *verify.Verifier, r *http.Request) (*verify.Claims, store.User, error) {
	var user store.User
	claims, err := v.Verify(r.WithContext(context.WithValue(r.Context(), accountKey{}, &user)))
	if err != nil {
		return nil, store.User{}, err
	}
	return claims, user, nil
}

// refuseResource answers a resource request verify refused, as verify
// answers it (RFC 6750 / RFC 9449 challenges, Retry-After, no-store), and
// logs why. Both resource verifiers render alike (same realm, algorithms
// and RequireDPoP), so either can write.
func (s *Server) refuseResource(w http.ResponseWriter, r *http.Request, e *verify.Error) {
	level, msg := slog.LevelInfo, "token.rejected"
	switch {
	case e.Status >= http.StatusInternalServerError:
		level, msg = slog.LevelWarn, "request failed"
	case e.Code == "":
		level = slog.LevelDebug // no credentials: a challenge, not an attack
	case e.Scheme == schemeDPoP && e.Code != "invalid_token":
		msg = "dpop.rejected"
	}
	attrs := []slog.Attr{slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr), slog.String("error", e.Error())}
	s.log.LogAttrs(r.Context(), level, msg, attrs...)
	s.meVerifier.WriteError(w, e)
}
