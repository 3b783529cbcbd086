package server

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// jwks serves the public keys. Verifiers cache it; a short max-age lets a
// staged rotation reach them before the new key signs.
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) error {
	b, err := s.keys.JWKS()
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
	return nil
}

// serveStatic serves a document computed once at start.
func (s *Server) serveStatic(doc []byte, cacheControl string) handlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) error {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		_, _ = w.Write(doc)
		return nil
	}
}

// healthz says the process is alive; it checks nothing else, so a slow
// database never gets a healthy process restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz says whether the service can answer logins now: the database must
// answer within two seconds. A replica whose shared guard store is away is
// still ready (200) but says "degraded": it guards on divided local budgets
// and challenges every untrusted client, which a load balancer should not
// take out of rotation for.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.users.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return nil
	}
	if s.degraded != nil && s.degraded() {
		writeJSON(w, http.StatusOK, map[string]string{"status": "degraded", "database": "ok", "guard_store": "unreachable: local fallback"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
	return nil
}

// metadataDocument is the RFC 8414 authorization server metadata. Every URL
// derives from the configured issuer, never from a request's Host header.
func metadataDocument(issuer string, refresh bool, dpopAlgs []string) ([]byte, error) {
	grants := []string{"password"}
	if refresh {
		grants = append(grants, "refresh_token")
	}
	return json.Marshal(map[string]any{
		"issuer":                                     issuer,
		"token_endpoint":                             issuer + "/token",
		"jwks_uri":                                   issuer + "/.well-known/jwks.json",
		"revocation_endpoint":                        issuer + "/revoke",
		"grant_types_supported":                      grants,
		"response_types_supported":                   []string{},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
		"dpop_signing_alg_values_supported":          dpopAlgs,
	})
}

// openAPITemplate is the OpenAPI description of the service, as FastAPI
// would give it: an OAuth2 password flow whose tokenUrl clients and
// scanners discover. A string that starts with issuerPlaceholder stands for
// a URL under the configured issuer.
//
//go:embed openapi.json
var openAPITemplate []byte

// issuerPlaceholder begins, in openapi.json, every URL under the issuer.
const issuerPlaceholder = "{issuer}"

// openAPIDocument returns the OpenAPI description with the issuer's URLs
// filled in, as compact JSON. New calls it, so a template that does not
// parse or lacks what clients read (see checkOpenAPI) stops the server at
// start rather than serving a broken /openapi.json.
func openAPIDocument(issuer string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPITemplate, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := checkOpenAPI(doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	return json.Marshal(fillIssuer(doc, issuer))
}

// checkOpenAPI checks that doc is an OpenAPI 3 document with paths, whose
// servers and password flow name the issuer: what clients and scanners
// read of it.
func checkOpenAPI(doc map[string]any) error {
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		return fmt.Errorf("openapi version %q, want 3.x", v)
	}
	if info, _ := doc["info"].(map[string]any); info == nil || info["title"] == nil || info["version"] == nil {
		return errors.New("info needs a title and a version")
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		return errors.New("no paths")
	}
	for p, item := range paths {
		if _, ok := item.(map[string]any); !ok || !strings.HasPrefix(p, "/") {
			return fmt.Errorf("path %q: want an object under a path starting with /", p)
		}
	}
	servers, _ := doc["servers"].([]any)
	if len(servers) != 1 || jsonAt(servers[0], "url") != issuerPlaceholder {
		return fmt.Errorf("servers: want one, with url %q", issuerPlaceholder)
	}
	if u := jsonAt(doc, "components", "securitySchemes", "OAuth2PasswordBearer", "flows", "password", "tokenUrl"); u != issuerPlaceholder+"/token" {
		return fmt.Errorf("password flow tokenUrl %v, want %q", u, issuerPlaceholder+"/token")
	}
	return nil
}

// jsonAt returns the value at the object keys path under v, nil when
// there is none.
func jsonAt(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// fillIssuer returns v with issuerPlaceholder at the start of every string
// replaced by issuer (in place: v is a freshly decoded document).
func fillIssuer(v any, issuer string) any {
	switch v := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(v, issuerPlaceholder); ok {
			return issuer + rest
		}
	case map[string]any:
		for k, e := range v {
			v[k] = fillIssuer(e, issuer)
		}
	case []any:
		for i, e := range v {
			v[i] = fillIssuer(e, issuer)
		}
	}
	return v
}
