package protecttest

import (
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sync"
)

// FormApp is a stand-in for an HTML-form login behind protect, shaped
// like an Ory Kratos browser flow (the kratos login profile): GET /login
// serves the form, which posts identifier, password, method and a CSRF
// token to /self-service/login?flow=ID; a right password sets the
// ory_kratos_session cookie on a 303 to /welcome, a wrong one gets a 303
// back to /login (the status proves nothing, as in Kratos). Like Kratos,
// it refuses a form with a field it does not know; like many frameworks'
// CSRF checks, it refuses a post from Origin: null. GET /welcome says who
// is signed in. Build it with NewFormApp; it is safe for concurrent use.
type FormApp struct {
	users map[string]string
	mu    sync.Mutex
	// sessions maps a session cookie to its user.
	sessions map[string]string
	// forms are the field names of every login form received, in order.
	forms [][]string
}

// FormFlow is the flow id of FormApp's login form.
const FormFlow = "flow-1"

// NewFormApp returns a FormApp that knows users (name -> password).
func NewFormApp(users map[string]string) *FormApp {
	return &FormApp{users: users, sessions: make(map[string]string)}
}

// FormsReceived returns the field names of each login form the app has
// received.
func (a *FormApp) FormsReceived() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.forms)
}

var formPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in</h1>
<form id="login" method="post" action="/self-service/login?flow={{.Flow}}">
<input type="hidden" name="csrf_token" value="csrf-ok">
<input type="hidden" name="method" value="password">
<label>Email <input name="identifier" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>
`))

// formFields are the fields a login form may carry; any other is refused.
var formFields = []string{"csrf_token", "method", "identifier", "password"}

func (a *FormApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/login":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = formPage.Execute(w, struct{ Flow string }{FormFlow})
	case r.Method == http.MethodPost && r.URL.Path == "/self-service/login":
		a.login(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/welcome":
		c, err := r.Cookie("ory_kratos_session")
		a.mu.Lock()
		name := ""
		if err == nil {
			name = a.sessions[c.Value]
		}
		a.mu.Unlock()
		if name == "" {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Welcome</title><h1 id=\"welcome\">Signed in as " + template.HTMLEscapeString(name) + "</h1>"))
	default:
		http.NotFound(w, r)
	}
}

func (a *FormApp) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.URL.Query().Get("flow") != FormFlow {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var names []string
	for k := range r.PostForm {
		names = append(names, k)
	}
	slices.Sort(names)
	a.mu.Lock()
	a.forms = append(a.forms, names)
	a.mu.Unlock()
	for _, k := range names {
		if !slices.Contains(formFields, k) {
			http.Error(w, "unknown field "+k, http.StatusBadRequest)
			return
		}
	}
	if r.Header.Get("Origin") == "null" {
		// As Django, Rails and others do: a form post from an opaque
		// origin (a page sent with Referrer-Policy: no-referrer, a
		// sandboxed frame) is refused as a possible forgery.
		http.Error(w, "origin null", http.StatusForbidden)
		return
	}
	if r.PostForm.Get("csrf_token") != "csrf-ok" {
		http.Error(w, "csrf", http.StatusForbidden)
		return
	}
	name, pw := r.PostForm.Get("identifier"), r.PostForm.Get("password")
	if want, ok := a.users[name]; !ok || want != pw {
		http.Redirect(w, r, "/login?flow="+url.QueryEscape(FormFlow), http.StatusSeeOther)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	a.mu.Lock()
	a.sessions[sid] = name
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "ory_kratos_session", Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/welcome", http.StatusSeeOther)
}
