package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/credshield/credshield/internal/challenge/browser/browsertest"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/img/challenge-page.png from the browser test")

// signInAtForm opens the stand-in app's sign-in form at base through
// protect, signs in, and waits until the app welcomes the browser; it
// returns how long that took from the click, how many history entries
// the sign-in added (1: straight in; 2: through the challenge page) and,
// when shot, a screenshot of the challenge page taken while it works.
func signInAtForm(t *testing.T, ctx context.Context, base, name, pw string, shot bool) (time.Duration, int, []byte) {
	t.Helper()
	submit := `(() => { const f = document.getElementById("login");
		f.identifier.value = ` + jsString(name) + `; f.password.value = ` + jsString(pw) + `;
		const n = history.length; f.requestSubmit(); return n; })()`
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/login")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](submit))
	if err != nil {
		t.Fatal(err)
	}
	var png []byte
	if shot {
		if _, err := across(ctx, `document.getElementById("credshield-status")?.textContent.includes("%") ? "working" : ""`, 20*time.Second); err != nil {
			t.Fatalf("the challenge page did not show: %v", err)
		}
		if png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
			t.Fatal(err)
		}
	}
	welcome, err := across(ctx, `document.getElementById("welcome")?.textContent ?? ""`, 60*time.Second)
	took := time.Since(start)
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`))
		t.Fatalf("sign-in: %v (the browser shows %q)", err, body)
	}
	if welcome != "Signed in as "+name {
		t.Fatalf("welcome %q", welcome)
	}
	after, err := chromedp.Run(ctx, chromedp.Evaluate[int](`history.length`))
	if err != nil {
		t.Fatal(err)
	}
	return took, after - before, png
}

// across evaluates expr every 10 ms until it gives a non-empty string,
// across the navigations of a form post (an evaluation interrupted by
// one is simply tried again), for at most timeout.
func across(ctx context.Context, expr string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err == nil && v != "" {
			return v, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("waiting for %s: %v", expr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// challengedFormApp starts the stand-in HTML-form app for users behind
// protect, with every untrusted sign-in from loopback challenged at the
// under-attack difficulty (10), and returns the app and the proxy's URL.
func challengedFormApp(t *testing.T, users map[string]string, flags ...string) (*protecttest.FormApp, string) {
	t.Helper()
	app := protecttest.NewFormApp(users)
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", append([]string{"--upstream", up.URL, "--profile", "kratos", "--data-dir", t.TempDir(),
		"--guard-ip-soft-limit", "1/1h", "--challenge-difficulty", "10", "--challenge-attack-difficulty", "10",
		"--attack-min-failures", "1000000", "--known-network-ttl", "0"}, flags...)...)
	// The address's one unchallenged attempt: from now on untrusted
	// sign-ins from loopback are challenged.
	login := proxy + "/self-service/login?flow=" + protecttest.FormFlow
	wrong := url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"nobody@example.com"}, "password": {"wrong"}}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(login, wrong)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("failed sign-in: %d", res.StatusCode)
	}
	return app, proxy
}

// TestMeasureChallengePage measures what a person at a browser waits
// during an attack: from the click on the sign-in button to the app's
// welcome page, through the challenge page at difficulty 10, for browsers
// with neither the device cookie nor the solver in their cache. It runs
// only when asked, since it takes a minute and wants a quiet machine:
//
//	CREDSHIELD_MEASURE=1 go test -count=1 -run TestMeasureChallengePage -v ./cmd/credshield/
//
// CREDSHIELD_MEASURE_CHALLENGES (default 40) sets how many sign-ins.
func TestMeasureChallengePage(t *testing.T) {
	if os.Getenv("CREDSHIELD_MEASURE") == "" {
		t.Skip("set CREDSHIELD_MEASURE=1 to measure sign-ins through the challenge page (a minute)")
	}
	browsertest.Path(t)
	n := 40
	if v, err := strconv.Atoi(os.Getenv("CREDSHIELD_MEASURE_CHALLENGES")); err == nil && v > 0 {
		n = v
	}
	users := make(map[string]string)
	for i := range n {
		users[fmt.Sprintf("user%d@example.com", i)] = "correct horse battery"
	}
	// Budgets wide enough for n sign-ins from one address; every one of
	// them is still challenged (the soft limit is spent).
	_, proxy := challengedFormApp(t, users, "--guard-ip-limit", "10000/1h", "--guard-subnet-limit", "10000/1h",
		"--guard-subnet48-limit", "10000/1h", "--guard-network-limit", "10000/24h")
	ctx := browsertest.New(t, time.Duration(n)*30*time.Second)
	var ms []float64
	for i := range n {
		if err := chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			if _, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
				return chromedp.Void{}, err
			}
			_, err := cdp.Call(ctx, tg, network.ClearBrowserCache, cdp.Empty{})
			return chromedp.Void{}, err
		}); err != nil {
			t.Fatal(err)
		}
		// A new tab each time: its history counts the challenge page.
		tab, closeTab := chromedp.NewContext(ctx)
		took, entries, _ := signInAtForm(t, tab, proxy, fmt.Sprintf("user%d@example.com", i), "correct horse battery", false)
		closeTab()
		if entries != 2 {
			t.Fatalf("sign-in %d added %d history entries; want 2 (through the challenge page)", i, entries)
		}
		ms = append(ms, float64(took.Microseconds())/1000)
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return ms[int(p*float64(len(ms)-1)+0.5)] / 1000 }
	t.Logf("%d new browsers, click to the app's welcome page through the challenge page at difficulty 10: median %.2f s, p90 %.2f s, max %.2f s",
		n, q(0.5), q(0.9), ms[len(ms)-1]/1000)
}

// TestBrowserChallengePage: behind protect, with every untrusted
// sign-in challenged at the under-attack difficulty (10), a new browser
// posting the stand-in app's HTML form gets the challenge page, which
// solves it and signs in by itself; the app receives the form without any
// challenge field; the device cookie comes back __Host-, HttpOnly and
// Secure, and the returning browser signs in straight away.
func TestBrowserChallengePage(t *testing.T) {
	browsertest.Path(t)
	app, proxy := challengedFormApp(t, map[string]string{"alice@example.com": "correct horse battery"})

	ctx := browsertest.New(t, 120*time.Second)
	// The screenshot only when asked for: a lucky solve can leave the
	// page's progress on screen for less time than a poll takes, and the
	// history (two entries) already shows the page was passed through.
	took, entries, png := signInAtForm(t, ctx, proxy, "alice@example.com", "correct horse battery", *updateScreenshot)
	t.Logf("a new browser signed in through the challenge page at difficulty 10 in %v", took.Round(10*time.Millisecond))
	if entries != 2 {
		t.Errorf("the first sign-in added %d history entries; want 2 (the page, then the app)", entries)
	}
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "challenge-page.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range app.FormsReceived() {
		if !slices.Equal(f, []string{"csrf_token", "identifier", "method", "password"}) {
			t.Errorf("the app received a form with %v", f)
		}
	}
	c := deviceCookie(t, ctx, proxy+"/")
	if c == nil || !c.HTTPOnly || !c.Secure || c.Path != "/" {
		t.Fatalf("device cookie %+v; want HttpOnly, Secure, Path=/", c)
	}

	took, entries, _ = signInAtForm(t, ctx, proxy, "alice@example.com", "correct horse battery", false)
	if entries != 1 {
		t.Errorf("the returning browser's sign-in added %d history entries; want 1 (no page)", entries)
	}
	t.Logf("the returning browser signed in in %v", took.Round(time.Millisecond))

	// A browser without JavaScript (and without the device cookie) is
	// told in plain words what to do.
	if err := chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	}, chromedp.Navigate(proxy+"/login")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById("login");
		f.identifier.value = "alice@example.com"; f.password.value = "correct horse battery"; f.requestSubmit(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	text, err := across(ctx, `document.querySelector("h1")?.textContent === "One moment, please" ? document.body.innerText : ""`, 20*time.Second)
	if err != nil || !strings.Contains(text, "Turn on JavaScript for this site and sign in again") || strings.Contains(text, "Starting the check") {
		t.Errorf("without JavaScript the page reads %q (%v)", text, err)
	}
}
