package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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

// openAPIDocument describes the service as FastAPI would: an OAuth2
// password flow whose tokenUrl clients and scanners discover.
func openAPIDocument(issuer string) ([]byte, error) {
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "credshield", "version": "1"},
		"servers": []any{map[string]any{"url": issuer}},
		"paths": map[string]any{
			"/token": map[string]any{"post": map[string]any{
				"summary":     "Issue an access token (OAuth 2.0 password grant, RFC 6749 §4.3)",
				"operationId": "token",
				"requestBody": map[string]any{"required": true, "content": map[string]any{
					"application/x-www-form-urlencoded": map[string]any{"schema": map[string]any{
						"type":     "object",
						"required": []string{},
						"properties": map[string]any{
							"grant_type":    map[string]any{"type": "string", "enum": []string{"password", "refresh_token"}},
							"username":      map[string]any{"type": "string", "description": "password grant"},
							"password":      map[string]any{"type": "string", "format": "password", "description": "password grant"},
							"refresh_token": map[string]any{"type": "string", "description": "refresh_token grant"},
							"scope":         map[string]any{"type": "string"},
							"client_id":     map[string]any{"type": "string"},
						},
					}},
				}},
				"responses": map[string]any{
					"200": map[string]any{"description": "Access token", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Token"}}}},
					"400": errResp("invalid_request, invalid_grant, unsupported_grant_type or invalid_scope"),
					"401": errResp("invalid_client"),
					"503": errResp("temporarily_unavailable; see Retry-After"),
				},
			}},
			"/revoke": map[string]any{"post": map[string]any{
				"summary":     "Revoke a refresh token (its whole family) or an access token (RFC 7009)",
				"operationId": "revoke",
				"requestBody": map[string]any{"required": true, "content": map[string]any{
					"application/x-www-form-urlencoded": map[string]any{"schema": map[string]any{
						"type":     "object",
						"required": []string{"token"},
						"properties": map[string]any{
							"token":           map[string]any{"type": "string"},
							"token_type_hint": map[string]any{"type": "string", "enum": []string{"access_token", "refresh_token"}},
							"client_id":       map[string]any{"type": "string"},
						},
					}},
				}},
				"responses": map[string]any{
					"200": map[string]any{"description": "Revoked, or unknown / already revoked (RFC 7009 §2.2)"},
					"400": errResp("invalid_request"),
					"503": errResp("temporarily_unavailable; see Retry-After"),
				},
			}},
			"/verify": map[string]any{"get": map[string]any{
				"summary":     "Forward-auth check for a reverse proxy (nginx auth_request, Traefik ForwardAuth, Envoy)",
				"description": "Checks the Authorization (Bearer or DPoP) of the original request. For DPoP, a trusted proxy passes X-Forwarded-Method and X-Original-URI.",
				"operationId": "verify",
				"security":    []any{map[string]any{"OAuth2PasswordBearer": []string{}}},
				"responses": map[string]any{
					"200": map[string]any{"description": "Authenticated; identity in X-Auth-Subject, X-Auth-Username, X-Auth-Scope"},
					"401": errResp("missing or invalid token; see WWW-Authenticate"),
				},
			}},
			"/users/me": map[string]any{"get": map[string]any{
				"summary":     "The authenticated user",
				"operationId": "users_me",
				"security":    []any{map[string]any{"OAuth2PasswordBearer": []string{}}},
				"responses": map[string]any{
					"200": map[string]any{"description": "The user", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
						"type": "object", "properties": map[string]any{"username": map[string]any{"type": "string"}, "sub": map[string]any{"type": "string"}},
					}}}},
					"401": errResp("missing or invalid token; see WWW-Authenticate"),
				},
			}},
		},
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"OAuth2PasswordBearer": map[string]any{
					"type":  "oauth2",
					"flows": map[string]any{"password": map[string]any{"tokenUrl": issuer + "/token", "scopes": map[string]any{}}},
				},
			},
			"schemas": map[string]any{
				"Token": map[string]any{"type": "object", "required": []string{"access_token", "token_type", "expires_in"}, "properties": map[string]any{
					"access_token":  map[string]any{"type": "string"},
					"token_type":    map[string]any{"type": "string", "enum": []string{"Bearer", "DPoP"}},
					"expires_in":    map[string]any{"type": "integer"},
					"scope":         map[string]any{"type": "string"},
					"refresh_token": map[string]any{"type": "string"},
				}},
				"Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
					"error":             map[string]any{"type": "string"},
					"error_description": map[string]any{"type": "string"},
					"detail":            map[string]any{"type": "string"},
				}},
			},
		},
	}
	return json.Marshal(doc)
}
