package protect

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// proxyEnv is the protected app on loopback with a real Proxy in front.
type proxyEnv struct {
	t     testing.TB
	app   *protecttest.App
	up    *httptest.Server
	proxy *Proxy
	ts    *httptest.Server
	gp    gatetest.Parts
	logs  *gatetest.LogBuffer
}

// newProxyEnv starts app and a proxy before it with the guard built from
// parts (default: the default policy, no trusted proxies) and cfg edited
// by edit.
func newProxyEnv(t testing.TB, app *protecttest.App, parts gatetest.Config, edit func(*Config)) *proxyEnv {
	t.Helper()
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	if parts.Workers == 0 {
		parts.Workers, parts.Queue = 2, 64
	}
	if parts.Policy.IP.Burst == 0 {
		parts.Policy = guard.DefaultPolicy()
	}
	gp := gatetest.New(t, parts)
	u, _ := url.Parse(up.URL)
	fastapi, err := loginapi.New("fastapi", loginapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Upstream: u, Profiles: []*loginapi.Profile{fastapi}}
	if edit != nil {
		edit(&cfg)
	}
	logs := &gatetest.LogBuffer{}
	p, err := New(cfg, Deps{Guard: gp.GateGuard(), Devices: gp.Devices, Challenges: gp.Challenges, Hasher: gp.Hasher,
		ClientIP: gp.Resolver, Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: gp.Metrics})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return &proxyEnv{t: t, app: app, up: up, proxy: p, ts: ts, gp: gp, logs: logs}
}

func newApp() *protecttest.App {
	return protecttest.New(map[string]string{"alice": "correct horse battery", "bob": "hunter2hunter2"})
}

// post sends body to path through the proxy with a content type and
// header pairs.
func (e *proxyEnv) post(path, contentType, body string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// login posts a form login with header pairs.
func (e *proxyEnv) login(name, pw string, header ...string) response {
	e.t.Helper()
	return e.post("/token", "application/x-www-form-urlencoded", url.Values{"username": {name}, "password": {pw}}.Encode(), header...)
}

func (e *proxyEnv) attempts(outcome string) int {
	return int(gatetest.Value(e.t, e.gp.Reg, "credshield_login_attempts_total", "outcome", outcome))
}

// A one-address stuffing burst (each leaked pair once, every name
// different, as stuffing is) goes through the per-username-only app's
// defence untouched, but through the proxy only the address's soft budget
// reaches the app: then challenges, then 429s, and the app receives no
// attempt after the first refusal.
func TestProxyStopsStuffingBurst(t *testing.T) {
	e := newProxyEnv(t, newApp(), gatetest.Config{}, nil)
	var answers []string
	refusedAt := int64(-1)
	for i := range 40 {
		r := e.login(fmt.Sprintf("victim%02d", i), "leaked password")
		code := errorCode(t, r)
		if r.status == http.StatusUnauthorized {
			code = "app_401"
		}
		answers = append(answers, code)
		if refusedAt < 0 && code != "app_401" {
			refusedAt = e.app.Logins()
		}
		if code == "too_many_attempts" && r.header.Get("Retry-After") == "" {
			t.Errorf("attempt %d: 429 without Retry-After", i)
		}
	}
	count := func(c string) int {
		n := 0
		for _, a := range answers {
			if a == c {
				n++
			}
		}
		return n
	}
	if count("app_401") != 10 || count("challenge_required") != 10 || count("too_many_attempts") != 20 {
		t.Errorf("answers %v: want 10 from the app, 10 challenges, 20 refusals", answers)
	}
	if refusedAt != 10 || e.app.Logins() != refusedAt {
		t.Errorf("app received %d attempts, %d of them before the first refusal; want 10 and none after", e.app.Logins(), refusedAt)
	}
	if e.attempts("failure") != 10 || e.attempts("challenged") != 10 || e.attempts("denied") != 20 {
		t.Errorf("metrics: failure %d challenged %d denied %d", e.attempts("failure"), e.attempts("challenged"), e.attempts("denied"))
	}
	if len(e.logs.Events("guard.deny")) == 0 || len(e.logs.Events("login.failure")) != 10 {
		t.Errorf("logs: %d guard.deny, %d login.failure", len(e.logs.Events("guard.deny")), len(e.logs.Events("login.failure")))
	}
}

// The owner of an account under attack from many addresses logs in from a
// device that logged in before — by header, cookie or form field — while
// an untrusted client with the right password is challenged. The proxy's
// per-username budget is set below the app's own lockout (5), so the
// attack never locks the owner out of the app either.
func TestProxyKnownDeviceDuringAttack(t *testing.T) {
	pol := guard.DefaultPolicy()
	pol.User = limit.Limit{Burst: 2, Period: time.Hour}
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, nil)
	first := e.login("alice", "correct horse battery", "X-Forwarded-For", "198.51.100.7")
	dev := first.header.Get(DeviceHeader)
	if first.status != http.StatusOK || dev == "" || !strings.Contains(first.header.Get("Set-Cookie"), gate.DeviceCookie+"="+dev) {
		t.Fatalf("first login: %d device %q cookie %q", first.status, dev, first.header.Get("Set-Cookie"))
	}
	var challenged int
	for i := range 30 {
		r := e.login("Alice", fmt.Sprintf("guess %d", i), "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		if errorCode(t, r) == "challenge_required" {
			challenged++
		}
	}
	if challenged != 28 || e.app.Logins() != 3 {
		t.Fatalf("attack: %d challenged, app saw %d logins; want 28 and 3", challenged, e.app.Logins())
	}
	if r := e.login("alice", "correct horse battery", "X-Forwarded-For", "192.0.2.50"); errorCode(t, r) != "challenge_required" {
		t.Errorf("untrusted owner without device: %d %s; want a challenge", r.status, r.body)
	}
	tests := []struct {
		name   string
		send   func() response
		wantUp int64
	}{
		{"header", func() response {
			return e.login("alice", "correct horse battery", "X-Forwarded-For", "192.0.2.60", DeviceHeader, dev)
		}, 4},
		{"cookie", func() response {
			return e.login("alice", "correct horse battery", "X-Forwarded-For", "192.0.2.61", "Cookie", gate.DeviceCookie+"="+dev)
		}, 5},
	}
	for _, tt := range tests {
		r := tt.send()
		if r.status != http.StatusOK || r.header.Get(DeviceHeader) == "" || e.app.Logins() != tt.wantUp {
			t.Errorf("%s: %d %s, app logins %d", tt.name, r.status, r.body, e.app.Logins())
		}
	}
	if n := len(e.logs.Events("device.issue")); n != 3 {
		t.Errorf("%d device.issue records, want 3", n)
	}
	for _, ev := range e.logs.Events("login.success") {
		if ev["trust"] == "" || ev["username"] != "alice" {
			t.Errorf("login.success record %v", ev)
		}
	}
}

// Everything but a login passes through byte for byte: a streamed
// response chunk by chunk, a large body both ways, GET on the login path,
// and a protocol upgrade. The proxy adds none of serve's own headers.
func TestProxyPassesThrough(t *testing.T) {
	app := newApp()
	app.StreamNext = make(chan struct{})
	e := newProxyEnv(t, app, gatetest.Config{}, nil)

	t.Run("stream", func(t *testing.T) {
		res, err := e.ts.Client().Get(e.ts.URL + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		for i := range 3 {
			got := make(chan string, 1)
			go func() { line, _ := br.ReadString('\n'); got <- line }()
			select {
			case line := <-got:
				if want := fmt.Sprintf("chunk %d\n", i+1); line != want {
					t.Fatalf("chunk %d: %q", i+1, line)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("chunk %d did not arrive before the next was released: the proxy buffers", i+1)
			}
			if i < 2 {
				app.StreamNext <- struct{}{}
			}
		}
		if len(res.TransferEncoding) == 0 || res.TransferEncoding[0] != "chunked" {
			t.Errorf("transfer encoding %v", res.TransferEncoding)
		}
	})

	t.Run("large body", func(t *testing.T) {
		body := make([]byte, 3<<20)
		_, _ = rand.Read(body)
		r := e.post("/echo", "application/octet-stream", string(body))
		if r.status != http.StatusOK || sha256.Sum256(r.body) != sha256.Sum256(body) {
			t.Errorf("echo: %d, %d bytes back of %d", r.status, len(r.body), len(body))
		}
		if r.header.Get("Content-Security-Policy") != "" || r.header.Get(DeviceHeader) != "" {
			t.Errorf("the proxy added headers: %v", r.header)
		}
	})

	t.Run("GET on the login path", func(t *testing.T) {
		res, err := e.ts.Client().Get(e.ts.URL + "/token?x=1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "Not Found") || e.app.Logins() != 0 {
			t.Errorf("GET /token: %d %s", res.StatusCode, b)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", res, err)
		}
		fmt.Fprintf(conn, "ping\n")
		if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
			t.Errorf("after upgrade: %q %v", line, err)
		}
	})

	// Any other upgrade (h2c would make the connection a tunnel the
	// proxy cannot read, logins included) goes on as plain HTTP/1.1.
	t.Run("h2c upgrade dropped", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("h2c upgrade: %v %v", res, err)
		}
		b, _ := io.ReadAll(res.Body)
		if strings.Contains(strings.ToLower(string(b)), "h2c") || strings.Contains(string(b), "Http2-Settings") {
			t.Errorf("the app saw the h2c upgrade: %s", b)
		}
	})
}

// headersSeen asks the app, through the proxy, which headers it received.
func (e *proxyEnv) headersSeen(header ...string) http.Header {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/headers", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct{ Headers http.Header }
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		e.t.Fatal(err)
	}
	return got.Headers
}

// Forwarding headers from a client the proxy does not trust never reach
// the app, in any spelling; the app sees the configured header, once,
// with the address the proxy resolved. The proxy's device credential is
// not passed on; other cookies are.
func TestProxyForwardingHeaders(t *testing.T) {
	spoof := []string{
		"X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.7", "Forwarded", "for=6.6.6.8", "X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https", "X_Forwarded_For", "6.6.6.9", "True-Client-IP", "6.6.6.10", "X-Forwarded-Port", "1",
		DeviceHeader, "secret", "Cookie", gate.DeviceCookie + "=secret; theirs=1",
	}
	tests := []struct {
		name    string
		parts   gatetest.Config
		header  []string
		want    map[string]string // header -> the one value the app must see
		missing []string
	}{
		{"untrusted peer, X-Forwarded-For", gatetest.Config{}, spoof,
			map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "Cookie": "theirs=1"},
			[]string{"X-Real-Ip", "Forwarded", "X_forwarded_for", "True-Client-Ip", "X-Forwarded-Port", DeviceHeader}},
		// The inbound header (from trusted proxies) is not the one the
		// app reads: the profile's is set, the inbound one removed.
		{"untrusted peer, X-Real-IP configured", gatetest.Config{ClientIPHeader: "X-Real-IP"}, spoof,
			map[string]string{"X-Forwarded-For": "127.0.0.1"},
			[]string{"X-Real-Ip", "Forwarded", "X_forwarded_for", "True-Client-Ip"}},
		{"trusted peer names the client", gatetest.Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			[]string{"X-Forwarded-For", "6.6.6.6, 203.0.113.5", "X-Real-IP", "6.6.6.7", "X-Forwarded-Proto", "https"},
			map[string]string{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"},
			[]string{"X-Real-Ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProxyEnv(t, newApp(), tt.parts, nil)
			got := e.headersSeen(tt.header...)
			for h, v := range tt.want {
				if !slices.Equal(got[h], []string{v}) {
					t.Errorf("%s: app saw %q, want only %q", h, got[h], v)
				}
			}
			for _, h := range tt.missing {
				if _, ok := got[h]; ok {
					t.Errorf("%s reached the app: %q", h, got[h])
				}
			}
			if xfh := got.Get("X-Forwarded-Host"); xfh == "evil.example" {
				t.Errorf("X-Forwarded-Host from an untrusted client reached the app")
			}
		})
	}
}

// An unreachable upstream is a 502, and costs no budget: with a hard
// per-address budget of one failure, every later attempt still goes out.
func TestProxyUpstreamDown(t *testing.T) {
	pol := gatetest.Unlimited()
	pol.IP = limit.Limit{Burst: 1, Period: time.Hour}
	up := hangingUp(t)
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol}, func(c *Config) { c.Upstream = up })
	for i := range 3 {
		r := e.login("alice", "correct horse battery")
		if r.status != http.StatusBadGateway || errorCode(t, r) != "temporarily_unavailable" {
			t.Fatalf("attempt %d: %d %s; want 502 (a 429 means the failure was charged)", i, r.status, r.body)
		}
	}
	if res, err := e.ts.Client().Get(e.ts.URL + "/headers"); err != nil || res.StatusCode != http.StatusBadGateway {
		t.Errorf("pass-through with the upstream down: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if e.attempts("unavailable") != 3 || e.attempts("failure") != 0 {
		t.Errorf("metrics: unavailable %d failure %d", e.attempts("unavailable"), e.attempts("failure"))
	}
}

// Login bodies the proxy cannot read as the app would are refused — 413
// above the cap, 400 otherwise — and neither forwarded nor charged.
func TestProxyRefusesBadLoginBodies(t *testing.T) {
	pol := gatetest.Unlimited()
	pol.IP = limit.Limit{Burst: 1, Period: time.Hour}
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol}, nil)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	big := "username=alice&password=" + strings.Repeat("x", httpapi.MaxFormBytes)
	tests := []struct {
		name, path, ct, body string
		header               []string
		status               int
	}{
		{"oversized form", "/token", form, big, nil, http.StatusRequestEntityTooLarge},
		{"missing username", "/token", form, "password=x", nil, http.StatusBadRequest},
		{"repeated username", "/token", form, "username=decoy&username=alice&password=x", nil, http.StatusBadRequest},
		{"semicolon separator", "/token", form, "username=decoy;username=alice&password=x", nil, http.StatusBadRequest},
		{"bad percent-encoding", "/token", form, "username=%zz&password=x", nil, http.StatusBadRequest},
		{"username not normalisable", "/token", form, "username=%20alice&password=x", nil, http.StatusBadRequest},
		{"no content type", "/token", "", "username=alice&password=x", nil, http.StatusBadRequest},
		{"multipart", "/token", "multipart/form-data; boundary=x", "--x--", nil, http.StatusBadRequest},
		{"compressed", "/token", form, "username=alice&password=x", []string{"Content-Encoding", "gzip"}, http.StatusBadRequest},
		{"username in the query", "/token?username=alice", form, "username=decoy&password=x", nil, http.StatusBadRequest},
		{"semicolon in the query", "/token?a=1;username=alice", form, "username=decoy&password=x", nil, http.StatusBadRequest},
		{"second encoding", "/token", form, "username=alice&password=x", []string{"Content-Encoding", "identity, gzip"}, http.StatusBadRequest},
		// Connection names headers the proxy drops before forwarding: the
		// app would read this body without its Content-Type (FastAPI: as
		// JSON) and log in another account than the guard saw.
		{"connection drops the content type", "/token", form, `{"username":"bob","password":"hunter2hunter2","z":"&username=alice&"}`, []string{"Connection", "Content-Type"}, http.StatusBadRequest},
		{"upgrade on a login", "/token", form, "username=alice&password=x", []string{"Upgrade", "websocket"}, http.StatusBadRequest},
		{"json array", "/token", js, `[{"username":"alice"}]`, nil, http.StatusBadRequest},
		{"json repeated member", "/token", js, `{"username":"decoy","username":"alice","password":"x"}`, nil, http.StatusBadRequest},
		{"json member in another case", "/token", js, `{"username":"decoy","UserName":"alice","password":"x"}`, nil, http.StatusBadRequest},
		{"json username not a string", "/token", js, `{"username":7,"password":"x"}`, nil, http.StatusBadRequest},
		{"json trailing data", "/token", js, `{"username":"alice","password":"x"} {}`, nil, http.StatusBadRequest},
		{"json truncated", "/token", js, `{"username":"alice"`, nil, http.StatusBadRequest},
		{"json charset", "/token", js + "; charset=latin1", `{"username":"alice"}`, nil, http.StatusBadRequest},
		// Any other spelling of the login path is refused before its body is read.
		{"trailing slash", "/token/", form, "password=x", nil, http.StatusBadRequest},
		{"double slash", "//token", form, "password=x", nil, http.StatusBadRequest},
		{"other case", "/TOKEN", form, "password=x", nil, http.StatusBadRequest},
		{"dot segment", "/x/../token", form, "password=x", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		r := e.post(tt.path, tt.ct, tt.body, tt.header...)
		if r.status != tt.status || errorCode(t, r) != "invalid_request" {
			t.Errorf("%s: %d %s; want %d invalid_request", tt.name, r.status, r.body, tt.status)
		}
	}
	// A body over the cap without a Content-Length is cut off as it is read.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", form)
	if res, err := e.ts.Client().Do(req); err != nil || res.StatusCode != http.StatusRequestEntityTooLarge || res.ContentLength == 0 {
		t.Errorf("chunked oversized body: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// Two Content-Types: servers keep the first or the last.
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader("username=alice&password=x"))
	req.Header.Add("Content-Type", form)
	req.Header.Add("Content-Type", js)
	if res, err := e.ts.Client().Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("two Content-Types: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if e.app.Logins() != 0 {
		t.Fatalf("the app received %d of the refused bodies", e.app.Logins())
	}
	if e.attempts("invalid_request") != len(tests)+2 {
		t.Errorf("invalid_request count %d, want %d", e.attempts("invalid_request"), len(tests)+2)
	}
	// Any method but POST, GET, HEAD and OPTIONS on a login path, in any
	// spelling (some frameworks upper-case "post"), never reaches the app.
	for _, m := range []string{"post", "PUT", "PATCH"} {
		req, _ := http.NewRequest(m, e.ts.URL+"/token", strings.NewReader("username=alice&password=x"))
		req.Header.Set("Content-Type", form)
		res, err := e.ts.Client().Do(req)
		if err != nil || res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /token: %v %v; want 405", m, res, err)
			continue
		}
		res.Body.Close()
	}
	if e.app.Logins() != 0 {
		t.Fatalf("the app received %d logins sent with other methods", e.app.Logins())
	}
	if r := e.login("alice", "correct horse battery"); r.status != http.StatusOK || e.app.Logins() != 1 {
		t.Errorf("a good login after the refusals: %d %s (a refusal was charged?)", r.status, r.body)
	}
}

// JSON logins are read, guarded and forwarded like form logins.
func TestProxyJSONLogin(t *testing.T) {
	pol := gatetest.Unlimited()
	pol.IP = limit.Limit{Burst: 1, Period: time.Hour}
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol}, nil)
	tests := []struct {
		body   string
		status int
	}{
		{`{"username":"alice","password":"correct horse battery"}`, http.StatusOK},
		{`{"username":"bob","password":"wrong","remember":true}`, http.StatusUnauthorized},
		{`{"username":"mallory","password":"wrong"}`, http.StatusTooManyRequests}, // the one failure allowed is spent
	}
	for _, tt := range tests {
		r := e.post("/token", "application/json; charset=utf-8", tt.body)
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.body, r.status, r.body, tt.status)
		}
		if tt.status == http.StatusOK && (r.header.Get(DeviceHeader) == "" || !strings.Contains(string(r.body), "token-for-alice")) {
			t.Errorf("%s: the app's answer or the device credential is missing: %v %s", tt.body, r.header, r.body)
		}
	}
	if e.app.Logins() != 2 {
		t.Errorf("app logins %d, want 2", e.app.Logins())
	}
}

// With uniform failure timing, a fast "unknown user" failure takes at
// least as long as the app's slow path seen recently (a lower bound only).
func TestProxyUniformFailureTiming(t *testing.T) {
	app := newApp()
	app.SlowPath = 150 * time.Millisecond
	e := newProxyEnv(t, app, gatetest.Config{Policy: gatetest.Unlimited()}, func(c *Config) { c.UniformFailureTiming = true })
	if r := e.login("bob", "wrong password"); r.status != http.StatusUnauthorized {
		t.Fatalf("known user: %d", r.status)
	}
	for i := range 3 {
		start := time.Now()
		r := e.login(fmt.Sprintf("nobody%d", i), "wrong password")
		if took := time.Since(start); r.status != http.StatusUnauthorized || took < app.SlowPath {
			t.Errorf("unknown user: %d after %v; want 401 after at least %v", r.status, took, app.SlowPath)
		}
	}
}

// latencyWindow keeps the slowest latency of the last ten minutes.
func TestLatencyWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var l latencyWindow
	steps := []struct {
		at      time.Duration
		observe time.Duration // 0: none
		want    time.Duration
	}{
		{0, 100 * time.Millisecond, 100 * time.Millisecond},
		{30 * time.Second, 20 * time.Millisecond, 100 * time.Millisecond},
		{5 * time.Minute, 300 * time.Millisecond, 300 * time.Millisecond},
		{9 * time.Minute, 0, 300 * time.Millisecond},
		{11 * time.Minute, 0, 300 * time.Millisecond}, // the first minute has gone
		{15 * time.Minute, 0, 0},                      // all gone
		{15*time.Minute + time.Second, 50 * time.Millisecond, 50 * time.Millisecond},
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if s.observe > 0 {
			l.observe(now, s.observe)
		}
		if got := l.max(now); got != s.want {
			t.Errorf("step %d (+%v): max %v, want %v", i, s.at, got, s.want)
		}
	}
}

// Trust is earned only by proving a password, and only for the name
// exactly as sent: an app that compares names exactly has "ALICE" and
// "alice" as two accounts, and a device credential from the first (which
// an attacker can register) must buy nothing against the second; a
// success of another grant (a refresh token) proves no password.
func TestProxyTrustNeedsThePasswordOfThatExactName(t *testing.T) {
	pol := gatetest.Unlimited()
	pol.IP = limit.Limit{Burst: 1, Period: time.Hour}
	app := protecttest.New(map[string]string{"alice": "correct horse battery", "ALICE": "attacker's own", "bob": "hunter2hunter2"})
	e := newProxyEnv(t, app, gatetest.Config{Policy: pol}, nil)

	upper := e.login("ALICE", "attacker's own")
	dev := upper.header.Get(DeviceHeader)
	if upper.status != http.StatusOK || dev == "" {
		t.Fatalf("login as ALICE: %d, device %q", upper.status, dev)
	}
	if r := e.login("bob", "wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("spending the address's budget: %d %s", r.status, r.body)
	}
	// The address is spent: only a device credential for that very name
	// gets through now.
	if r := e.login("alice", "correct horse battery", DeviceHeader, dev); r.status == http.StatusOK {
		t.Errorf("ALICE's device credential let the address through for alice: %d", r.status)
	}
	// Nor did ALICE's success make this network known for alice: the
	// guard keys trust by the name as the app received it (TrustName).
	if r := e.login("alice", "correct horse battery"); r.status == http.StatusOK {
		t.Errorf("ALICE's success made the network known for alice: %d", r.status)
	}
	if r := e.login("ALICE", "attacker's own", DeviceHeader, dev); r.status != http.StatusOK {
		t.Errorf("ALICE's own device credential: %d %s", r.status, r.body)
	}

	// A refresh-style grant that the app answers 200 earns no credential.
	e2 := newProxyEnv(t, newApp(), gatetest.Config{Policy: gatetest.Unlimited()}, nil)
	form := url.Values{"grant_type": {"refresh_token"}, "username": {"alice"}, "password": {"correct horse battery"}}
	r := e2.post("/token", "application/x-www-form-urlencoded", form.Encode())
	if r.status != http.StatusOK || r.header.Get(DeviceHeader) != "" || strings.Contains(r.header.Get("Set-Cookie"), gate.DeviceCookie) {
		t.Errorf("refresh_token grant: %d, device %q, cookie %q; want the app's 200 and no credential", r.status, r.header.Get(DeviceHeader), r.header.Get("Set-Cookie"))
	}
}
