package server

import (
	"net/http"
	"slices"
)

// cors answers browsers for the origins listed in --cors-origins and no
// others. It never sends a wildcard, and it answers preflights itself
// (before routing) so an unlisted origin learns nothing but a 403. Listed
// origins may send credentials: a cross-origin login page needs the device
// cookie (with --device-cookie-samesite none).
type cors struct {
	origins []string
}

func newCORS(origins []string) *cors { return &cors{origins: origins} }

func (c *cors) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		allowed := slices.Contains(c.origins, origin)
		h := w.Header()
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				writeJSON(w, http.StatusForbidden, errorBody{Error: "invalid_request", Description: "origin not allowed", Detail: "origin not allowed"})
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, DPoP-Nonce")
		}
		next.ServeHTTP(w, r)
	})
}
