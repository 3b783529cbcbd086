// Package protecttest is a stand-in for the app `credshield protect` guards,
// for tests: a FastAPI-style service with its own POST /token, its own
// user table and the seed's only defence — a per-username limit of 5
// attempts in 300 s that counts every attempt — plus endpoints that show
// what passes through a proxy untouched: a streamed response, a body echo,
// the request headers and a protocol upgrade. Serve it with httptest on
// loopback.
package protecttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
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
	// Lenient routes POST /token as permissive stacks do (see
	// LenientRoute): /token;jsessionid=1, /TOKEN, /token.json... all reach
	// the password check.
	Lenient bool
	// CatchAll answers 200 to any other POST, as a single-page app's
	// fallback route does.
	CatchAll bool

	logins  atomic.Int64
	mu      sync.Mutex
	recent  map[string][]time.Time // per-username attempts; requires mu held
	targets []string               // escaped path of each login; requires mu held
}

// New returns an App with users.
func New(users map[string]string) *App {
	return &App{Users: users, recent: make(map[string][]time.Time)}
}

// Logins is the number of POST /token requests the app has received.
func (a *App) Logins() int64 { return a.logins.Load() }

// LoginTargets are the escaped paths of the logins received, as sent.
func (a *App) LoginTargets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.targets)
}

// LenientRoute is the route a permissive stack gives an escaped path,
// written apart from the proxy's own canonical form so that tests compare
// two readings: servlet containers and JAX-RS drop ";parameters" from every
// segment (Spring also after decoding %3B); IIS reads '\' as '/', ignores
// case and trailing dots, spaces, tabs and NULs; Rails drops a .json or
// .xml format suffix; most routers forgive //, dot segments and a trailing
// slash.
func LenientRoute(escaped string) string {
	segs := strings.Split(escaped, "/")
	for i, seg := range segs {
		seg, _, _ = strings.Cut(seg, ";")
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		segs[i], _, _ = strings.Cut(seg, ";")
	}
	segs = strings.Split(strings.ToLower(strings.ReplaceAll(strings.Join(segs, "/"), `\`, "/")), "/")
	for i, seg := range segs {
		if seg != "." && seg != ".." {
			segs[i] = strings.TrimRight(seg, ". \t\x00")
		}
	}
	last := segs[len(segs)-1]
	for _, ext := range []string{".json", ".xml"} {
		last = strings.TrimSuffix(last, ext)
	}
	segs[len(segs)-1] = last
	return path.Clean("/" + strings.Join(segs, "/"))
}

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
	case r.Method == http.MethodPost && (r.URL.Path == "/token" || a.Lenient && LenientRoute(r.URL.EscapedPath()) == "/token"):
		a.mu.Lock()
		a.targets = append(a.targets, r.URL.EscapedPath())
		a.mu.Unlock()
		a.token(w, r)
	case r.Method == http.MethodPost && a.CatchAll && r.URL.Path != "/echo":
		writeJSON(w, http.StatusOK, map[string]string{"page": "index"})
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

// Send writes one HTTP/1.1 request to the server at base (an http://
// loopback URL) with the request target exactly as given — a Go client
// would clean or re-encode /\token, //token or /token%00 — and returns
// the status and body of the answer. Header holds name, value pairs.
func Send(base, method, target, body string, header ...string) (int, string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, "", err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, u.Host, len(body))
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return 0, "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	return res.StatusCode, string(got), err
}

// Spelling is a request target that names a login path in another way.
type Spelling struct {
	Name, Path string
	// Lenient: LenientRoute sends it to /token.
	Lenient bool
}

// TokenSpellings returns escaped request paths that some framework
// routes to /token, for tests of a proxy that must guard every one of
// them: each must canonicalise to /token and never be forwarded as a
// login. Those marked Lenient, LenientRoute also routes to /token.
func TokenSpellings() []Spelling {
	return []Spelling{
		{"path parameter", "/token;jsessionid=1", true},
		{"bare path parameter", "/token;x", true},
		{"empty path parameter", "/token;", true},
		{"encoded semicolon", "/token%3B", true},
		{"encoded semicolon, lower case", "/token%3bx", true},
		{"parameter on an earlier segment", "/x;y/../token", true},
		{"dot-dot with a parameter", "/x/..;/token", true},
		{"format suffix", "/token.json", true},
		{"xml suffix", "/token.xml", true},
		{"trailing dot", "/token.", true},
		{"trailing dots", "/token..", true},
		{"trailing space", "/token%20", true},
		{"trailing tab", "/token%09", true},
		{"trailing NUL", "/token%00", true},
		{"backslash", `/\token`, true},
		{"encoded backslash", "/%5Ctoken", true},
		{"other case", "/TOKEN", true},
		{"trailing slash", "/token/", true},
		{"trailing dot segment", "/token/.", true},
		{"double slash", "//token", true},
		{"dot segment", "/a/../token", true},
		{"encoded dot", "/%2e/token", true},
		{"encoded slash", "/x%2F..%2Ftoken", true},
		{"trailing encoded slash", "/token%2F", true},
		{"encoded letter", "/tok%65n", true},
		{"encoded upper letter", "/%54OKEN", true},
		{"other format suffix", "/token.php", false},
		{"double-encoded dot", "/%252e/token", false},
		{"double-encoded semicolon", "/token%253B", false},
		{"full-width letters", "/%EF%BD%94%EF%BD%8F%EF%BD%8B%EF%BD%85%EF%BD%8E", false},
		{"full-width slash", "/x%EF%BC%8F..%EF%BC%8Ftoken", false},
		{"long s and Kelvin sign", "/to%E2%84%AAen", false},
		{"raw fragment", "/token#x", false},
		{"encoded fragment", "/token%23x", false},
		{"encoded query", "/token%3Fx=1", false},
		{"leading space", "/%20token", false},
		{"trailing no-break space", "/token%C2%A0", false},
		{"everything at once", `/API;a/..%5C%252E/./ToKeN.JSON.;b%00/`, false},
	}
}
