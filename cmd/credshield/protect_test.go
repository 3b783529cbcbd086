package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/challenge"
	gateway "github.com/credshield/credshield/internal/protect"
	"github.com/credshield/credshield/internal/protect/protecttest"
	"github.com/credshield/credshield/internal/store/storetest"
)

// stuffingApp is a FastAPI-style app with 200 accounts and only the
// seed's per-username limit, and the combo list of a one-address stuffing
// run against it: every account once, one pair in 40 still valid.
func stuffingApp(t *testing.T) (*protecttest.App, *httptest.Server, [][2]string) {
	t.Helper()
	users, combos := stuffingCombos("user%03d")
	app := protecttest.New(users)
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	return app, up, combos
}

// stuffingCombos are 200 accounts named by format (with the account's
// number) and a combo list against them: every account once, one pair in
// 40 still valid, the valid ones late in the list.
func stuffingCombos(format string) (map[string]string, [][2]string) {
	users := make(map[string]string)
	var combos [][2]string
	for i := range 200 {
		name := fmt.Sprintf(format, i)
		users[name] = "secret-" + name
		pw := "leaked-elsewhere"
		if i%40 == 39 {
			pw = users[name]
		}
		combos = append(combos, [2]string{name, pw})
	}
	return users, combos
}

// loginAt posts a form login to base/token as a client at ip (which the
// proxy believes only from a trusted peer), with extra form fields and
// header pairs, and returns the status, the device credential header and
// the body.
func loginAt(t *testing.T, base, ip, name, pw string, extra url.Values, header ...string) (int, string, []byte) {
	t.Helper()
	form := url.Values{"username": {name}, "password": {pw}}
	for k, v := range extra {
		form[k] = v
	}
	status, h, body := postAs(t, base+"/token", ip, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header...)
	return status, h.Get(gateway.DeviceHeader), body
}

// TestProtectStopsStuffing is issue 9's done-when: a one-address stuffing
// burst that takes over accounts when sent to the app directly takes over
// none through `credshield protect`, and a legitimate login still works.
func TestProtectStopsStuffing(t *testing.T) {
	directApp, direct, combos := stuffingApp(t)
	takeovers := func(base string) int {
		n := 0
		for _, c := range combos {
			if code, _, _ := loginAt(t, base, "203.0.113.9", c[0], c[1], nil); code == http.StatusOK {
				n++
			}
		}
		return n
	}
	if n := takeovers(direct.URL); n != 5 {
		t.Fatalf("direct to the app: %d accounts taken over, want 5 (the app's own limit should not stop it)", n)
	}

	// Through the proxy (cheap challenges, so the test solves one fast).
	app, up, _ := stuffingApp(t)
	proxy := startCommand(t, "protect", "--upstream", up.URL, "--data-dir", t.TempDir(), "--trusted-proxies", "127.0.0.1/32",
		"--challenge-difficulty", "2", "--challenge-attack-difficulty", "3")
	code, dev, _ := loginAt(t, proxy, "198.51.100.7", "user007", "secret-user007", nil)
	if code != http.StatusOK || dev == "" {
		t.Fatalf("login before the attack: %d, device credential %q", code, dev)
	}
	if n := takeovers(proxy); n != 0 {
		t.Errorf("through the proxy: %d accounts taken over, want 0", n)
	}
	if got := app.Logins(); got > 11 {
		t.Errorf("the app received %d of the burst's 200 attempts; want at most the soft budget, 10", got-1)
	}
	t.Logf("one-address burst of %d pairs: direct, %d reached the app; through the proxy, %d", len(combos), directApp.Logins(), app.Logins()-1)

	// Legitimate logins during the attack: from a known device at once;
	// from anywhere else after a challenge, which a real client solves.
	if code, _, body := loginAt(t, proxy, "192.0.2.1", "user007", "secret-user007", nil, gateway.DeviceHeader, dev); code != http.StatusOK {
		t.Errorf("known device during the attack: %d %s", code, body)
	}
	code, _, body := loginAt(t, proxy, "198.51.100.8", "user011", "secret-user011", nil)
	var refusal challenge.Response
	if err := json.Unmarshal(body, &refusal); err != nil || code != http.StatusBadRequest || refusal.Error != challenge.ErrorCode {
		t.Fatalf("new device during the attack: %d %s; want a challenge", code, body)
	}
	solution, _, err := challenge.Solve(context.Background(), refusal.Challenge.Token, 2)
	if err != nil {
		t.Fatal(err)
	}
	extra := url.Values{challenge.FormToken: {refusal.Challenge.Token}, challenge.FormSolution: {solution}}
	if code, dev, body := loginAt(t, proxy, "198.51.100.8", "user011", "secret-user011", extra); code != http.StatusOK || dev == "" {
		t.Errorf("new device with the challenge solved: %d %s", code, body)
	}
}

// Two proxies on one Redis and one PostgreSQL with one key-encryption key
// share one budget (a burst from one address split between them reaches
// the app as often as through one) and one device key (a credential from
// one is trusted by the other), although each has its own data directory.
func TestProtectReplicasShareOneBudget(t *testing.T) {
	redisU := redisURL(t)
	dsn := storetest.PostgresDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	app, up, combos := stuffingApp(t)
	shared := []string{"--upstream", up.URL, "--trusted-proxies", "127.0.0.1/32", "--db", dsn, "--kek-file", testKEKFile(t),
		"--guard-store", redisU, "--redis-prefix", "credshield-test-" + hex.EncodeToString(b[:]) + ":", "--replicas", "2", "--guard-store-timeout", steadyRedis}
	proxies := []string{
		startCommand(t, "protect", append([]string{"--data-dir", t.TempDir()}, shared...)...),
		startCommand(t, "protect", append([]string{"--data-dir", t.TempDir()}, shared...)...),
	}
	code, dev, _ := loginAt(t, proxies[0], "198.51.100.20", "user007", "secret-user007", nil)
	if code != http.StatusOK || dev == "" {
		t.Fatalf("login through the first proxy: %d, device credential %q", code, dev)
	}
	before := app.Logins()
	for i, c := range combos[:40] {
		loginAt(t, proxies[i%2], "203.0.113.10", c[0], c[1], nil)
	}
	if got := app.Logins() - before; got != 10 {
		t.Errorf("the app received %d attempts through two proxies; one shared budget lets 10 through", got)
	}
	// From the attacking address itself, the owner's device credential
	// from the first proxy gets them in through the second; without it,
	// the same login is refused before the app.
	if code, _, body := loginAt(t, proxies[1], "203.0.113.10", "user007", "secret-user007", nil); code == http.StatusOK {
		t.Fatalf("login from the exhausted address without a device credential: %d %s", code, body)
	}
	if code, _, body := loginAt(t, proxies[1], "203.0.113.10", "user007", "secret-user007", nil, gateway.DeviceHeader, dev); code != http.StatusOK {
		t.Errorf("the first proxy's device credential at the second: %d %s", code, body)
	}
	// PostgreSQL without a key-encryption key is refused, as for serve.
	if code, _, stderr := credshield(t, "", nil, "protect", "--upstream", up.URL, "--data-dir", t.TempDir(), "--db", dsn); code != 2 || !strings.Contains(stderr, "CREDSHIELD_KEK") {
		t.Errorf("protect on PostgreSQL without a KEK: exit %d %q", code, stderr)
	}
}

// TestProtectLoginPathSpellingsAreGuarded: in front of an app that routes
// like a servlet container, Rails and IIS together (/token;jsessionid=1,
// /token.json, /TOKEN, /token%00... all reach its password check), a
// one-address burst of guesses through every spelling reaches that check
// only as often as the guard's budget allows (10), and only on the exact
// login path: every other spelling is refused with 400 before the app,
// and costs nothing from the budget.
func TestProtectLoginPathSpellingsAreGuarded(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	guess := func(i int) string {
		return url.Values{"username": {fmt.Sprintf("user%03d", i)}, "password": {"leaked-elsewhere"}}.Encode()
	}
	spellings := protecttest.TokenSpellings()

	// Sent to the app directly, every lenient spelling is a login.
	direct := protecttest.New(map[string]string{"user000": "secret"})
	direct.Lenient = true
	directSrv := httptest.NewServer(direct)
	t.Cleanup(directSrv.Close)
	lenient := 0
	for i, sp := range spellings {
		if !sp.Lenient {
			continue
		}
		lenient++
		if status, body, err := protecttest.Send(directSrv.URL, http.MethodPost, sp.Path, guess(i), "Content-Type", form); err != nil || status != http.StatusUnauthorized {
			t.Fatalf("%s: the app answered %s with %d %s %v; want its 401", sp.Name, sp.Path, status, body, err)
		}
	}
	if got := direct.Logins(); got != int64(lenient) {
		t.Fatalf("direct: %d of %d spellings reached the password check", got, lenient)
	}

	app := protecttest.New(map[string]string{"user000": "secret"})
	app.Lenient = true
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", "--upstream", up.URL, "--data-dir", t.TempDir())
	n := 0
	for round := range 3 {
		for _, sp := range spellings {
			n++
			status, body, err := protecttest.Send(proxy, http.MethodPost, sp.Path, guess(n), "Content-Type", form)
			if err != nil || status != http.StatusBadRequest || !strings.Contains(body, `"invalid_request"`) {
				t.Errorf("round %d, %s: POST %s: %d %s %v; want 400 invalid_request", round, sp.Name, sp.Path, status, body, err)
			}
		}
	}
	for range 15 {
		n++
		_, _, _ = protecttest.Send(proxy, http.MethodPost, "/token", guess(n), "Content-Type", form)
	}
	if got := app.Logins(); got != 10 {
		t.Errorf("%d of %d guesses reached the app's password check; the budget allows 10", got, n)
	}
	for _, target := range app.LoginTargets() {
		if target != "/token" {
			t.Errorf("a login reached the app as %q; only /token may be forwarded", target)
		}
	}
	t.Logf("%d guesses through %d spellings and /token: %d reached the app", n, len(spellings), app.Logins())
}

func TestProtectConfigErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--upstream is required"},
		{[]string{"--upstream", "ftp://app:21"}, nil, "--upstream"},
		{[]string{"--upstream", "http://user:pw@app:8000"}, nil, "user info"},
		{nil, map[string]string{"CREDSHIELD_UPSTREAM": "app:8000"}, "--upstream"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--login-path", "token"}, nil, "--login-path"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--success-status", "2xx,401"}, nil, "both contain 401"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--failure-status", "40x"}, nil, "status codes"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--guard-ip-limit", "0/1h"}, nil, "burst"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--issuer", "https://x"}, nil, "unknown flag"},
	}
	for _, tt := range tests {
		code, _, stderr := credshield(t, "", tt.env, append([]string{"protect", "--data-dir", t.TempDir()}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", tt.args, tt.env, code, stderr, tt.want)
		}
	}
}
