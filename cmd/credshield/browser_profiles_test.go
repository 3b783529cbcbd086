package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credshield/credshield/internal/challenge/browser/browsertest"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// TestBrowserSolvesEveryProfilesChallenge: a single-page app behind
// protect logs in with credshield.js whatever the service behind it: the
// challenge comes in that service's own refusal (Authelia's 401, Supabase
// Auth's 400, Ory Kratos's 403), and credshield.js finds it there, solves
// it and retries. A plain failure of each service is returned as it came,
// never mistaken for a challenge.
func TestBrowserSolvesEveryProfilesChallenge(t *testing.T) {
	browsertest.Path(t)
	users := map[string]string{"alice@example.com": "correct horse battery"}
	for _, tt := range []struct {
		profile   string
		service   http.Handler
		failed    int    // the service's status for a wrong password
		challenge int    // protect's status for a challenge in the service's shape
		login     string // an expression: a Promise of the Response for password PW
	}{
		{"authelia", standin.NewAuthelia(users), http.StatusUnauthorized, http.StatusUnauthorized,
			`cs.fetch("/api/firstfactor", json({ username: "alice@example.com", password: PW, keepMeLoggedIn: false }))`},
		{"gotrue", standin.NewGoTrue(users), http.StatusBadRequest, http.StatusBadRequest,
			`cs.fetch("/token?grant_type=password", json({ email: "alice@example.com", password: PW }))`},
		{"kratos", standin.NewKratos(users), http.StatusBadRequest, http.StatusForbidden,
			`fetch("/self-service/login/api").then((r) => r.json()).then((flow) =>
				cs.fetch("/self-service/login?flow=" + flow.id, json({ method: "password", identifier: "alice@example.com", password: PW })))`},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /spa", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(w, "<!doctype html><title>app</title>")
			})
			mux.Handle("/", tt.service)
			up := httptest.NewServer(mux)
			t.Cleanup(up.Close)
			proxy := startCommand(t, "protect", "--upstream", up.URL, "--profile", tt.profile, "--data-dir", t.TempDir(),
				"--guard-ip-soft-limit", "1/1h", "--challenge-difficulty", "3", "--challenge-attack-difficulty", "3",
				"--attack-min-failures", "1000000", "--known-network-ttl", "0")
			ctx := browsertest.New(t, 60*time.Second)
			if err := chromedp.Do(ctx, chromedp.Navigate(proxy+"/spa")); err != nil {
				t.Fatal(err)
			}
			type outcome struct {
				Status, Challenges int
				Body               string
			}
			login := func(pw string) outcome {
				t.Helper()
				js := `(async () => {
					const { Credshield } = await import("/.well-known/credshield/credshield.js");
					const cs = new Credshield();
					let challenges = 0;
					cs.addEventListener("solved", () => challenges++);
					const json = (o) => ({ method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(o) });
					const PW = ` + strconv.Quote(pw) + `;
					const res = await ` + tt.login + `;
					return { Status: res.status, Challenges: challenges, Body: await res.text() };
				})()`
				o, err := chromedp.Run(ctx, chromedp.Evaluate[outcome](js, chromedp.EvalAwaitPromise))
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			// The address's one unchallenged attempt: the service's own
			// failure, returned as it came.
			if o := login("wrong"); o.Status != tt.failed || o.Challenges != 0 {
				t.Fatalf("wrong password: %+v; want the service's %d and no challenge", o, tt.failed)
			}
			// Now challenged: without credshield.js the login gets the
			// challenge in the service's shape...
			o, err := chromedp.Run(ctx, chromedp.Evaluate[outcome](`(async () => {
				const json = (o) => ({ method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(o) });
				const cs = { fetch: (...a) => fetch(...a) };
				const PW = "correct horse battery";
				const res = await `+tt.login+`;
				return { Status: res.status, Challenges: 0, Body: await res.text() };
			})()`, chromedp.EvalAwaitPromise))
			if err != nil || o.Status != tt.challenge || !strings.Contains(o.Body, `"challenge"`) {
				t.Errorf("plain fetch, challenged: %+v %v; want %d", o, err, tt.challenge)
			}
			// ...which credshield.js solves in the browser, then signs in.
			if o := login("correct horse battery"); o.Status != http.StatusOK || o.Challenges != 1 {
				t.Errorf("right password, challenged: %+v; want 200 after one challenge", o)
			}
		})
	}
}
