package standin

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Authelia is a stand-in for Authelia 4.37's first factor: POST
// /api/firstfactor with {"username","password","keepMeLoggedIn"} decoded
// by encoding/json (so member names match in any case, the last one
// winning, as in Authelia); 200 {"status":"OK"} and a new authelia_session
// cookie on success; 401 {"status":"KO","message":"Authentication failed.
// Check your credentials."} for a wrong password, a bad body and a banned
// user alike. Its regulation bans a username for BanTime after MaxRetries
// failures within FindTime (3, 2 min, 5 min by default, Authelia's
// defaults), in two steps with the hash between them, as Authelia's
// Regulate and markAuthenticationAttempt do. The client address is the
// leftmost X-Forwarded-For entry (AutheliaCtx.RemoteIP).
//
// Build it with NewAuthelia; it is safe for concurrent use.
type Authelia struct {
	MaxRetries        int
	FindTime, BanTime time.Duration
	// Now is the clock of the regulation; default time.Now.
	Now func() time.Time
	// Checked, if set, is called between the ban check and the hash. In
	// Authelia that gap holds database round trips as well as the hash;
	// a test widens it here to make the race it leaves deterministic.
	Checked func()

	users   *users
	clients clientLog

	mu       sync.Mutex
	failures map[string][]time.Time // per username, oldest first
}

// NewAuthelia returns a stand-in with the given accounts (name to
// password) and Authelia's default regulation.
func NewAuthelia(accounts map[string]string) *Authelia {
	return &Authelia{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute, Now: time.Now,
		users: newUsers(accounts), failures: make(map[string][]time.Time)}
}

// Checks is the number of password hashes computed so far.
func (a *Authelia) Checks() int64 { return a.users.checks.Load() }

// ClientIPs lists the client address of each login, as Authelia reads it.
func (a *Authelia) ClientIPs() []string { return a.clients.list() }

// AutheliaFailed is Authelia's one message for every failed first factor.
const AutheliaFailed = "Authentication failed. Check your credentials."

func (a *Authelia) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/firstfactor" {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "KO", "message": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	a.clients.add(forwardedFor(r))
	var body struct {
		Username       string `json:"username"`
		Password       string `json:"password"`
		KeepMeLoggedIn *bool  `json:"keepMeLoggedIn"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Username == "" || body.Password == "" {
		a.ko(w)
		return
	}
	// Step one: is the user banned? (Regulate)
	if a.banned(body.Username) {
		a.mark(body.Username)
		a.ko(w)
		return
	}
	if a.Checked != nil {
		a.Checked()
	}
	// The hash, with no lock held: parallel attempts all get here before
	// any of them marks its failure.
	if !a.users.check(body.Username, body.Password) {
		// Step two: mark the failure (markAuthenticationAttempt).
		a.mark(body.Username)
		a.ko(w)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "authelia_session", Value: randomToken(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}

func (a *Authelia) ko(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "KO", "message": AutheliaFailed})
}

// banned reports whether the last MaxRetries failures of name fell within
// FindTime and the last of them is less than BanTime ago.
func (a *Authelia) banned(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[name]
	if len(f) < a.MaxRetries {
		return false
	}
	last := f[len(f)-1]
	first := f[len(f)-a.MaxRetries]
	return last.Sub(first) <= a.FindTime && a.Now().Before(last.Add(a.BanTime))
}

func (a *Authelia) mark(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := append(a.failures[name], a.Now())
	if len(f) > a.MaxRetries {
		f = f[len(f)-a.MaxRetries:]
	}
	a.failures[name] = f
}
