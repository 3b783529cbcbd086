package standin

import (
	"cmp"
	"encoding/json"
	"mime"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Kratos's browser flows, as the stand-in serves them:
//
//   - GET /self-service/login/browser creates a flow and sets the CSRF
//     cookie (KratosCSRFCookie); it answers 303 to the login UI
//     (/ui/login?flow=ID), or 200 with the flow — whose csrf_token node
//     holds the token — when the client accepts application/json (a
//     single-page app);
//   - POST /self-service/login?flow=ID with a form (or JSON) of method,
//     identifier, password and csrf_token: a token that does not match
//     the cookie is refused before the password (a form: 303 to the error
//     UI; JSON: 403 security_csrf_violation). A form post is answered
//     with a 303 whatever the password: back to the login UI on a
//     failure, to return_to with the ory_kratos_session cookie on a
//     success. A JSON post gets 400 with the flow, or 200 with the
//     session and the cookie.

// KratosCSRFCookie is the stand-in's CSRF cookie (Kratos names it
// csrf_token_ and a hash of its base URL).
const KratosCSRFCookie = "csrf_token_806060ca5bf70dff3caa0e5c860002aade9d470a5a4dce73bcfa7ba10778f481"

func (k *Kratos) createBrowserFlow(w http.ResponseWriter, r *http.Request) {
	id, csrf := uuid.NewString(), randomToken()
	k.mu.Lock()
	k.browser[id] = csrf
	k.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: KratosCSRFCookie, Value: csrf, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if r.Header.Get("Accept") != "application/json" {
		http.Redirect(w, r, "/ui/login?flow="+id, http.StatusSeeOther)
		return
	}
	flow := k.flow(r, id, nil)
	flow["type"] = "browser"
	ui := flow["ui"].(map[string]any)
	ui["nodes"] = append(ui["nodes"].([]any), map[string]any{"type": "input", "group": "default", "messages": []any{}, "meta": map[string]any{},
		"attributes": map[string]any{"name": "csrf_token", "type": "hidden", "value": csrf, "node_type": "input", "disabled": false}})
	writeJSON(w, http.StatusOK, flow)
}

func (k *Kratos) browserLogin(w http.ResponseWriter, r *http.Request, id, csrf string) {
	var body struct {
		Method             string `json:"method"`
		Identifier         string `json:"identifier"`
		PasswordIdentifier string `json:"password_identifier"`
		Password           string `json:"password"`
		CSRFToken          string `json:"csrf_token"`
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isForm := mt == "application/x-www-form-urlencoded"
	if isForm {
		if err := r.ParseForm(); err == nil {
			f := r.PostForm
			body.Method, body.Identifier, body.PasswordIdentifier = f.Get("method"), f.Get("identifier"), f.Get("password_identifier")
			body.Password, body.CSRFToken = f.Get("password"), f.Get("csrf_token")
		}
	} else if json.NewDecoder(r.Body).Decode(&body) != nil {
		kratosError(w, http.StatusBadRequest, "", "The request was malformed or contained invalid parameters")
		return
	}
	if c, err := r.Cookie(KratosCSRFCookie); err != nil || c.Value != csrf || body.CSRFToken != csrf {
		if isForm {
			http.Redirect(w, r, "/ui/error?id="+uuid.NewString(), http.StatusSeeOther)
			return
		}
		kratosError(w, http.StatusForbidden, "security_csrf_violation", "The request was rejected to protect you from Cross-Site-Request-Forgery")
		return
	}
	identifier := cmp.Or(body.Identifier, body.PasswordIdentifier)
	if body.Method != "password" || !k.users.check(identifier, body.Password) {
		if isForm {
			http.Redirect(w, r, "/ui/login?flow="+id, http.StatusSeeOther)
			return
		}
		flow := k.flow(r, id, []map[string]any{{"id": 4000006, "text": KratosInvalidCredentials, "type": "error"}})
		flow["type"] = "browser"
		writeJSON(w, http.StatusBadRequest, flow)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "ory_kratos_session", Value: randomToken(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Expires: time.Now().Add(24 * time.Hour)})
	if isForm {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": session(r, identifier)})
}
