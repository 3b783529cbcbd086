package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRevoke(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice", "correct horse battery")
	revoke := func(form url.Values) response {
		t.Helper()
		return e.postForm("/revoke", form.Encode())
	}

	// A refresh token: its family dies, including tokens rotated from it.
	t0 := tokensOf(t, e.login("alice", "correct horse battery"))
	t1 := tokensOf(t, e.refresh(t0.refresh, nil))
	if res := revoke(url.Values{"token": {t1.refresh}, "token_type_hint": {"refresh_token"}}); res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("revoke refresh: %d %s", res.status, res.body)
	}
	wantRefreshRefused(t, "revoked family", e.refresh(t1.refresh, nil))
	if len(e.logs.Events("refresh.reuse")) != 0 {
		t.Error("revocation was logged as reuse")
	}

	// An access token: by jti, at once, at /users/me. The hint may be
	// wrong: the token's shape decides.
	if res := e.me("Bearer " + t1.access); res.status != http.StatusOK {
		t.Fatalf("before revocation: %d", res.status)
	}
	if res := revoke(url.Values{"token": {t1.access}, "token_type_hint": {"refresh_token"}}); res.status != http.StatusOK {
		t.Fatalf("revoke access: %d %s", res.status, res.body)
	}
	res := e.me("Bearer " + t1.access)
	if res.status != http.StatusUnauthorized || !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("revoked access token at /users/me: %d %v", res.status, res.header)
	}
	if res := e.me("Bearer " + t0.access); res.status != http.StatusOK {
		t.Errorf("another access token of the same user: %d", res.status)
	}

	// Unknown, garbage and already revoked tokens: 200 (RFC 7009 §2.2).
	for name, tok := range map[string]string{
		"unknown refresh": strings.Repeat("A", 43), "garbage": "x", "forged jwt": "a.b.c",
		"revoked refresh": t1.refresh, "revoked access": t1.access,
	} {
		if res := revoke(url.Values{"token": {tok}}); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, res.status, res.body)
		}
	}
	// Another client's token is refused; a missing token is a bad request.
	other := tokensOf(t, e.postToken(url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "client_id": {"app"}}.Encode()))
	for _, tok := range []string{other.refresh, other.access} {
		if res := revoke(url.Values{"token": {tok}, "client_id": {"evil"}}); res.status != http.StatusBadRequest {
			t.Errorf("other client's token: %d %s", res.status, res.body)
		}
	}
	tokensOf(t, e.refresh(other.refresh, url.Values{"client_id": {"app"}}))
	if res := revoke(url.Values{}); res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_request" {
		t.Errorf("no token: %d %s", res.status, res.body)
	}
	if res := get(t, e, "/revoke"); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /revoke: %d", res.status)
	}

	// Discovery documents name the endpoint.
	var meta map[string]any
	if err := json.Unmarshal(get(t, e, "/.well-known/oauth-authorization-server").body, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["revocation_endpoint"] != e.cfg.Issuer+"/revoke" {
		t.Errorf("metadata %v", meta)
	}
	if !strings.Contains(string(get(t, e, "/openapi.json").body), `"/revoke"`) {
		t.Error("openapi.json lacks /revoke")
	}
}
