package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/browser"
	"github.com/credshield/credshield/internal/challenge/browser/browsertest"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// examplePage serves examples/browser-login/index.html, the page the
// browser tests log in through.
func examplePage(t *testing.T) http.Handler {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("..", "..", "examples", "browser-login", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
}

// pageResult is window.credshieldExample after a login through the page.
type pageResult struct {
	State       string `json:"state"`
	Status      int    `json:"status"`
	Challenges  int    `json:"challenges"`
	Evaluations int    `json:"evaluations"`
}

// loginInBrowser opens the example page at pageURL in the browser of ctx,
// signs in as name and waits for the outcome.
func loginInBrowser(t *testing.T, ctx context.Context, pageURL, name, pw string) pageResult {
	t.Helper()
	submit := fmt.Sprintf(`(() => { const f = document.getElementById("login");
		f.username.value = %q; f.password.value = %q; f.requestSubmit(); return true; })()`, name, pw)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		discard(chromedp.Poll[bool](`window.credshieldExample !== undefined`, chromedp.WithPollingInterval(20*time.Millisecond))),
		discard(chromedp.Evaluate[bool](submit)),
	); err != nil {
		t.Fatalf("submit the login form: %v", err)
	}
	r, err := chromedp.Run(ctx, chromedp.Poll[pageResult](
		`["signed-in", "refused", "error"].includes(window.credshieldExample.state) && window.credshieldExample`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second)))
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		t.Fatalf("login in the browser: %v (page says %q)", err, status)
	}
	return r
}

// discard runs a and drops its value.
func discard[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}

// deviceCookie returns the browser's device cookie for u, if any.
func deviceCookie(t *testing.T, ctx context.Context, u string) *network.Cookie {
	t.Helper()
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		return r.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		if c.Name == "__Host-credshield-device" {
			return c
		}
	}
	return nil
}

// formLogin posts a password grant from Go (no cookies) and returns the
// status and the error code of the answer.
func formLogin(t *testing.T, tokenURL, name, pw string) (int, string) {
	t.Helper()
	res, err := http.PostForm(tokenURL, url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &body)
	return res.StatusCode, body.Error
}

// The device cookie is __Host- and Secure, and the tests run on plain
// http://127.0.0.1: Chromium treats loopback as a secure context and keeps
// Secure cookies from it, so the cookie is tested as deployed, not weakened.
//
// browserLoginFlow is what both serve and protect must do for a browser
// at the example page (pageURL; its token endpoint is tokenURL), once an
// untrusted client from this address must solve a challenge: the first
// login solves one in the browser, the device cookie comes back HttpOnly
// and __Host-, and the returning browser logs in without a challenge
// while a cookie-less client from the same address is still challenged.
func browserLoginFlow(t *testing.T, pageURL, tokenURL, name, pw string) {
	ctx := browsertest.New(t, 90*time.Second)
	if code, e := formLogin(t, tokenURL, name, pw); code != http.StatusBadRequest || e != challenge.ErrorCode {
		t.Fatalf("a client without a device cookie: %d %q, want a challenge (the test must start challenged)", code, e)
	}

	first := loginInBrowser(t, ctx, pageURL, name, pw)
	if first.State != "signed-in" || first.Challenges != 1 {
		t.Fatalf("first login in the browser: %+v; want signed in after one challenge", first)
	}
	c := deviceCookie(t, ctx, pageURL)
	if c == nil {
		t.Fatal("no device cookie in the browser after a successful login")
	}
	if !c.HTTPOnly || !c.Secure || c.Path != "/" {
		t.Errorf("device cookie: HttpOnly %v, Secure %v, Path %q; want HttpOnly, Secure, /", c.HTTPOnly, c.Secure, c.Path)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`))
	if err != nil || strings.Contains(stored, "credshield") {
		t.Errorf("page storage and script-visible cookies: %q %v; want nothing of credshield", stored, err)
	}

	if code, e := formLogin(t, tokenURL, name, pw); code != http.StatusBadRequest || e != challenge.ErrorCode {
		t.Fatalf("a client without the cookie after the browser's login: %d %q, want still challenged", code, e)
	}
	again := loginInBrowser(t, ctx, pageURL, name, pw)
	if again.State != "signed-in" || again.Challenges != 0 {
		t.Errorf("returning browser: %+v; want signed in without a challenge", again)
	}
}

// TestBrowserLogsInThroughServe: the example page logs in through
// credshield.js against serve with every untrusted attempt challenged.
// The page and serve share one origin behind a front server, as a
// deployment puts them behind one host.
func TestBrowserLogsInThroughServe(t *testing.T) {
	browsertest.Path(t)
	dir := t.TempDir()
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	base := startServe(t, append([]string{"--data-dir", dir, "--guard-ip-soft-limit", "1/1h",
		"--challenge-difficulty", "3", "--challenge-attack-difficulty", "3", "--attack-min-failures", "1000000", "--known-network-ttl", "0"}, cheapHash...)...)
	target, _ := url.Parse(base)
	mux := http.NewServeMux()
	mux.Handle("GET /login", examplePage(t))
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)

	// Spend the address's soft budget: from now on untrusted logins from
	// loopback are challenged.
	if code, _ := formLogin(t, front.URL+"/token", "alice", "wrong password"); code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Fatalf("failed login: %d", code)
	}
	browserLoginFlow(t, front.URL+"/login", front.URL+"/token", "alice", "correct horse battery")

	// An OAuth2 library still gets JSON it understands: the challenge as an
	// RFC 6749 error, and the assets prefix does not change the API.
	conf := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	_, err := conf.PasswordCredentialsToken(context.Background(), "alice", "correct horse battery")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != challenge.ErrorCode || re.Response.Header.Get("Content-Type") != "application/json" {
		t.Errorf("x/oauth2 client: %v; want a challenge_required JSON error", err)
	}
	res, err := http.Get(base + browser.DefaultPrefix + "nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown file under the assets prefix: %d %s; want a JSON 404", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestBrowserLogsInThroughProtect: the same page, served by the app
// itself, logs in through protect in front of a stand-in app.
func TestBrowserLogsInThroughProtect(t *testing.T) {
	browsertest.Path(t)
	app := protecttest.New(map[string]string{"alice": "correct horse battery"})
	mux := http.NewServeMux()
	mux.Handle("GET /login", examplePage(t))
	mux.Handle("/", app)
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", "--upstream", up.URL, "--data-dir", t.TempDir(), "--guard-ip-soft-limit", "1/1h",
		"--challenge-difficulty", "3", "--challenge-attack-difficulty", "3", "--attack-min-failures", "1000000", "--known-network-ttl", "0")
	if code, _ := formLogin(t, proxy+"/token", "alice", "wrong password"); code != http.StatusUnauthorized {
		t.Fatalf("failed login: %d", code)
	}
	browserLoginFlow(t, proxy+"/login", proxy+"/token", "alice", "correct horse battery")
}

// TestAssetsPrefix: serve hands out credshield.js under the default
// prefix; protect under the configured one, passing the default prefix on
// to the app like any other path, and none at all with an empty prefix.
func TestAssetsPrefix(t *testing.T) {
	var (
		mu      sync.Mutex
		reached []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		reached = append(reached, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(up.Close)
	status := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Content-Type")
	}

	serve := startServe(t, append([]string{"--data-dir", t.TempDir()}, cheapHash...)...)
	if code, ct := status(serve + browser.DefaultPrefix + "credshield.js"); code != http.StatusOK || ct != "text/javascript; charset=utf-8" {
		t.Errorf("serve, default prefix: %d %s", code, ct)
	}
	protect := startCommand(t, "protect", "--upstream", up.URL, "--data-dir", t.TempDir(), "--assets-prefix", "/auth/cs/")
	if code, _ := status(protect + "/auth/cs/credshield.js"); code != http.StatusOK {
		t.Errorf("protect, configured prefix: %d", code)
	}
	if code, _ := status(protect + browser.DefaultPrefix + "credshield.js"); code != http.StatusTeapot {
		t.Errorf("protect, the default prefix when another is configured: %d, want the app's answer", code)
	}
	off := startCommand(t, "protect", "--upstream", up.URL, "--data-dir", t.TempDir(), "--assets-prefix", "")
	if code, _ := status(off + browser.DefaultPrefix + "credshield.js"); code != http.StatusTeapot {
		t.Errorf("protect without assets: %d, want the app's answer", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(reached, " ") != browser.DefaultPrefix+"credshield.js "+browser.DefaultPrefix+"credshield.js" {
		t.Errorf("the app saw %q", reached)
	}
}

func TestAssetsPrefixConfigErrors(t *testing.T) {
	tests := []struct {
		command string
		args    []string
		want    string
	}{
		{"serve", []string{"--assets-prefix", "/assets"}, `--assets-prefix "/assets": want`},
		{"protect", []string{"--upstream", "http://127.0.0.1:1", "--assets-prefix", "/"}, `--assets-prefix "/": want`},
		{"protect", []string{"--upstream", "http://127.0.0.1:1", "--login-path", "/.well-known/credshield/login"}, "is under --assets-prefix"},
		{"protect", []string{"--upstream", "http://127.0.0.1:1", "--login-path", "/auth", "--assets-prefix", "/auth/"}, "is under --assets-prefix"},
	}
	for _, tt := range tests {
		code, _, stderr := credshield(t, "", nil, append([]string{tt.command, "--data-dir", t.TempDir()}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s %v: exit %d, stderr %q; want 2 and %q", tt.command, tt.args, code, stderr, tt.want)
		}
	}
}
