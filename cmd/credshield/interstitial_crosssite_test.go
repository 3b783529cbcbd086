package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credshield/credshield/internal/challenge/browser/browsertest"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// TestBrowserCrossSiteLoginNotLaundered: in Chromium, a page
// on another site (http://localhost:Q) auto-submits a login form with the
// attacker's credentials to an app behind protect (http://127.0.0.1:P)
// whose login refuses cross-origin posts (Go's http.CrossOriginProtection,
// Fetch Metadata and Origin, as Rails' and Django's origin checks do).
// Unchallenged, the app refuses it. Challenged, protect answers with the
// challenge page, which re-posts the sealed form from the app's own
// origin: Sec-Fetch-Site: same-origin, Origin: the app's, SameSite cookies
// sent. The app signed the victim's browser in to the attacker's account
// (login CSRF). Now a cross-site post never gets the page.
func TestBrowserCrossSiteLoginNotLaundered(t *testing.T) {
	browsertest.Path(t)
	app := protecttest.NewFormApp(map[string]string{"mallory@example.com": "attacker's password"})
	up := httptest.NewServer(http.NewCrossOriginProtection().Handler(app))
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", "--upstream", up.URL, "--profile", "kratos", "--data-dir", t.TempDir(),
		"--guard-ip-soft-limit", "1/1h", "--challenge-difficulty", "4", "--challenge-attack-difficulty", "4",
		"--attack-min-failures", "1000000", "--known-network-ttl", "0")
	if !strings.HasPrefix(proxy, "http://127.0.0.1:") {
		t.Fatalf("proxy at %s; want 127.0.0.1", proxy)
	}
	login := proxy + "/self-service/login?flow=" + protecttest.FormFlow

	// The attacker's page, on another site (localhost is not 127.0.0.1).
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><title>cute cats</title>
<form method="post" action="` + login + `">
<input type="hidden" name="csrf_token" value="csrf-ok">
<input type="hidden" name="method" value="password">
<input type="hidden" name="identifier" value="mallory@example.com">
<input type="hidden" name="password" value="attacker's password">
</form><script>document.forms[0].submit()</script>`))
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	ctx := browsertest.New(t, 90*time.Second)
	// Control: unchallenged (the address's first attempt), the app's
	// defence refuses the cross-site post.
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatal(err)
	}
	text, err := across(ctx, `location.href.startsWith("`+proxy+`") && document.body ? document.body.innerText : ""`, 20*time.Second)
	if err != nil || !strings.Contains(strings.ToLower(text), "cross-origin") {
		t.Fatalf("control: the unchallenged cross-site post shows %q (%v); want the app's cross-origin refusal", text, err)
	}
	// Spend whatever is left of the address's unchallenged attempts.
	wrong := url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"nobody@example.com"}, "password": {"wrong"}}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(login, wrong)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	// Challenged: the same cross-site post must not sign in either. Before
	// the fix protect answered it with the challenge page, which posted
	// the form again from the app's own origin, and the app signed this
	// browser in; now it gets protect's refusal page.
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatal(err)
	}
	outcome, err := across(ctx, `document.getElementById("welcome")?.textContent ||
		(location.href.startsWith("`+proxy+`") && document.body && !document.getElementById("credshield") ? "refused: " + document.body.innerText : "")`, 20*time.Second)
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`))
		t.Fatalf("challenged cross-site post: %v (the browser shows %q)", err, body)
	}
	if !strings.HasPrefix(outcome, "refused: ") {
		t.Errorf("another site's form, challenged, ended on %q; want a refusal (the same post unchallenged was refused by the app as cross-origin)", outcome)
	}
}
