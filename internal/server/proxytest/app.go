// Package proxytest is a stand-in for the app `credshield protect` guards,
// for tests: a FastAPI-style service with its own POST /token, its own
// user table and the seed's only defence — a per-username limit of 5
// attempts in 300 s that counts every attempt — plus endpoints that show
// what passes through a proxy untouched: a streamed response, a body echo,
// the request headers and a protocol upgrade. Serve it with httptest on
// loopback.
package proxytest

import (
	"bufio"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// App is the protected app. Set the exported fields before serving; it is
// safe for concurrent use after that.
type App struct {
	// Users maps usernames to passwords, compared exactly as typed.
	Users map[string]string
	// SlowPath is how long checking a known user's password takes (a
	// bcrypt stand-in); unknown users fail at once, the timing leak
	// --uniform-failure-timing hides.
	SlowPath time.Duration
	// StreamNext releases each chunk of GET /stream after the first; nil
	// streams without waiting.
	StreamNext chan struct{}

	logins atomic.Int64
	mu     sync.Mutex
	recent map[string][]time.Time // per-username attempts; requires mu held
}

// New returns an App with users.
func New(users map[string]string) *App {
	return &App{Users: users, recent: make(map[string][]time.Time)}
}

// Logins is the number of POST /token requests the app has received.
func (a *App) Logins() int64 { return a.logins.Load() }

// allow is the seed's rate_limit: 5 attempts per username in 300 s,
// counting every attempt.
func (a *App) allow(username string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	kept := slices.DeleteFunc(a.recent[username], func(t time.Time) bool { return now.Sub(t) >= 300*time.Second })
	ok := len(kept) < 5
	if ok {
		kept = append(kept, now)
	}
	a.recent[username] = kept
	return ok
}

// ServeHTTP routes the app's endpoints.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		a.token(w, r)
	case r.URL.Path == "/headers":
		h := map[string]any{"remote_addr": r.RemoteAddr, "host": r.Host, "headers": r.Header}
		writeJSON(w, http.StatusOK, h)
	case r.Method == http.MethodPost && r.URL.Path == "/echo":
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, r.Body)
	case r.URL.Path == "/stream":
		a.stream(w)
	case r.URL.Path == "/upgrade":
		upgrade(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	}
}

func (a *App) token(w http.ResponseWriter, r *http.Request) {
	a.logins.Add(1)
	var username, password string
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var body struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"detail": "invalid JSON"})
			return
		}
		username, password = body.Username, body.Password
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"detail": "invalid form"})
			return
		}
		username, password = r.PostForm.Get("username"), r.PostForm.Get("password")
	}
	if username == "" || password == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"detail": "field required"})
		return
	}
	if !a.allow(username, time.Now()) {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"detail": "Too many login attempts. Try again later."})
		return
	}
	want, known := a.Users[username]
	if known {
		time.Sleep(a.SlowPath)
	}
	if !known || password != want {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"detail": "Incorrect credentials"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access_token": "token-for-" + username, "token_type": "bearer"})
}

// stream writes three chunks, flushing each; with StreamNext set it waits
// for a release before the second and third, so a test can show that the
// first arrived before the rest existed.
func (a *App) stream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	rc := http.NewResponseController(w)
	for i := range 3 {
		if i > 0 && a.StreamNext != nil {
			<-a.StreamNext
		}
		_, _ = io.WriteString(w, "chunk "+string(rune('1'+i))+"\n")
		_ = rc.Flush()
	}
}

// upgrade switches to an "echo" protocol that writes back each line.
func upgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "want Upgrade: websocket"})
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	_ = brw.Flush()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(brw).ReadString('\n')
	if err != nil {
		return
	}
	_, _ = conn.Write([]byte("echo: " + line))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
