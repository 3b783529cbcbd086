package protect

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/challenge/interstitial"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// TestChallengePageNotOfferedToCrossSitePosts: an app that defends its
// login against cross-site request forgery by Fetch Metadata / Origin
// (Go's http.CrossOriginProtection, Rails' origin check, Django's Origin
// check, SameSite session or CSRF cookies) refuses a form that another
// site makes a browser post. Under challenge, protect answers that
// cross-site post with the challenge page, and the page re-posts the form
// itself, from the app's own origin: the browser then sends
// Sec-Fetch-Site: same-origin, Origin: the app's origin and every
// SameSite=Strict/Lax cookie (the device cookie included), and protect
// forwards the sealed cross-site form with those headers. The app's CSRF
// defence is laundered: an attacker's page signs the victim in to the
// attacker's account (login CSRF), or spends the victim's device budget.
//
// The browser's headers on the page's own post are emulated here (the
// page is same-origin and submits its form by script: Sec-Fetch-Site:
// same-origin, Origin: the proxy's origin).
func TestChallengePageNotOfferedToCrossSitePosts(t *testing.T) {
	app := protecttest.NewFormApp(map[string]string{"mallory@example.com": "attacker's password"})
	e := newPageEnv(t, http.NewCrossOriginProtection().Handler(app), "kratos")
	login := "/self-service/login?flow=" + protecttest.FormFlow
	form := url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"mallory@example.com"}, "password": {"attacker's password"}}
	const victim = "198.51.100.20"
	// Later pairs win: browserHeaders' own Sec-Fetch-Site is overridden.
	crossSite := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	sameOrigin := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "same-origin", "Origin", e.ts.URL)

	// Unchallenged (the address's first attempt), the app's CSRF defence
	// refuses the cross-site post.
	if r := e.post(login, form, victim, crossSite...); r.status != http.StatusForbidden || strings.Contains(string(r.body), interstitial.FormSealed) {
		t.Fatalf("control: unchallenged cross-site post got %d %q; want the app's 403", r.status, r.body)
	}
	// Challenged: the cross-site post gets the challenge page...
	before := len(app.FormsReceived())
	page := e.post(login, form, victim, crossSite...)
	if !strings.Contains(string(page.body), interstitial.FormSealed) {
		// Not offered the page: the cross-site post must be refused,
		// in the profile's HTML shape, and never reach the app.
		if page.status != http.StatusForbidden || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
			len(app.FormsReceived()) != before {
			t.Errorf("challenged cross-site post: %d %s, the app received %d forms; want protect's refusal and nothing for the app",
				page.status, page.header.Get("Content-Type"), len(app.FormsReceived())-before)
		}
		return
	}
	// ...which the browser solves and posts from the app's own origin.
	action, cont := continuation(t, page)
	r := e.post(action, cont, victim, sameOrigin...)
	if r.status == http.StatusSeeOther && r.header.Get("Location") == "/welcome" &&
		strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "ory_kratos_session=") {
		t.Errorf("a form posted cross-site by another site's page reached the app as a same-origin post and signed in " +
			"(the app's CSRF defence refused the same form unchallenged): the challenge page launders cross-site posts")
	}
}

// TestChallengePagePostsBackToItsOwnURL: the page's form posts back to
// the login URL as html/template writes it into the action attribute,
// and html/template's URL normaliser percent-encodes characters a browser
// sends raw in a query ({, }, |, ^, `, \): the browser then posts the
// continuation to another spelling of the URL than the one the form was
// sealed for, and every sign-in through the page ends on "This sign-in
// page has expired".
func TestChallengePagePostsBackToItsOwnURL(t *testing.T) {
	app := protecttest.NewFormApp(map[string]string{"alice@example.com": "correct horse battery"})
	e := newPageEnv(t, app, "kratos")
	// Chromium and Firefox leave these characters of a query unencoded.
	login := "/self-service/login?flow=" + protecttest.FormFlow + "&return_to=a|b{c}"
	form := url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"alice@example.com"}, "password": {"correct horse battery"}}
	const client = "198.51.100.21"
	wrong := url.Values{"csrf_token": {"csrf-ok"}, "method": {"password"}, "identifier": {"alice@example.com"}, "password": {"wrong"}}
	if r := e.post(login, wrong, client, browserHeaders...); r.status != http.StatusSeeOther {
		t.Fatalf("first attempt: %d %s", r.status, r.body)
	}
	action, cont := continuation(t, e.post(login, form, client, browserHeaders...))
	r := e.post(action, cont, client, browserHeaders...)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Errorf("page posted to %q (the login was %q): %d %s; want the sign-in to go on", action, login, r.status, r.body)
	}
}

// TestCrossSitePostsCannotSpendDeviceBudget: the device cookie is
// SameSite=Strict so that another site cannot make a browser spend its
// trusted budget: a cross-site form post carries no cookie. Through the
// challenge page it does: the page's own post is same-origin, so the
// browser adds the Strict device cookie, and protect reads the sealed
// cross-site guess as the trusted device's. An attacker's page that posts
// wrong passwords for the victim's account from the victim's browser
// exhausts the victim's device budget, and the victim, right password and
// device cookie in hand, is refused during an attack.
//
// The browser's cookie and headers on the page's own post are emulated
// (same-origin: Cookie with the Strict device cookie).
func TestCrossSitePostsCannotSpendDeviceBudget(t *testing.T) {
	const victim = "198.51.100.40"
	_, e := challengedAlice(t, victim)
	login, form := formLogin, aliceForm
	// The victim signs in through the page and keeps the device cookie.
	action, cont := continuation(t, e.post(login, form("correct horse battery"), victim, browserHeaders...))
	r := e.post(action, cont, victim, browserHeaders...)
	var device string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == gate.DeviceCookie {
			device = c.Value
		}
	}
	if device == "" {
		t.Fatalf("no device cookie: %d %v", r.status, r.header)
	}
	cookie := gate.DeviceCookie + "=" + device
	crossSite := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	sameOrigin := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "same-origin", "Origin", e.ts.URL, "Cookie", cookie)
	// The attacker's page posts wrong passwords cross-site (no Strict
	// cookie); the challenge page re-posts each same-origin (with it).
	for i := range 12 {
		page := e.post(login, form(fmt.Sprintf("guess %d", i)), victim, crossSite...)
		if !strings.Contains(string(page.body), interstitial.FormSealed) {
			break
		}
		action, cont := continuation(t, page)
		e.post(action, cont, victim, sameOrigin...)
	}
	// The victim, with the right password and the device cookie.
	r = e.post(login, form("correct horse battery"), victim, append([]string{"Cookie", cookie}, browserHeaders...)...)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Errorf("after another site's page posted guesses through the challenge page, the victim's own sign-in with its device cookie got %d (RateLimit-Policy %q); "+
			"the Strict device cookie never rides a cross-site post, so its budget should be untouched", r.status, r.header.Get("Ratelimit-Policy"))
	}
}

// TestContinuationFromAnotherSiteRefused: the page posts its sealed form
// from the login's own origin; a continuation posted from another site
// (a sealed form lifted from the page, or one sealed for an address the
// attacker shares) is refused and reaches nothing.
func TestContinuationFromAnotherSiteRefused(t *testing.T) {
	const client = "198.51.100.50"
	app, e := challengedAlice(t, client)
	login, form := formLogin, aliceForm
	action, cont := continuation(t, e.post(login, form("correct horse battery"), client, browserHeaders...))
	before := len(app.FormsReceived())
	for _, site := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://ui.example"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		r := e.post(action, cont, client, append(slices.Clone(browserHeaders), site...)...)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), interstitial.English.Expired) {
			t.Errorf("continuation with %v: %d %.200s; want the page saying to sign in again", site, r.status, r.body)
		}
	}
	if got := len(app.FormsReceived()); got != before {
		t.Errorf("the app received %d forms from continuations posted by another site", got-before)
	}
	// The same continuation from the page itself still goes on: the
	// refusals above did not spend it.
	if r := e.post(action, cont, client, browserHeaders...); r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Errorf("the page's own continuation: %d %.200s", r.status, r.body)
	}
}

// TestChallengePageOriginBehindTrustedProxy: a browser without Fetch
// Metadata (an older one, or any on plain HTTP away from localhost) is
// judged by its Origin against the origin it addressed, which a trusted
// proxy in front names (X-Forwarded-Proto, X-Forwarded-Host): its own
// origin gets the page, with a default port or a trailing dot spelled
// either way, and another gets the refusal.
func TestChallengePageOriginBehindTrustedProxy(t *testing.T) {
	const client = "198.51.100.60"
	app, e := challengedAlice(t, client)
	oldBrowser := []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8",
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example"}
	for _, tt := range []struct {
		origin string
		page   bool
	}{
		{"https://app.example", true},
		{"https://app.example:443", true},
		{"https://app.example.", true},
		{"http://app.example", false},
		{"https://evil.example", false},
		{e.ts.URL, false}, // the proxy's own address, not the one the client used
	} {
		before := len(app.FormsReceived())
		r := e.post(formLogin, aliceForm("correct horse battery"), client, append(slices.Clone(oldBrowser), "Origin", tt.origin)...)
		if got := strings.Contains(string(r.body), interstitial.FormSealed); got != tt.page || len(app.FormsReceived()) != before {
			t.Errorf("Origin %s: %d, page %v, want page %v; the app received %d forms", tt.origin, r.status, got, tt.page, len(app.FormsReceived())-before)
		}
	}
}

// TestChallengePageForListedLoginFormOrigin: a login page the operator
// serves apart from the login URL (--login-form-origin, a Kratos
// self-service UI on its own host) gets the challenge page for its form
// posts, and the sign-in goes on; any other site still gets the refusal.
func TestChallengePageForListedLoginFormOrigin(t *testing.T) {
	const client = "198.51.100.70"
	_, e := challengedAliceWith(t, client, Config{LoginFormOrigins: []string{"https://ui.example.com"}})
	other := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "same-site", "Origin", "https://evil.example.com")
	if r := e.post(formLogin, aliceForm("correct horse battery"), client, other...); strings.Contains(string(r.body), interstitial.FormSealed) {
		t.Errorf("a post from an origin not listed got the challenge page")
	}
	ui := append(slices.Clone(browserHeaders), "Sec-Fetch-Site", "same-site", "Origin", "https://ui.example.com")
	action, cont := continuation(t, e.post(formLogin, aliceForm("correct horse battery"), client, ui...))
	// The page's own post comes from the login's origin.
	if r := e.post(action, cont, client, browserHeaders...); r.status != http.StatusSeeOther || r.header.Get("Location") != "/welcome" {
		t.Errorf("continuation from the page: %d %.200s", r.status, r.body)
	}
}
