package standin

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Keycloak is a stand-in for one Keycloak 26 realm ("test", public client
// "app"), with the realm's two password logins:
//
//   - the direct grant, POST /realms/test/protocol/openid-connect/token,
//     a form with grant_type=password, client_id, username, password: 200
//     {"access_token",…} on success, 401 {"error":"invalid_grant",
//     "error_description":"Invalid user credentials"} for a wrong
//     password, an unknown user and a locked one alike, 401
//     unauthorized_client for another client, 400 for a missing or other
//     grant type;
//   - the browser login: GET /realms/test/protocol/openid-connect/auth
//     renders the form and sets AUTH_SESSION_ID; its POST to
//     /realms/test/login-actions/authenticate?session_code=…&execution=…
//     &client_id=app&tab_id=… answers a 302 to the client with
//     KEYCLOAK_IDENTITY and KEYCLOAK_SESSION on success, and re-renders
//     the form (200 HTML, AUTH_SESSION_ID set again) on a failure.
//
// Brute-force detection locks a user, whatever the address: after
// FailureFactor consecutive failures the user is temporarily disabled
// for WaitIncrement, and even the right password is then answered like a
// wrong one, without a hash — the owner is locked out. (Keycloak's wait
// grows with further failures up to maxFailureWait; one step is enough
// here.) A success resets the count. The client address is the leftmost
// X-Forwarded-For entry (--proxy-headers xforwarded).
//
// Build it with NewKeycloak; it is safe for concurrent use.
type Keycloak struct {
	FailureFactor int
	WaitIncrement time.Duration
	// Now is the clock of the lockout; default time.Now.
	Now func() time.Time

	users   *users
	clients clientLog

	mu       sync.Mutex
	failures map[string]int       // consecutive failures per user
	locked   map[string]time.Time // disabled until
	sessions map[string]bool      // AUTH_SESSION_ID values
}

// NewKeycloak returns a realm with the given users (name to password) and
// Keycloak's brute-force defaults (failureFactor 30, waitIncrement 1 min).
func NewKeycloak(accounts map[string]string) *Keycloak {
	return &Keycloak{FailureFactor: 30, WaitIncrement: time.Minute, Now: time.Now,
		users: newUsers(accounts), failures: map[string]int{}, locked: map[string]time.Time{}, sessions: map[string]bool{}}
}

// Checks is the number of password hashes computed so far.
func (k *Keycloak) Checks() int64 { return k.users.checks.Load() }

// ClientIPs lists the client address of each login, as Keycloak reads it.
func (k *Keycloak) ClientIPs() []string { return k.clients.list() }

// Keycloak's realm and client, and its one message for a failed login.
const (
	KeycloakRealm    = "test"
	KeycloakClient   = "app"
	KeycloakRedirect = "http://127.0.0.1/callback"
	// KeycloakInvalid is the browser form's message for any failure.
	KeycloakInvalid = "Invalid username or password."
)

const kcBase = "/realms/" + KeycloakRealm

func (k *Keycloak) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == kcBase+"/protocol/openid-connect/token" && r.Method == http.MethodPost:
		k.token(w, r)
	case r.URL.Path == kcBase+"/protocol/openid-connect/auth" && r.Method == http.MethodGet:
		k.form(w, "", http.StatusOK)
	case r.URL.Path == kcBase+"/login-actions/authenticate" && r.Method == http.MethodPost:
		k.authenticate(w, r)
	case r.URL.Path == kcBase+"/.well-known/openid-configuration" && r.Method == http.MethodGet:
		// The realm's OpenID metadata, the endpoints a client needs.
		issuer := "http://" + r.Host + kcBase
		writeJSON(w, http.StatusOK, map[string]string{"issuer": issuer,
			"authorization_endpoint": issuer + "/protocol/openid-connect/auth",
			"token_endpoint":         issuer + "/protocol/openid-connect/token",
			"userinfo_endpoint":      issuer + "/protocol/openid-connect/userinfo"})
	default:
		http.NotFound(w, r)
	}
}

func (k *Keycloak) token(w http.ResponseWriter, r *http.Request) {
	k.clients.add(forwardedFor(r))
	// Keycloak reads only form parameters, the first of each.
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid form")
		return
	}
	f := r.PostForm
	switch gt := f.Get("grant_type"); {
	case gt == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
		return
	case f.Get("client_id") != KeycloakClient:
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials")
		return
	case gt == "refresh_token":
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	case gt != "password":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}
	name := f.Get("username")
	if name == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_request", "Missing parameter: username")
		return
	}
	if !k.login(name, f.Get("password")) {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", "Invalid user credentials")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomToken(), "expires_in": 300, "refresh_expires_in": 1800, "refresh_token": randomToken(),
		"token_type": "Bearer", "not-before-policy": 0, "session_state": randomToken(), "scope": "profile email",
	})
}

func (k *Keycloak) authenticate(w http.ResponseWriter, r *http.Request) {
	k.clients.add(forwardedFor(r))
	c, err := r.Cookie("AUTH_SESSION_ID")
	k.mu.Lock()
	ok := err == nil && k.sessions[c.Value]
	k.mu.Unlock()
	if !ok || r.URL.Query().Get("client_id") != KeycloakClient {
		k.page(w, http.StatusBadRequest, "<p>Cookie not found. Please make sure cookies are enabled in your browser.</p>")
		return
	}
	if err := r.ParseForm(); err != nil || !k.login(r.PostForm.Get("username"), r.PostForm.Get("password")) {
		k.form(w, KeycloakInvalid, http.StatusOK)
		return
	}
	path := kcBase + "/"
	http.SetCookie(w, &http.Cookie{Name: "KEYCLOAK_IDENTITY", Value: randomToken(), Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "KEYCLOAK_SESSION", Value: KeycloakRealm + "/" + randomToken(), Path: path, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, KeycloakRedirect+"?code="+randomToken()+"&session_state="+randomToken(), http.StatusFound)
}

// login judges name and password under brute-force detection.
func (k *Keycloak) login(name, password string) bool {
	now := k.Now()
	k.mu.Lock()
	locked := now.Before(k.locked[name])
	k.mu.Unlock()
	if locked {
		return false
	}
	if k.users.check(name, password) {
		k.mu.Lock()
		delete(k.failures, name)
		k.mu.Unlock()
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failures[name]++
	if k.failures[name] >= k.FailureFactor {
		k.locked[name] = now.Add(k.WaitIncrement)
		k.failures[name] = 0
	}
	return false
}

// form renders the login form with a fresh authentication session.
func (k *Keycloak) form(w http.ResponseWriter, message string, status int) {
	id := randomToken() + ".node1"
	k.mu.Lock()
	k.sessions[id] = true
	k.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "AUTH_SESSION_ID", Value: id, Path: kcBase + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	q := url.Values{"session_code": {randomToken()}, "execution": {"e1"}, "client_id": {KeycloakClient}, "tab_id": {randomToken()[:11]}}
	var msg string
	if message != "" {
		msg = `<span id="input-error">` + html.EscapeString(message) + `</span>`
	}
	k.page(w, status, fmt.Sprintf(`%s<form id="kc-form-login" action="%s" method="post">`+
		`<input name="username"><input name="password" type="password"><input type="hidden" name="credentialId"></form>`,
		msg, html.EscapeString(kcBase+"/login-actions/authenticate?"+q.Encode())))
}

func (k *Keycloak) page(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, must-revalidate, max-age=0")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Sign in to test</title></head><body>%s</body></html>", body)
}

// FormAction extracts the login form's action from a page the stand-in
// rendered.
func FormAction(page string) (string, bool) {
	_, rest, ok := strings.Cut(page, `action="`)
	if !ok {
		return "", false
	}
	action, _, ok := strings.Cut(rest, `"`)
	return html.UnescapeString(action), ok
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// forwardedFor is the leftmost X-Forwarded-For entry, or the socket's
// address.
func forwardedFor(r *http.Request) string {
	if v := r.Header.Get("X-Forwarded-For"); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.TrimSpace(first)
	}
	return r.RemoteAddr
}
