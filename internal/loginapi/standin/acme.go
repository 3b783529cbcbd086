package standin

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Acme is a stand-in for a made-up login API that credshield ships no
// profile for ("Acme Accounts 2"), to test custom profiles against a
// shape no built-in profile knows:
//
//   - GET /api/v2/session/methods lists the login methods (no secret);
//   - POST /api/v2/session, a JSON object {"login","secret","tenant"}
//     decoded by encoding/json (member names in any case, the last one
//     winning); tenant is optional and must be "main" when given;
//   - success: 201 {"session_id": …, "expires_in": 3600} and the cookie
//     acme_sid;
//   - a wrong secret, an unknown login or another tenant: 401
//     {"error":"login_failed","session_id":null};
//   - a body it cannot read: 422 {"error":"invalid_body"}, before any
//     secret is checked;
//   - client address: X-Real-IP, else the leftmost X-Forwarded-For entry.
//
// It has no rate limit. Build it with NewAcme; it is safe for concurrent
// use.
type Acme struct {
	users   *users
	clients clientLog
}

// NewAcme returns a stand-in with the given accounts (login to secret).
func NewAcme(accounts map[string]string) *Acme { return &Acme{users: newUsers(accounts)} }

// Checks is the number of secret checks so far.
func (a *Acme) Checks() int64 { return a.users.checks.Load() }

// ClientIPs lists the client address of each login, as Acme reads it.
func (a *Acme) ClientIPs() []string { return a.clients.list() }

func (a *Acme) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v2/session/methods" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]string{"methods": {"password"}})
		return
	case r.URL.Path != "/api/v2/session" || r.Method != http.MethodPost:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	ip := strings.TrimSpace(r.Header.Get("X-Real-IP"))
	if ip == "" {
		ip = forwardedFor(r)
	}
	a.clients.add(ip)
	var body struct {
		Login  string `json:"login"`
		Secret string `json:"secret"`
		Tenant string `json:"tenant"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Login == "" || body.Secret == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid_body"})
		return
	}
	if !a.users.check(body.Login, body.Secret) || (body.Tenant != "" && body.Tenant != "main") {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "login_failed", "session_id": nil})
		return
	}
	sid := randomToken()
	http.SetCookie(w, &http.Cookie{Name: "acme_sid", Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusCreated, map[string]any{"session_id": sid, "expires_in": 3600})
}

// AcmeFailures are answers of an Acme-like service that are not a login,
// however close they look to one, for the custom profile of the
// documentation (DocsCustomProfile): a success needs 201, a non-empty
// session_id and the acme_sid cookie.
var AcmeFailures = []Canned{
	{"custom", "201 without session_id", 201, []string{"acme_sid=abc"}, `{"expires_in":3600}`},
	{"custom", "201 session_id empty", 201, []string{"acme_sid=abc"}, `{"session_id":""}`},
	{"custom", "201 session_id null", 201, []string{"acme_sid=abc"}, `{"session_id":null}`},
	{"custom", "201 session_id a number", 201, []string{"acme_sid=abc"}, `{"session_id":7}`},
	{"custom", "201 without the cookie", 201, nil, `{"session_id":"s"}`},
	{"custom", "201 cookie deleted", 201, []string{"acme_sid=; Max-Age=0"}, `{"session_id":"s"}`},
	{"custom", "200, a status not listed", 200, []string{"acme_sid=abc"}, `{"session_id":"s"}`},
	{"custom", "401 with a session", 401, []string{"acme_sid=abc"}, `{"session_id":"s"}`},
	{"custom", "422 with a session", 422, []string{"acme_sid=abc"}, `{"session_id":"s"}`},
	{"custom", "500 with a session", 500, []string{"acme_sid=abc"}, `{"session_id":"s"}`},
	{"custom", "201 nested session_id", 201, []string{"acme_sid=abc"}, `{"data":{"session_id":"s"}}`},
	{"custom", "201 past the cap", 201, []string{"acme_sid=abc"}, huge(`{"session_id":"s"`)},
}
