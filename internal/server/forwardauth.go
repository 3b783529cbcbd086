package server

import (
	"net/http"
	"strings"

	"github.com/credshield/credshield/verify"
)

// Headers of a forward-auth exchange: what a trusted proxy says about the
// original request, and what /verify answers about the caller.
const (
	headerForwardedMethod = "X-Forwarded-Method" // nginx (set by config), Traefik
	headerOriginalURI     = "X-Original-URI"     // nginx's $request_uri
	headerForwardedURI    = "X-Forwarded-Uri"    // Traefik's name for the same
	headerAuthSubject     = "X-Auth-Subject"
	headerAuthUsername    = "X-Auth-Username"
	headerAuthScope       = "X-Auth-Scope"
)

// verifyRequest handles /verify, the forward-auth endpoint for nginx
// auth_request, Traefik ForwardAuth and Envoy ext_authz: it checks the
// original request's credentials as /users/me does (signature, claims,
// DPoP proof, revoked jti, disabled or changed account) and answers 200
// with the caller's identity in X-Auth-* headers, or 401 with RFC 6750 /
// RFC 9449 challenges for the proxy to pass on.
//
// The token's client_id is not among the headers: a public client names
// itself, nothing authenticates it, so an application behind the proxy
// must not take it for an identity. It can be exported once registered,
// authenticated clients exist.
//
// For a DPoP-bound token the proof must name the original request. Its
// method and URI come from X-Forwarded-Method and X-Original-URI (or
// X-Forwarded-Uri) only when the peer is a trusted proxy (the client
// address resolver's rule), and the URL is ResourceURL plus the URI's
// path: never the Host header, never a header an arbitrary client could
// set.
func (s *Server) verifyRequest(w http.ResponseWriter, r *http.Request) error {
	// A trusted proxy's malformed account of the original request is
	// refused whatever the token, as the proxy's misconfiguration.
	if _, _, err := s.originalRequest(r); err != nil {
		return err
	}
	claims, user, err := s.authorize(s.forwardVerifier, r)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set(headerAuthSubject, user.ID)
	h.Set(headerAuthUsername, user.Username)
	h.Set(headerAuthScope, claims.Scope)
	w.WriteHeader(http.StatusOK)
	return nil
}

// errNoOriginalRequest refuses a DPoP-bound token at /verify when no
// trusted proxy said which request its proof is for: there is nothing to
// compare the proof with.
var errNoOriginalRequest = &verify.Error{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: "invalid_token",
	Description: "a DPoP-bound token needs the original method and URI from a trusted proxy"}

// proofTarget is verify's ProofTarget for /verify: the original request,
// as a trusted proxy reports it.
func (s *Server) proofTarget(r *http.Request) (method, path string, err error) {
	method, path, err = s.originalRequest(r)
	if err == nil && path == "" {
		err = errNoOriginalRequest
	}
	return method, path, err
}

// originalRequest returns the method and path the original request was
// made with, as a trusted proxy reports them; "", "" when the peer is not
// trusted or reports nothing. The query never takes part in the htu
// comparison (RFC 9449 §4.3).
func (s *Server) originalRequest(r *http.Request) (method, path string, err error) {
	if !s.clientIP.PeerTrusted(r.RemoteAddr) {
		return "", "", nil
	}
	method = r.Header.Get(headerForwardedMethod)
	uri := r.Header.Get(headerOriginalURI)
	if uri == "" {
		uri = r.Header.Get(headerForwardedURI)
	}
	if method == "" || uri == "" {
		return "", "", nil
	}
	if !isMethodToken(method) {
		return "", "", badOriginalRequest(headerForwardedMethod + " is not a method")
	}
	// The request target in origin form.
	path, _, _ = strings.Cut(uri, "?")
	path, _, _ = strings.Cut(path, "#")
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return "", "", badOriginalRequest("the original URI is not an absolute path")
	}
	return method, path, nil
}

// badOriginalRequest is a trusted proxy's malformed account of the
// original request.
func badOriginalRequest(desc string) *verify.Error {
	return &verify.Error{Status: http.StatusBadRequest, Scheme: schemeBearer, Code: "invalid_request", Description: desc}
}

// isMethodToken reports whether m is an upper-case HTTP method token.
func isMethodToken(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
