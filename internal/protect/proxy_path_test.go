package protect

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

func TestCanonicalPath(t *testing.T) {
	for _, tt := range protecttest.TokenSpellings() {
		if got, ok := canonicalPath(tt.Path); got != "/token" || !ok {
			t.Errorf("%s: canonicalPath(%q) = %q, %v; want /token", tt.Name, tt.Path, got, ok)
		}
		if tt.Lenient && protecttest.LenientRoute(tt.Path) != "/token" {
			t.Errorf("%s: the lenient upstream does not route %q to /token", tt.Name, tt.Path)
		}
	}
	others := []struct{ path, want string }{
		{"/token", "/token"},
		{"/t%u006Fken", "/token"}, // IIS; Go's server refuses it with 400 before the proxy
		{"", "/"},
		{"/", "/"},
		{"/tokens", "/tokens"},
		{"/token~", "/token~"},
		{"/.token", "/.token"},
		{"/token/x", "/token/x"},
		{"/api/token", "/api/token"},
		{"/token/..", "/"},
		{"/login.php", "/login"},
		{"/v1.2/token", "/v1.2/token"},
		{"/a%zz", "/a%zz"},
		{"/100%", "/100%"},
	}
	for _, tt := range others {
		if got, ok := canonicalPath(tt.path); got != tt.want || !ok {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
		}
	}
	// Too odd to tell: the proxy treats these as spellings of every login.
	for _, p := range []string{"/token/...", "/x/. ../token", "/%" + strings.Repeat("25", 9) + "2e/token"} {
		if got, ok := canonicalPath(p); ok {
			t.Errorf("canonicalPath(%q) = %q, settled; want unsettled", p, got)
		}
	}
}

// FuzzCanonicalPath: canonicalPath never panics and agrees with foldPath
// (its shortcut for plain paths changes nothing), a settled result is
// absolute, clean and its own canonical form, and appending any of the
// folded decorations to a login path (or putting it in another case)
// never takes it away from that login path.
func FuzzCanonicalPath(f *testing.F) {
	for _, tt := range protecttest.TokenSpellings() {
		f.Add(tt.Path, "")
	}
	for _, s := range []string{"/token", "", "%", "%u", "%%32%65", "/..", "/.../", "\x00", "/\xff", "/İ", "/%C4%B0", "/ﬀ", "/%EF%BC%85%32%65", "/Api/V1/x_y-z", "/a//b", "/a/"} {
		f.Add(s, ";x")
	}
	f.Fuzz(func(t *testing.T, p, suffix string) {
		c, ok := canonicalPath(p)
		if slow, slowOK := foldPath(p); slow != c || slowOK != ok {
			t.Fatalf("canonicalPath(%q) = %q, %v but foldPath says %q, %v", p, c, ok, slow, slowOK)
		}
		if !ok {
			return
		}
		if !strings.HasPrefix(c, "/") || strings.Contains(c, "//") || (len(c) > 1 && strings.HasSuffix(c, "/")) {
			t.Fatalf("canonicalPath(%q) = %q: not clean", p, c)
		}
		if again, ok := canonicalPath(c); again != c || !ok {
			t.Fatalf("canonicalPath(%q) = %q, but canonicalPath(%q) = %q, %v", p, c, c, again, ok)
		}
		// The same path with a folded decoration is the same login.
		if strings.ContainsAny(suffix, "/\\%#?.~") || strings.TrimFunc(suffix, isPathJunk) != suffix {
			return
		}
		for _, spelling := range []string{
			"/token;" + suffix, "/TOKEN", "/token.json", "/token/", "/token%3B" + url.PathEscape(suffix), "/x/../token",
		} {
			if got, ok := canonicalPath(spelling); ok && got != "/token" {
				t.Fatalf("canonicalPath(%q) = %q, want /token", spelling, got)
			}
		}
	})
}

// TestProxyLoginPathSpellingsAreGuarded: a POST to any other spelling of a
// login path is refused with 400 (another method with 405) before the
// app sees it and without charging a budget; GET, HEAD and OPTIONS pass
// through as on the login path itself; a POST to the exact path still
// logs in.
func TestProxyLoginPathSpellingsAreGuarded(t *testing.T) {
	app := newApp()
	app.Lenient = true
	e := oneFailureProxy(t, app)
	form := url.Values{"username": {"alice"}, "password": {"a guess"}}.Encode()
	for _, tt := range protecttest.TokenSpellings() {
		for _, m := range []string{http.MethodPost, http.MethodPut, "post"} {
			status, body, err := protecttest.Send(e.ts.URL, m, tt.Path, form, "Content-Type", "application/x-www-form-urlencoded")
			if err != nil {
				t.Fatal(err)
			}
			want := http.StatusBadRequest
			if m != http.MethodPost {
				want = http.StatusMethodNotAllowed
			}
			if status != want || !strings.Contains(body, `"invalid_request"`) {
				t.Errorf("%s: %s %s: %d %s; want %d invalid_request", tt.Name, m, tt.Path, status, body, want)
			}
		}
	}
	if n := app.Logins(); n != 0 {
		t.Fatalf("the app received %d logins sent to other spellings: %q", n, app.LoginTargets())
	}
	if got := e.attempts("invalid_request"); got != len(protecttest.TokenSpellings()) {
		t.Errorf("invalid_request count %d, want %d", got, len(protecttest.TokenSpellings()))
	}
	if status, body, err := protecttest.Send(e.ts.URL, http.MethodGet, "/TOKEN.js", ""); err != nil || status != http.StatusNotFound {
		t.Errorf("GET /TOKEN.js: %d %s; want the app's 404", status, body)
	}
	if r := e.login("alice", "correct horse battery"); r.status != http.StatusOK || app.Logins() != 1 {
		t.Errorf("the exact path after the refusals: %d %s (was a refusal charged?)", r.status, r.body)
	}
}

// oneFailureProxy starts app behind a proxy whose only budget is one
// failure per address an hour, so a charged refusal shows.
func oneFailureProxy(t *testing.T, app *protecttest.App) *proxyEnv {
	t.Helper()
	pol := gatetest.Unlimited()
	pol.IP = limit.Limit{Burst: 1, Period: time.Hour}
	return newProxyEnv(t, app, gatetest.Config{Policy: pol}, nil)
}

// TestProtectFoldedSpellingNeverEarnsTrust: an app whose catch-all route
// answers 200 to any POST must not turn a login sent to /TOKEN into a
// proven password — no refund, no known network, no device credential for
// the name sent — nor cost a budget.
func TestProtectFoldedSpellingNeverEarnsTrust(t *testing.T) {
	app := newApp()
	app.CatchAll = true
	e := oneFailureProxy(t, app)
	form := url.Values{"username": {"mallory"}, "password": {"anything"}}.Encode()
	for _, p := range []string{"/TOKEN", "/token/", "//token", "/a/../token", "/%2e/token"} {
		r := e.post(p, "application/x-www-form-urlencoded", form)
		if r.status != http.StatusBadRequest || r.header.Get(DeviceHeader) != "" || strings.Contains(r.header.Get("Set-Cookie"), gate.DeviceCookie) {
			t.Errorf("POST %s: %d, device %q, cookie %q; want 400 and no credential", p, r.status, r.header.Get(DeviceHeader), r.header.Get("Set-Cookie"))
		}
	}
	if n := len(e.logs.Events("device.issue")) + len(e.logs.Events("login.success")); n != 0 {
		t.Errorf("%d device.issue and login.success records; want none", n)
	}
	if r := e.login("alice", "correct horse battery"); r.status != http.StatusOK || app.Logins() != 1 {
		t.Errorf("the exact path after the refusals: %d %s (was a refusal charged?)", r.status, r.body)
	}
}

// TestProtectStripsRoutingOverrideHeaders: headers some frameworks route by
// instead of the request path never reach the app, from any client.
func TestProtectStripsRoutingOverrideHeaders(t *testing.T) {
	e := newProxyEnv(t, newApp(), gatetest.Config{}, nil)
	got := e.headersSeen("X-Original-URL", "/token", "X-Rewrite-URL", "/token", "X_Original_URL", "/token",
		"X-Original-URI", "/token", "X-Envoy-Original-Path", "/token", "X-Envoy-Internal", "true", "X-Other", "kept")
	for name := range got {
		if c := strings.ToLower(strings.ReplaceAll(name, "_", "-")); strings.HasPrefix(c, "x-original-ur") || c == "x-rewrite-url" || strings.HasPrefix(c, "x-envoy-") {
			t.Errorf("%s reached the app: %q", name, got[name])
		}
	}
	if got.Get("X-Other") != "kept" {
		t.Errorf("an ordinary header was removed: %v", got)
	}
}

// The cost every request pays before the proxy knows whether it is a
// login.
func BenchmarkCanonicalPath(b *testing.B) {
	for _, p := range []string{"/api/v1/orders/12345", "/API;x/..%5C%252E/./ToKeN.JSON.;b%00/"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				canonicalPath(p)
			}
		})
	}
}

// A login path no request can spell exactly would refuse every login: it
// is refused at start.
func TestNewRefusesUnmatchableLoginPaths(t *testing.T) {
	gp := gatetest.New(t, gatetest.Config{Policy: gatetest.Unlimited(), Workers: 1, Queue: 1})
	deps := Deps{Guard: gp.Guard, Devices: gp.Devices, Challenges: gp.Challenges, Hasher: gp.Hasher,
		ClientIP: gp.Resolver, Log: slog.New(slog.DiscardHandler)}
	for _, lp := range []string{"/my token", "token", "/a%zz", "/x/.../token", "/tok%65n"} {
		prof, err := loginapi.New("fastapi", loginapi.Options{LoginPaths: []string{lp}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Profiles: []*loginapi.Profile{prof}}
		if _, err := New(cfg, deps); err == nil {
			t.Errorf("login path %q accepted", lp)
		}
	}
}

// Which profile reads a login must not depend on how its path is spelt,
// and the upstream reads the client address from one header: two profiles
// on one login path (in any spelling), or reading different headers, are
// refused at start.
func TestNewRefusesConflictingProfiles(t *testing.T) {
	gp := gatetest.New(t, gatetest.Config{Policy: gatetest.Unlimited(), Workers: 1, Queue: 1})
	deps := Deps{Guard: gp.Guard, Devices: gp.Devices, Challenges: gp.Challenges, Hasher: gp.Hasher,
		ClientIP: gp.Resolver, Log: slog.New(slog.DiscardHandler)}
	prof := func(name string, o loginapi.Options) *loginapi.Profile {
		p, err := loginapi.New(name, o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		profiles []*loginapi.Profile
		want     string
	}{
		{"one path, two profiles", []*loginapi.Profile{prof("authelia", loginapi.Options{}), prof("fastapi", loginapi.Options{LoginPaths: []string{"/api/firstfactor"}})}, "both guard"},
		{"another spelling", []*loginapi.Profile{prof("authelia", loginapi.Options{}), prof("fastapi", loginapi.Options{LoginPaths: []string{"/API/FirstFactor"}})}, "both guard"},
		{"two address headers", []*loginapi.Profile{prof("fastapi", loginapi.Options{}), prof("kratos", loginapi.Options{})}, "different headers"},
		{"none", nil, "at least one"},
	}
	for _, tt := range tests {
		cfg := Config{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Profiles: tt.profiles}
		if _, err := New(cfg, deps); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	ok := []*loginapi.Profile{prof("authelia", loginapi.Options{}), prof("fastapi", loginapi.Options{})}
	if _, err := New(Config{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Profiles: ok}, deps); err != nil {
		t.Errorf("authelia and fastapi on one upstream: %v", err)
	}
}
