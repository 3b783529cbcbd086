package loginapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

const kcToken = "/realms/" + standin.KeycloakRealm + "/protocol/openid-connect/token"

func keycloakProfile(t *testing.T) *loginapi.Profile {
	t.Helper()
	p, err := loginapi.New("keycloak", loginapi.Options{Realms: []string{standin.KeycloakRealm}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// browser is a client with a cookie jar that does not follow redirects,
// so a test sees the login's own answer.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u, ct, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestKeycloakStandinThroughProfile logs in to the Keycloak stand-in over
// loopback through a gateway reading the keycloak profile, by both
// logins, and checks how the profile read each attempt and answer.
func TestKeycloakStandinThroughProfile(t *testing.T) {
	kc := standin.NewKeycloak(map[string]string{"alice": alicePass})
	g, gw := serveGateway(t, keycloakProfile(t), serve(t, kc))
	const form = "application/x-www-form-urlencoded"
	direct := func(user, pw string) string {
		return url.Values{"grant_type": {"password"}, "client_id": {standin.KeycloakClient}, "username": {user}, "password": {pw}}.Encode()
	}
	loginForm := func(t *testing.T, user, pw string) (*http.Response, string) {
		c := browser(t)
		resp, page := do(t, c, "GET", gw.URL+"/realms/test/protocol/openid-connect/auth?client_id=app&response_type=code", "", "")
		action, ok := standin.FormAction(page)
		if resp.StatusCode != 200 || !ok {
			t.Fatalf("login page: %d %s", resp.StatusCode, page)
		}
		return do(t, c, "POST", gw.URL+action, form, url.Values{"username": {user}, "password": {pw}, "credentialId": {""}}.Encode())
	}
	tests := []struct {
		name    string
		send    func(t *testing.T) (*http.Response, string)
		want    loginapi.Attempt
		outcome loginapi.Outcome
		status  int
	}{
		{"direct grant right", func(t *testing.T) (*http.Response, string) {
			return do(t, http.DefaultClient, "POST", gw.URL+kcToken, form, direct("alice", alicePass))
		}, loginapi.Attempt{Identifier: "alice", Guess: true, Earns: true}, loginapi.Success, 200},
		{"direct grant wrong", func(t *testing.T) (*http.Response, string) {
			return do(t, http.DefaultClient, "POST", gw.URL+kcToken, form, direct("alice", wrongGuess))
		}, loginapi.Attempt{Identifier: "alice", Guess: true, Earns: true}, loginapi.Failure, 401},
		{"direct grant unknown user", func(t *testing.T) (*http.Response, string) {
			return do(t, http.DefaultClient, "POST", gw.URL+kcToken, form, direct("mallory", wrongGuess))
		}, loginapi.Attempt{Identifier: "mallory", Guess: true, Earns: true}, loginapi.Failure, 401},
		{"refresh grant", func(t *testing.T) (*http.Response, string) {
			return do(t, http.DefaultClient, "POST", gw.URL+kcToken, form, "grant_type=refresh_token&client_id=app&refresh_token=r")
		}, loginapi.Attempt{}, loginapi.Failure, 400},
		{"login form right", func(t *testing.T) (*http.Response, string) { return loginForm(t, "alice", alicePass) },
			loginapi.Attempt{Identifier: "alice", Guess: true, Earns: true}, loginapi.Success, 302},
		{"login form wrong", func(t *testing.T) (*http.Response, string) { return loginForm(t, "alice", wrongGuess) },
			loginapi.Attempt{Identifier: "alice", Guess: true, Earns: true}, loginapi.Failure, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.send(t)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			s := g.last(t)
			if s.err != nil || s.attempt.Identifier != tt.want.Identifier || s.attempt.Guess != tt.want.Guess || s.attempt.Earns != tt.want.Earns {
				t.Fatalf("attempt %+v (%v), want %+v", s.attempt, s.err, tt.want)
			}
			if s.outcome != tt.outcome {
				t.Fatalf("Classify = %v, want %v (%d %s)", s.outcome, tt.outcome, resp.StatusCode, body)
			}
		})
	}
	for _, ip := range kc.ClientIPs() {
		if ip != "198.51.100.7" {
			t.Fatalf("Keycloak read the client address %s", ip)
		}
	}
}

// TestKeycloakStandinLockout shows the weakness the gateway exists for:
// Keycloak's brute-force detection locks the user, not the attacker, so
// an attacker's failures lock the owner out — the right password then
// answers like a wrong one (and the profile reads it as a failure).
func TestKeycloakStandinLockout(t *testing.T) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	kc := standin.NewKeycloak(map[string]string{"alice": alicePass})
	kc.FailureFactor = 5
	kc.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	base := serve(t, kc)
	p := keycloakProfile(t)
	try := func(pw, ip string) loginapi.Answer {
		return post(t, base+kcToken, "application/x-www-form-urlencoded",
			url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {pw}}.Encode(), "X-Forwarded-For", ip)
	}
	for range kc.FailureFactor {
		if a := try(wrongGuess, "203.0.113.66"); a.Status != 401 {
			t.Fatalf("attacker's guess: %d %s", a.Status, a.Body)
		}
	}
	hashes := kc.Checks()
	owner := try(alicePass, "198.51.100.20")
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(owner.Body, &body)
	if owner.Status != 401 || body.Error != "invalid_grant" || body.ErrorDescription != "Invalid user credentials" {
		t.Fatalf("the locked owner got %d %s", owner.Status, owner.Body)
	}
	if got := p.Classify(time.Now(), owner); got != loginapi.Failure {
		t.Fatalf("the locked owner's answer read as %v", got)
	}
	if kc.Checks() != hashes {
		t.Fatal("a locked user's password was hashed")
	}
	t.Logf("after %d wrong guesses from one address, the owner's right password from another answers %d %s", kc.FailureFactor, owner.Status, owner.Body)
	mu.Lock()
	at = at.Add(kc.WaitIncrement)
	mu.Unlock()
	if a := try(alicePass, "198.51.100.20"); p.Classify(time.Now(), a) != loginapi.Success {
		t.Fatalf("after the wait: %d %s", a.Status, a.Body)
	}
}

// TestKeycloakDirectGrantOAuth2Client: a real OAuth2 client
// (x/oauth2's PasswordCredentialsToken) through a gateway reading the
// keycloak profile: the profile reads its request, and the client decodes
// Keycloak's success and refusal.
func TestKeycloakDirectGrantOAuth2Client(t *testing.T) {
	kc := standin.NewKeycloak(map[string]string{"alice": alicePass})
	g, gw := serveGateway(t, keycloakProfile(t), serve(t, kc))
	cfg := oauth2.Config{
		ClientID: standin.KeycloakClient,
		Endpoint: oauth2.Endpoint{TokenURL: gw.URL + kcToken, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient)
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice", alicePass)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("right password: %+v, %v", tok, err)
	}
	if s := g.last(t); s.attempt.Identifier != "alice" || !s.attempt.Earns || s.outcome != loginapi.Success {
		t.Fatalf("the gateway saw %+v", s)
	}
	_, err = cfg.PasswordCredentialsToken(ctx, "alice", wrongGuess)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 401 || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "Invalid user credentials" {
		t.Fatalf("wrong password: %v", err)
	}
	if s := g.last(t); s.outcome != loginapi.Failure {
		t.Fatalf("the gateway read the refusal as %v", s.outcome)
	}
}

// TestGoTrueStandinThroughProfile logs in to the GoTrue stand-in through
// a gateway reading the gotrue profile.
func TestGoTrueStandinThroughProfile(t *testing.T) {
	gt := standin.NewGoTrue(map[string]string{alice: alicePass, "15550100": alicePass})
	g, gw := serveGateway(t, profile(t, "gotrue"), serve(t, gt))
	const js = "application/json"
	tests := []struct {
		name, path, body string
		header           []string
		want             loginapi.Attempt
		readErr          string
		outcome          loginapi.Outcome
		status           int
	}{
		{"email right", "/token?grant_type=password", `{"email":"` + alice + `","password":"` + alicePass + `"}`, nil,
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, "", loginapi.Success, 200},
		{"behind the gateway path", "/auth/v1/token?grant_type=password", `{"email":"` + alice + `","password":"` + alicePass + `"}`, nil,
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, "", loginapi.Success, 200},
		{"email wrong", "/token?grant_type=password", `{"email":"` + alice + `","password":"` + wrongGuess + `"}`, nil,
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, "", loginapi.Failure, 400},
		{"email wrong, API 2024-01-01", "/token?grant_type=password", `{"email":"` + alice + `","password":"` + wrongGuess + `"}`, []string{"X-Supabase-Api-Version", "2024-01-01"},
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, "", loginapi.Failure, 400},
		{"phone right, spaced", "/token?grant_type=password", `{"phone":"+1 555 0100","password":"` + alicePass + `"}`, nil,
			loginapi.Attempt{Identifier: "15550100", Guess: true, Earns: true}, "", loginapi.Success, 200},
		{"unknown", "/token?grant_type=password", `{"email":"mallory@example.com","password":"` + wrongGuess + `"}`, nil,
			loginapi.Attempt{Identifier: "mallory@example.com", Guess: true, Earns: true}, "", loginapi.Failure, 400},
		{"email and phone", "/token?grant_type=password", `{"email":"` + alice + `","phone":"15550100","password":"x"}`, nil,
			loginapi.Attempt{}, "not both", 0, 400},
		{"email case variant", "/token?grant_type=password", `{"email":"mallory@example.com","EMAIL":"` + alice + `","password":"x"}`, nil,
			loginapi.Attempt{}, "only in case", 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.DefaultClient, "POST", gw.URL+tt.path, js, tt.body, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			s := g.last(t)
			if tt.readErr != "" {
				if s.err == nil || !strings.Contains(s.err.Error(), tt.readErr) {
					t.Fatalf("ReadAttempt error %v, want %q", s.err, tt.readErr)
				}
				return
			}
			if s.err != nil || s.attempt.Identifier != tt.want.Identifier || s.attempt.Guess != tt.want.Guess || s.attempt.Earns != tt.want.Earns {
				t.Fatalf("attempt %+v (%v), want %+v", s.attempt, s.err, tt.want)
			}
			if s.outcome != tt.outcome {
				t.Fatalf("Classify = %v, want %v (%s)", s.outcome, tt.outcome, body)
			}
		})
	}
	for _, ip := range gt.ClientIPs() {
		if ip != "198.51.100.7" {
			t.Fatalf("GoTrue keyed its rate limit by %q", ip)
		}
	}
}

// TestGoTrueStandinRateLimit shows GoTrue's limit: one bucket per value
// of the header it trusts — so whoever writes that header picks a fresh
// bucket per guess, and a request without it is not limited at all. Its
// 429 comes before the password and reads as not judged.
func TestGoTrueStandinRateLimit(t *testing.T) {
	gt := standin.NewGoTrue(map[string]string{alice: alicePass})
	gt.Burst, gt.Rate = 3, 0
	base := serve(t, gt)
	p := profile(t, "gotrue")
	body := `{"email":"` + alice + `","password":"` + wrongGuess + `"}`
	guess := func(header ...string) loginapi.Answer {
		return post(t, base+"/token?grant_type=password", "application/json", body, header...)
	}
	for range gt.Burst {
		if a := guess("X-Forwarded-For", "203.0.113.1"); a.Status != 400 {
			t.Fatalf("guess within the burst: %d %s", a.Status, a.Body)
		}
	}
	limited := guess("X-Forwarded-For", "203.0.113.1, 10.0.0.1")
	if limited.Status != 429 || !strings.Contains(string(limited.Body), "over_request_rate_limit") || p.Classify(time.Now(), limited) != loginapi.NotJudged {
		t.Fatalf("past the burst: %d %s", limited.Status, limited.Body)
	}
	hashes := gt.Checks()
	for i := range 10 {
		if a := guess("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 10+i)); a.Status != 400 {
			t.Fatalf("a chosen header value: %d", a.Status)
		}
		if a := guess(); a.Status != 400 {
			t.Fatalf("no header: %d", a.Status)
		}
	}
	if got := gt.Checks() - hashes; got != 20 {
		t.Fatalf("%d hashes for 20 guesses with chosen or no headers", got)
	}
}

// TestKratosBrowserFlowThroughProfile runs Kratos's browser flow — a form
// post with csrf_token, answered with a 303 whatever the password — and a
// single-page app's JSON post of the same flow, through a gateway reading
// the kratos profile.
func TestKratosBrowserFlowThroughProfile(t *testing.T) {
	k := standin.NewKratos(map[string]string{alice: alicePass})
	g, gw := serveGateway(t, profile(t, "kratos"), serve(t, k))
	flow := func(t *testing.T, c *http.Client) (id, csrf string) {
		resp, body := do(t, c, "GET", gw.URL+"/self-service/login/browser", "", "", "Accept", "application/json")
		var f struct {
			ID string `json:"id"`
			UI struct {
				Nodes []struct {
					Attributes struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"attributes"`
				} `json:"nodes"`
			} `json:"ui"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &f) != nil {
			t.Fatalf("browser flow: %d %s", resp.StatusCode, body)
		}
		for _, n := range f.UI.Nodes {
			if n.Attributes.Name == "csrf_token" {
				return f.ID, n.Attributes.Value
			}
		}
		t.Fatal("no csrf_token node")
		return "", ""
	}
	tests := []struct {
		name, pw string
		json     bool
		badCSRF  bool
		outcome  loginapi.Outcome
		status   int
	}{
		{"form right", alicePass, false, false, loginapi.Success, 303},
		{"form wrong is a 303 too", wrongGuess, false, false, loginapi.Failure, 303},
		{"form wrong csrf", alicePass, false, true, loginapi.Failure, 303},
		{"json right", alicePass, true, false, loginapi.Success, 200},
		{"json wrong", wrongGuess, true, false, loginapi.Failure, 400},
		{"json wrong csrf", alicePass, true, true, loginapi.Failure, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			id, csrf := flow(t, c)
			if tt.badCSRF {
				csrf = "forged"
			}
			ct, body := "application/x-www-form-urlencoded", url.Values{"method": {"password"}, "identifier": {alice}, "password": {tt.pw}, "csrf_token": {csrf}}.Encode()
			if tt.json {
				b, _ := json.Marshal(map[string]string{"method": "password", "identifier": alice, "password": tt.pw, "csrf_token": csrf})
				ct, body = "application/json", string(b)
			}
			resp, got := do(t, c, "POST", gw.URL+"/self-service/login?flow="+id, ct, body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, got)
			}
			s := g.last(t)
			if s.err != nil || s.attempt.Identifier != alice || !s.attempt.Guess || !s.attempt.Earns {
				t.Fatalf("attempt %+v (%v)", s.attempt, s.err)
			}
			if s.outcome != tt.outcome {
				t.Fatalf("Classify = %v, want %v", s.outcome, tt.outcome)
			}
		})
	}
}
