package protect

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/interstitial"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// pageEnv is a proxy with the challenge page in front of upstream, where
// every untrusted login from an address past its first is challenged
// (difficulty 3), on a clock the test moves.
type pageEnv struct {
	t   *testing.T
	ts  *httptest.Server
	now atomic.Int64 // Unix nanoseconds
}

func newPageEnv(t *testing.T, upstream http.Handler, profile string) *pageEnv {
	t.Helper()
	return newPageEnvWith(t, upstream, profile, Config{})
}

// newPageEnvWith is newPageEnv with cfg's settings beyond the upstream,
// the profile and the clock.
func newPageEnvWith(t *testing.T, upstream http.Handler, profile string, cfg Config) *pageEnv {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	pol := guard.DefaultPolicy()
	pol.IPSoft = limit.Limit{Burst: 1, Period: time.Hour}
	pol.Difficulty, pol.AttackDifficulty, pol.KnownNetworkTTL = 3, 3, 0
	// Room for every attempt of a test from one address and account: a
	// challenged attempt keeps its units of the hard budgets.
	pol.IP, pol.UserIP = limit.Limit{Burst: 100, Period: time.Hour}, limit.Limit{Burst: 100, Period: time.Hour}
	header := "X-Forwarded-For"
	gp := gatetest.New(t, gatetest.Config{Workers: 2, Queue: 64, Policy: pol,
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, ClientIPHeader: header})
	prof, err := loginapi.New(profile, loginapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := challenge.NewMemoryReplay(64)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := interstitial.NewSealer(make([]byte, interstitial.KeySize), replay)
	if err != nil {
		t.Fatal(err)
	}
	page, err := interstitial.New("/.well-known/credshield/", sealer, interstitial.English)
	if err != nil {
		t.Fatal(err)
	}
	e := &pageEnv{t: t}
	e.now.Store(time.Now().UnixNano())
	u, _ := url.Parse(up.URL)
	cfg.Upstream, cfg.Profiles, cfg.Now = u, []*loginapi.Profile{prof}, func() time.Time { return time.Unix(0, e.now.Load()) }
	p, err := New(cfg,
		Deps{Guard: gp.GateGuard(), Devices: gp.Devices, Challenges: gp.Challenges, Hasher: gp.Hasher,
			ClientIP: gp.Resolver, Log: slog.New(slog.DiscardHandler), Metrics: gp.Metrics, Page: page})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(p)
	t.Cleanup(e.ts.Close)
	return e
}

// browserHeaders are what a browser sends with a form it posts.
// browserHeaders are those of a browser's form post from a page of the
// proxy's own origin.
var browserHeaders = []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}

// post posts a form to target (a path and query) from client, with
// header pairs, and does not follow redirects.
func (e *pageEnv) post(target string, form url.Values, client string, header ...string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", client)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b, target: target}
}

var hiddenField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// continuation reads the challenge page r, solves its challenge and
// returns the form the page would post and where.
func continuation(t *testing.T, r response) (string, url.Values) {
	t.Helper()
	if r.status != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("want the challenge page, got %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(r.body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	// The page's form has no action: the browser posts it to the page's
	// own URL, the login URL as the browser sent it.
	if strings.Contains(string(r.body), "action=") {
		t.Fatalf("the challenge page names an action; want none (it posts to its own URL)")
	}
	sol, _, err := challenge.Solve(context.Background(), form.Get(challenge.FormToken), 1)
	if err != nil {
		t.Fatal(err)
	}
	form.Set(challenge.FormSolution, sol)
	return r.target, form
}

// formLogin is the stand-in form app's login URL behind the proxy.
const formLogin = "/self-service/login?flow=" + protecttest.FormFlow

// aliceForm is alice's sign-in form with password pw.
func aliceForm(pw string) url.Values {
	return url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"alice@example.com"}, "password": {pw}}
}

// challengedAlice puts the proxy in front of the form app with alice and
// spends client's one unchallenged attempt, so that its next sign-in is
// challenged.
func challengedAlice(t *testing.T, client string) (*protecttest.FormApp, *pageEnv) {
	t.Helper()
	return challengedAliceWith(t, client, Config{})
}

// challengedAliceWith is challengedAlice with the proxy's settings cfg.
func challengedAliceWith(t *testing.T, client string, cfg Config) (*protecttest.FormApp, *pageEnv) {
	t.Helper()
	app := protecttest.NewFormApp(map[string]string{"alice@example.com": "correct horse battery"})
	e := newPageEnvWith(t, app, "kratos", cfg)
	if r := e.post(formLogin, aliceForm("wrong"), client, browserHeaders...); r.status != http.StatusSeeOther {
		t.Fatalf("first attempt: %d %s", r.status, r.body)
	}
	return app, e
}

// TestChallengePageForFormLogins: a browser's form post under challenge
// gets the page, an API client posting the same form the JSON; the
// page's continuation reaches the app as the original form without any
// challenge field and signs in, earning the device cookie that spares the
// returning browser the page; a continuation replayed, expired or posted
// from another address is refused and never reaches the app.
func TestChallengePageForFormLogins(t *testing.T) {
	const client = "198.51.100.7"
	app, e := challengedAlice(t, client)
	login, form := formLogin, aliceForm
	if r := e.post(login, form("correct horse battery"), client, "Accept", "application/json"); r.status != http.StatusForbidden ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !strings.Contains(string(r.body), challenge.ErrorCode) {
		t.Fatalf("API client: %d %s %s; want the JSON challenge", r.status, r.header.Get("Content-Type"), r.body)
	}
	for _, tt := range [][]string{{"Sec-Fetch-Mode", "cors", "Accept", "text/html"}, {"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe"}} {
		if r := e.post(login, form("correct horse battery"), client, tt...); strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("%v: got the page, want the API answer", tt)
		}
	}
	big := form("correct horse battery")
	big.Set("pad", strings.Repeat("x", 7000))
	// A form too large to come back sealed gets no challenge page: a
	// browser is told to retry later (the profile's page), never handed a
	// page whose continuation the login body cap would refuse.
	if r := e.post(login, big, client, browserHeaders...); strings.Contains(string(r.body), interstitial.FormSealed) {
		t.Errorf("a form too large to come back sealed got the challenge page")
	}
	received := len(app.FormsReceived())

	page := e.post(login, form("correct horse battery"), client, browserHeaders...)
	if strings.Contains(string(page.body), "correct horse") {
		t.Fatal("the password sits in the page in clear")
	}
	action, cont := continuation(t, page)
	if action != login {
		t.Fatalf("the page posts to %q, want %q", action, login)
	}
	r := e.post(action, cont, client, browserHeaders...)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Fatalf("continuation: %d %s %v", r.status, r.body, r.header)
	}
	var device string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == gate.DeviceCookie {
			device = c.Value
			if !c.HttpOnly || !c.Secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("device cookie %+v; want __Host-, HttpOnly, Secure", c)
			}
		}
	}
	if device == "" || !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "ory_kratos_session=") {
		t.Fatalf("continuation set %q; want the app's session and the device cookie", r.header.Values("Set-Cookie"))
	}
	forms := app.FormsReceived()
	if len(forms) != received+1 || !slices.Equal(forms[len(forms)-1], []string{"csrf_token", "identifier", "method", "password"}) {
		t.Fatalf("the app received %v; want the original form alone", forms[received:])
	}

	refused := []struct {
		name   string
		send   func() response
		status int
	}{
		{"replayed", func() response { return e.post(action, cont, client, browserHeaders...) }, http.StatusBadRequest},
		{"from another address", func() response {
			action, cont := continuation(t, e.post(login, form("correct horse battery"), client, browserHeaders...))
			return e.post(action, cont, "198.51.100.8", browserHeaders...)
		}, http.StatusBadRequest},
		{"to another login URL", func() response {
			_, cont := continuation(t, e.post(login, form("correct horse battery"), client, browserHeaders...))
			return e.post(login+"&x=1", cont, client, browserHeaders...)
		}, http.StatusBadRequest},
		{"expired", func() response {
			action, cont := continuation(t, e.post(login, form("correct horse battery"), client, browserHeaders...))
			e.now.Add(int64(interstitial.Lifetime))
			return e.post(action, cont, client, browserHeaders...)
		}, http.StatusBadRequest},
		{"with the password beside it", func() response {
			action, cont := continuation(t, e.post(login, form("correct horse battery"), client, browserHeaders...))
			cont.Set("password", "x")
			return e.post(action, cont, client, browserHeaders...)
		}, http.StatusBadRequest},
	}
	for _, tt := range refused {
		before := len(app.FormsReceived())
		if r := tt.send(); r.status != tt.status || len(app.FormsReceived()) != before {
			t.Errorf("%s: %d %s, app received %d forms; want %d and none", tt.name, r.status, r.body, len(app.FormsReceived())-before, tt.status)
		}
	}

	// The returning browser sends its device cookie: no page, signed in.
	r = e.post(login, form("correct horse battery"), "198.51.100.9", append(browserHeaders, "Cookie", gate.DeviceCookie+"="+device)...)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Errorf("returning browser: %d %s", r.status, r.body)
	}
}

// TestChallengePageNotForOAuth2Clients: with the page on, an x/oauth2
// client posting the same form still gets challenge_required as JSON.
func TestChallengePageNotForOAuth2Clients(t *testing.T) {
	e := newPageEnv(t, newApp(), "fastapi")
	conf := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: e.ts.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	var re *oauth2.RetrieveError
	for i := range 2 {
		_, err := conf.PasswordCredentialsToken(context.Background(), "alice", "wrong")
		if i == 1 && (!errors.As(err, &re) || re.ErrorCode != challenge.ErrorCode || re.Response.Header.Get("Content-Type") != "application/json") {
			t.Errorf("x/oauth2 client: %v; want a challenge_required JSON error", err)
		}
	}
}
