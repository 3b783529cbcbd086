package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/token"
)

const accountPW = "correct horse battery"

// loginScope asks for a token with scope and client_id.
func (e *testEnv) loginScope(name, scope, client string) response {
	e.t.Helper()
	return e.postToken(url.Values{"username": {name}, "password": {accountPW}, "scope": {scope}, "client_id": {client}}.Encode())
}

// scopeClaim is the scope claim of an access token.
func scopeClaim(t *testing.T, access string) any {
	t.Helper()
	_, claims := decodeJWT(t, access)
	return claims["scope"]
}

// TestTokenScopeOutsidePolicyRefused: a client asking for scopes that are
// neither allowed to every account (--allowed-scopes) nor granted to the
// account gets invalid_scope, not a token that says so.
func TestTokenScopeOutsidePolicyRefused(t *testing.T) {
	e := newTestEnv(t, withScopes("read"))
	e.addUser("alice", accountPW)
	e.addUser("bob", accountPW)
	if err := e.st.SetScopes(context.Background(), "bob", "billing:write", time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, scope string
		want              string // the granted scope; "" with refused
		refused           bool
	}{
		{"admin and billing for alice", "alice", "admin billing:write", "", true},
		{"one allowed, one not", "alice", "read admin", "", true},
		{"bob's grant is not alice's", "alice", "billing:write", "", true},
		{"allowed to everyone", "alice", "read", "read", false},
		{"no scope asked, none given", "alice", "", "", false},
		{"bob's own grant and the allowed one", "bob", "read billing:write", "read billing:write", false},
		{"bob asks beyond his grant", "bob", "billing:write admin", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.loginScope(tt.user, tt.scope, "first-party-admin-console")
			if tt.refused {
				body := res.json(t)
				if res.status != http.StatusBadRequest || body["error"] != "invalid_scope" || body["access_token"] != nil || body["refresh_token"] != nil {
					t.Fatalf("scope %q: %d %s, want 400 invalid_scope and no token", tt.scope, res.status, res.body)
				}
				return
			}
			tk := tokensOf(t, res)
			if got, _ := res.json(t)["scope"].(string); got != tt.want {
				t.Errorf("response scope %q, want %q", got, tt.want)
			}
			if got, _ := scopeClaim(t, tk.access).(string); got != tt.want {
				t.Errorf("scope claim %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRefreshNarrowsScopeToCurrentPolicy: a family keeps no scope the
// policy no longer grants — neither one a family started before the
// policy existed carries, nor one removed from the account since.
func TestRefreshNarrowsScopeToCurrentPolicy(t *testing.T) {
	e := newTestEnv(t, withScopes("read"))
	u := e.addUser("alice", accountPW)
	ctx := context.Background()
	now := time.Now()

	// A family as the server before the policy issued it: "admin" asked
	// for and granted.
	old, oldHash := newRefreshToken()
	if _, err := e.st.CreateRefreshFamily(ctx, store.RefreshFamily{
		UserID: u.ID, ClientID: "first-party-admin-console", Scope: "read admin",
		CreatedAt: now, AbsoluteExpiresAt: now.Add(time.Hour),
	}, oldHash, now.Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	// Asking for the old scope explicitly is refused, and does not spend
	// the token.
	if res := e.refresh(old, url.Values{"client_id": {"first-party-admin-console"}, "scope": {"admin"}}); res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_scope" {
		t.Errorf("refresh asking for admin: %d %s, want invalid_scope", res.status, res.body)
	}
	res := e.refresh(old, url.Values{"client_id": {"first-party-admin-console"}})
	tk := tokensOf(t, res)
	if got := res.json(t)["scope"]; got != "read" {
		t.Errorf("refreshed response scope %v, want read", got)
	}
	if got := scopeClaim(t, tk.access); got != "read" {
		t.Errorf("refreshed scope claim %v, want read", got)
	}

	// A grant removed from the account leaves the next refresh's token.
	if err := e.st.SetScopes(ctx, "alice", "billing:write", now); err != nil {
		t.Fatal(err)
	}
	tk = tokensOf(t, e.loginScope("alice", "read billing:write", "app"))
	if err := e.st.SetScopes(ctx, "alice", "", now); err != nil {
		t.Fatal(err)
	}
	res = e.refresh(tk.refresh, url.Values{"client_id": {"app"}})
	if got := scopeClaim(t, tokensOf(t, res).access); got != "read" {
		t.Errorf("after the grant was removed: scope claim %v, want read", got)
	}
}

// TestVerifyDoesNotExportClientID: client_id is whatever the client says,
// so /verify must not hand it to the application as an identity.
func TestVerifyDoesNotExportClientID(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice", accountPW)
	tk := tokensOf(t, e.loginScope("alice", "", "first-party-admin-console"))
	res := get(t, e, "/verify", "Authorization", "Bearer "+tk.access)
	if res.status != http.StatusOK {
		t.Fatalf("/verify: %d %s", res.status, res.body)
	}
	if v, ok := res.header["X-Auth-Client-Id"]; ok {
		t.Errorf("/verify exports X-Auth-Client-Id %q", v)
	}
}

// wantTokenDead checks that /users/me and /verify refuse access.
func wantTokenDead(t *testing.T, e *testEnv, step, access string) {
	t.Helper()
	if res := e.me("Bearer " + access); res.status != http.StatusUnauthorized {
		t.Errorf("%s: /users/me %d, want 401", step, res.status)
	}
	if res := get(t, e, "/verify", "Authorization", "Bearer "+access); res.status != http.StatusUnauthorized {
		t.Errorf("%s: /verify %d, want 401", step, res.status)
	}
}

// TestAccessTokenDiesOnPasswordReset: an access token issued before a
// password reset stops working at once, not when it expires.
func TestAccessTokenDiesOnPasswordReset(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("bob", accountPW)
	access := e.accessToken("bob", accountPW)
	if res := e.me("Bearer " + access); res.status != http.StatusOK {
		t.Fatalf("before reset: /users/me %d", res.status)
	}
	if _, err := e.st.SetPassword(context.Background(), "bob", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$x", "argon2id$v=19$m=19456,t=2,p=1", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantTokenDead(t, e, "after reset", access)
}

// TestAccessTokenStaysDeadAfterReEnable: a token issued before a disable
// does not come back when the account is enabled again; a new login does.
func TestAccessTokenStaysDeadAfterReEnable(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("bob", accountPW)
	access := e.accessToken("bob", accountPW)
	ctx := context.Background()
	if _, err := e.st.SetDisabled(ctx, "bob", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantTokenDead(t, e, "disabled", access)
	if _, err := e.st.SetDisabled(ctx, "bob", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantTokenDead(t, e, "enabled again", access)
	if res := e.me("Bearer " + e.accessToken("bob", accountPW)); res.status != http.StatusOK {
		t.Errorf("a new login after enable: /users/me %d", res.status)
	}
}

// TestAccessTokenDiesOnScopeChange: a token carrying a grant the account
// has lost stops working; the refreshed one carries what is left.
func TestAccessTokenDiesOnScopeChange(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("bob", accountPW)
	ctx := context.Background()
	if err := e.st.SetScopes(ctx, "bob", "billing:write", time.Now()); err != nil {
		t.Fatal(err)
	}
	tk := tokensOf(t, e.loginScope("bob", "billing:write", "app"))
	if err := e.st.SetScopes(ctx, "bob", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantTokenDead(t, e, "grant removed", tk.access)
	res := e.refresh(tk.refresh, url.Values{"client_id": {"app"}})
	next := tokensOf(t, res)
	if got := scopeClaim(t, next.access); got != nil {
		t.Errorf("refreshed scope claim %v, want none", got)
	}
	if res := e.me("Bearer " + next.access); res.status != http.StatusOK {
		t.Errorf("refreshed token: /users/me %d", res.status)
	}
}

// TestTokenWithoutEpochClaim: a token issued before the account epoch claim
// existed reads as epoch 0 — accepted while the account never changed,
// refused once it has.
func TestTokenWithoutEpochClaim(t *testing.T) {
	e := newTestEnv(t)
	u := e.addUser("bob", accountPW)
	now := time.Now()
	legacy, err := e.keys.Sign(token.Claims{
		Issuer: e.cfg.Issuer, Subject: u.ID, Audience: []string{e.cfg.Audience},
		IssuedAt: now, ExpiresAt: now.Add(time.Minute), ID: newJTI(), ClientID: "public",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, claims := decodeJWT(t, legacy); claims["ae"] != nil {
		t.Fatalf("legacy token carries ae: %v", claims)
	}
	if res := e.me("Bearer " + legacy); res.status != http.StatusOK {
		t.Errorf("unchanged account: /users/me %d, want 200", res.status)
	}
	if _, err := e.st.SetDisabled(context.Background(), "bob", false, now); err != nil {
		t.Fatal(err)
	}
	wantTokenDead(t, e, "changed account", legacy)
}
