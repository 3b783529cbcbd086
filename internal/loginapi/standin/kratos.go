package standin

import (
	"cmp"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Kratos is a stand-in for Ory Kratos v1.3's login flows, API and
// browser (kratos_browser.go):
//
//   - GET /self-service/login/api creates a flow: 200 with its id and ui;
//
//   - POST /self-service/login?flow=ID with {"method":"password",
//     "identifier","password"} decoded by encoding/json ("identifier" or
//     the legacy "password_identifier"): 200 {"session_token","session"}
//     on success, 400 with the flow whose ui.messages carry id 4000006
//     otherwise; an unknown flow gets 410 self_service_flow_expired.
//
//   - GET /version is not served: Kratos serves it on its admin port
//     only (v1.3.1's public port answers 404), and the admin API is no
//     part of this stand-in.
//
// Like the open-source Kratos it has no rate limit at all. The client
// address is read as ory/x httpx.ClientIP does: True-Client-IP,
// Cf-Connecting-IP, X-Real-IP, then the first public X-Forwarded-For
// entry (here: the first), then the socket.
//
// Build it with NewKratos; it is safe for concurrent use.
type Kratos struct {
	users   *users
	clients clientLog

	mu    sync.Mutex
	flows map[string]bool
	// browser maps the id of each browser flow to its CSRF token.
	browser map[string]string
}

// NewKratos returns a stand-in with the given identities (identifier to
// password).
func NewKratos(accounts map[string]string) *Kratos {
	return &Kratos{users: newUsers(accounts), flows: make(map[string]bool), browser: make(map[string]string)}
}

// Checks is the number of password hashes computed so far.
func (k *Kratos) Checks() int64 { return k.users.checks.Load() }

// ClientIPs lists the client address of each login, as Kratos reads it.
func (k *Kratos) ClientIPs() []string { return k.clients.list() }

// KratosInvalidCredentials is the message Kratos sends with id 4000006.
const KratosInvalidCredentials = "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number."

func (k *Kratos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/self-service/login/api" && r.Method == http.MethodGet:
		id := uuid.NewString()
		k.mu.Lock()
		k.flows[id] = true
		k.mu.Unlock()
		writeJSON(w, http.StatusOK, k.flow(r, id, nil))
	case r.URL.Path == "/self-service/login/browser" && r.Method == http.MethodGet:
		k.createBrowserFlow(w, r)
	case r.URL.Path == "/self-service/login" && r.Method == http.MethodPost:
		k.login(w, r)
	default:
		kratosError(w, http.StatusNotFound, "", "The requested resource could not be found")
	}
}

func (k *Kratos) login(w http.ResponseWriter, r *http.Request) {
	k.clients.add(clientIP(r))
	id := r.URL.Query().Get("flow")
	k.mu.Lock()
	ok := k.flows[id]
	csrf, browser := k.browser[id]
	k.mu.Unlock()
	if browser {
		k.browserLogin(w, r, id, csrf)
		return
	}
	if !ok {
		kratosError(w, http.StatusGone, "self_service_flow_expired", "The self-service flow expired")
		return
	}
	var body struct {
		Method             string `json:"method"`
		Identifier         string `json:"identifier"`
		PasswordIdentifier string `json:"password_identifier"`
		Password           string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Method != "password" {
		kratosError(w, http.StatusBadRequest, "", "The request was malformed or contained invalid parameters")
		return
	}
	identifier := cmp.Or(body.Identifier, body.PasswordIdentifier)
	if !k.users.check(identifier, body.Password) {
		writeJSON(w, http.StatusBadRequest, k.flow(r, id, []map[string]any{{"id": 4000006, "text": KratosInvalidCredentials, "type": "error"}}))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session_token": randomToken(), "session": session(r, identifier)})
}

// session is a new session of identifier as Kratos renders it.
func session(r *http.Request, identifier string) map[string]any {
	now := time.Now().UTC()
	return map[string]any{
		"id": uuid.NewString(), "active": true, "authenticated_at": now, "expires_at": now.Add(24 * time.Hour),
		"identity": map[string]any{"id": uuid.NewString(), "schema_id": "default", "schema_url": "http://" + r.Host + "/schemas/default",
			"traits": map[string]string{"email": identifier}},
	}
}

// flow is a login flow as Kratos renders it, with the given messages.
func (k *Kratos) flow(r *http.Request, id string, messages []map[string]any) map[string]any {
	now := time.Now().UTC()
	if messages == nil {
		messages = []map[string]any{}
	}
	action := "http://" + r.Host + "/self-service/login?flow=" + id
	node := func(name, typ string) map[string]any {
		return map[string]any{"type": "input", "group": "password", "messages": []any{}, "meta": map[string]any{},
			"attributes": map[string]any{"name": name, "type": typ, "node_type": "input", "disabled": false}}
	}
	return map[string]any{
		"id": id, "type": "api", "state": "choose_method", "expires_at": now.Add(time.Hour), "issued_at": now,
		"request_url": "http://" + r.Host + "/self-service/login/api",
		"ui": map[string]any{"action": action, "method": "POST", "messages": messages,
			"nodes": []any{node("identifier", "text"), node("password", "password"), node("method", "submit")}},
	}
}

func kratosError(w http.ResponseWriter, status int, id, reason string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"id": id, "code": status, "status": http.StatusText(status), "reason": reason, "message": http.StatusText(status)}})
}

// clientIP is ory/x httpx.ClientIP, without its filter of internal
// X-Forwarded-For entries.
func clientIP(r *http.Request) string {
	for _, h := range []string{"True-Client-IP", "Cf-Connecting-IP", "X-Real-IP"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return forwardedFor(r)
}
