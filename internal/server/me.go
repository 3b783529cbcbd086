package server

import (
	"net/http"

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

// me handles GET /users/me: strict token verification (and its DPoP proof
// for a bound token), then the token must not be revoked and the account
// must still exist and be enabled.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	now := s.cfg.Now()
	claims, err := s.authenticate(r, now, http.MethodGet, s.cfg.Issuer+"/users/me")
	if err != nil {
		return err
	}
	user, err := s.checkAccount(r.Context(), now, claims)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meResponse{Username: user.Username, Sub: user.ID})
	return nil
}

// schemeOf is the scheme a verified token was presented with.
func schemeOf(c *token.Claims) string {
	if c.JKT != "" {
		return schemeDPoP
	}
	return schemeBearer
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
