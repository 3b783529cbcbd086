package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/credshield/credshield/store"
	"github.com/credshield/credshield/token"
)

// meResponse is the body of GET /users/me, shaped like the FastAPI example's.
type meResponse struct {
	Username string `json:"username"`
	Sub      string `json:"sub"`
}

// errNoToken answers a request that carried no credentials: RFC 6750 §3.1
// says the challenge then names only the realm.
var errNoToken = &bearerError{Status: http.StatusUnauthorized, Description: "Not authenticated"}

// me handles GET /users/me: strict token verification, then the account
// must still exist and be enabled.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	raw, err := bearerToken(r)
	if err != nil {
		return err
	}
	claims, err := s.verifier.Verify(s.cfg.Now(), raw)
	if err != nil {
		desc := "the access token is invalid"
		if errors.Is(err, token.ErrExpired) {
			desc = "the access token expired"
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "token.rejected", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
		return &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Cause: err}
	}
	user, err := s.users.UserByID(r.Context(), claims.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled):
		return &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid"}
	case err != nil:
		return unavailable(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meResponse{Username: user.Username, Sub: user.ID})
	return nil
}

// bearerToken extracts the RFC 6750 §2.1 token from the Authorization
// header. Tokens in the query string or form body (§2.2, §2.3) are not
// accepted: they leak into logs and caches.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", errNoToken
	}
	if len(values) > 1 {
		return "", &bearerError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, DPoP before it is supported) is not a
		// bearer credential: answer as if none was sent.
		return "", errNoToken
	}
	tok = strings.TrimLeft(tok, " ")
	if !ok || tok == "" || !isToken68(tok) {
		return "", &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is malformed"}
	}
	return tok, nil
}

// isToken68 reports whether s matches RFC 7235's token68 syntax, which is
// what RFC 6750 §2.1 allows in b64token.
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
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}
