package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/loginapi/standin"
	gateway "github.com/credshield/credshield/internal/protect"
)

// The stand-ins of the services added with the keycloak, gotrue and
// custom profiles and Kratos's browser flows, as TestProtectProfilesStopStuffing
// logs in to them.

const kcRealmPath = "/realms/" + standin.KeycloakRealm

// browserClient is a browser: a cookie jar, and redirects not followed,
// so that the login's own answer is seen.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send sends a request with c as a client at ip with header pairs.
func send(t *testing.T, c *http.Client, method, u, ip, ct string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, body)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("X-Forwarded-For", ip)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, out
}

// setsCookie reports whether h sets the cookie name to a value.
func setsCookie(h http.Header, name string) bool {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}

// deviceCookie sends a device credential as a browser does.
func sendDeviceCookie(dev string) []string { return []string{"Cookie", gate.DeviceCookie + "=" + dev} }

// keycloakGrantService logs in with the realm's direct grant.
func keycloakGrantService(k *standin.Keycloak) service {
	return service{profile: "keycloak", name: "keycloak direct grant", args: []string{"--profile", "keycloak", "--realm", standin.KeycloakRealm},
		handler: k, checks: k.Checks, clientIPs: k.ClientIPs,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			form := url.Values{"grant_type": {"password"}, "client_id": {standin.KeycloakClient}, "username": {name}, "password": {pw}}
			status, h, body := postAs(t, base+kcRealmPath+"/protocol/openid-connect/token", ip, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header...)
			var v struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(body, &v)
			return status, status == http.StatusOK && v.AccessToken != "", h, body
		}}
}

// keycloakFormService logs in as a browser does: the realm's login page,
// then its form post.
func keycloakFormService(k *standin.Keycloak) service {
	return service{profile: "keycloak", name: "keycloak login form", earnsNoDevice: true, args: []string{"--profile", "keycloak", "--realm", standin.KeycloakRealm},
		handler: k, checks: k.Checks, clientIPs: k.ClientIPs, device: sendDeviceCookie,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			c := browserClient(t)
			q := url.Values{"client_id": {standin.KeycloakClient}, "redirect_uri": {standin.KeycloakRedirect}, "response_type": {"code"}}
			status, _, page := send(t, c, http.MethodGet, base+kcRealmPath+"/protocol/openid-connect/auth?"+q.Encode(), ip, "", nil)
			action, ok := standin.FormAction(string(page))
			if status != http.StatusOK || !ok {
				t.Fatalf("the login page through protect: %d %s", status, page)
			}
			form := url.Values{"username": {name}, "password": {pw}, "credentialId": {""}}
			status, h, body := send(t, c, http.MethodPost, base+action, ip, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header...)
			return status, status == http.StatusFound && setsCookie(h, "KEYCLOAK_IDENTITY"), h, body
		}}
}

// goTrueService logs in with GoTrue's password grant; the stand-in keys
// its rate limit by rateLimitHeader, and protect is told so.
func goTrueService(g *standin.GoTrue, rateLimitHeader string) service {
	g.RateLimitHeader = rateLimitHeader
	return service{profile: "gotrue", args: []string{"--profile", "gotrue", "--rate-limit-header", rateLimitHeader},
		handler: g, checks: g.Checks, clientIPs: g.ClientIPs,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			status, h, body := postJSON(t, base+"/auth/v1/token?grant_type=password", ip, map[string]any{"email": name, "password": pw}, header...)
			var v struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(body, &v)
			return status, status == http.StatusOK && v.AccessToken != "", h, body
		}}
}

// kratosBrowserService logs in with Kratos's browser flow: a flow (as a
// single-page app fetches it, with its CSRF cookie), then a form post
// that Kratos answers with a 303 whatever the password.
func kratosBrowserService(k *standin.Kratos) service {
	return service{profile: "kratos", name: "kratos browser flow", handler: k, checks: k.Checks, clientIPs: k.ClientIPs, device: sendDeviceCookie,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			c := browserClient(t)
			status, _, body := send(t, c, http.MethodGet, base+"/self-service/login/browser", ip, "", nil, "Accept", "application/json")
			var flow struct {
				ID string `json:"id"`
				UI struct {
					Nodes []struct {
						Attributes struct{ Name, Value string } `json:"attributes"`
					} `json:"nodes"`
				} `json:"ui"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &flow) != nil {
				t.Fatalf("a browser flow through protect: %d %s", status, body)
			}
			form := url.Values{"method": {"password"}, "identifier": {name}, "password": {pw}}
			for _, n := range flow.UI.Nodes {
				if n.Attributes.Name == "csrf_token" {
					form.Set("csrf_token", n.Attributes.Value)
				}
			}
			status, h, body := send(t, c, http.MethodPost, base+"/self-service/login?flow="+flow.ID, ip, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header...)
			return status, status == http.StatusSeeOther && setsCookie(h, "ory_kratos_session"), h, body
		}}
}

// acmeService logs in to Acme, which protect guards with the custom
// profile of the documentation, copied into profileFile.
func acmeService(a *standin.Acme, profileFile string) service {
	return service{profile: "custom", name: "custom (Acme)", args: []string{"--profile", "custom", "--profile-file", profileFile},
		handler: a, checks: a.Checks, clientIPs: a.ClientIPs,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			status, h, body := postJSON(t, base+"/api/v2/session", ip, map[string]any{"login": name, "secret": pw}, header...)
			var v struct {
				SessionID string `json:"session_id"`
			}
			_ = json.Unmarshal(body, &v)
			return status, status == http.StatusCreated && v.SessionID != "" && setsCookie(h, "acme_sid"), h, body
		}}
}

// docsProfileFile writes the documentation's custom profile example to
// a file, as a user copies it.
func docsProfileFile(t *testing.T) string {
	t.Helper()
	path, err := standin.WriteDocsCustomProfile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// deviceKeeper is a program's store of its device credential: it sends
// the credential it was given on every request, and keeps a new one.
type deviceKeeper struct {
	mu  sync.Mutex
	dev string
}

func (d *deviceKeeper) RoundTrip(req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	dev := d.dev
	d.mu.Unlock()
	if dev != "" {
		req = req.Clone(req.Context())
		req.Header.Set(gateway.DeviceHeader, dev)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && res.Header.Get(gateway.DeviceHeader) != "" {
		d.mu.Lock()
		d.dev = res.Header.Get(gateway.DeviceHeader)
		d.mu.Unlock()
	}
	return res, err
}

// TestProtectKeycloakDirectGrantOAuth2Client: golang.org/x/oauth2's
// password grant (PasswordCredentialsToken), pointed at a Keycloak realm's
// token endpoint through `protect --profile keycloak`, gets its token;
// past the budgets it gets refusals it decodes as RFC 6749 errors — the
// realm's own invalid_grant, then challenge_required with the challenge
// in the body, then too_many_attempts with Retry-After; and the owner's
// program, which kept the device credential of its first login, still
// gets a token.
func TestProtectKeycloakDirectGrantOAuth2Client(t *testing.T) {
	k := standin.NewKeycloak(map[string]string{"alice": "correct horse battery"})
	up := httptest.NewServer(k)
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", "--profile", "keycloak", "--realm", standin.KeycloakRealm, "--upstream", up.URL,
		"--data-dir", t.TempDir(), "--guard-ip-soft-limit", "1/1h", "--guard-ip-limit", "3/1h", "--challenge-difficulty", "2")
	cfg := oauth2.Config{ClientID: standin.KeycloakClient, Endpoint: oauth2.Endpoint{
		TokenURL: proxy + kcRealmPath + "/protocol/openid-connect/token", AuthStyle: oauth2.AuthStyleInParams}}
	owner := &deviceKeeper{}
	ownerCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: owner})
	tok, err := cfg.PasswordCredentialsToken(ownerCtx, "alice", "correct horse battery")
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("the owner's first login through protect: %+v %v", tok, err)
	}
	if owner.dev == "" {
		t.Fatal("the owner's success earned no device credential")
	}
	var codes []string
	for i := range 8 {
		_, err := cfg.PasswordCredentialsToken(context.Background(), "alice", fmt.Sprintf("guess %d", i))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("guess %d: %T %v, want an *oauth2.RetrieveError", i, err, err)
		}
		codes = append(codes, re.ErrorCode)
		switch re.ErrorCode {
		case "challenge_required":
			var v struct {
				Challenge challenge.Challenge `json:"challenge"`
			}
			if re.Response.StatusCode != http.StatusBadRequest || json.Unmarshal(re.Body, &v) != nil || v.Challenge.Token == "" {
				t.Errorf("challenge: %d %s", re.Response.StatusCode, re.Body)
			}
		case "too_many_attempts":
			if re.Response.StatusCode != http.StatusTooManyRequests || re.Response.Header.Get("Retry-After") == "" || re.ErrorDescription == "" {
				t.Errorf("refusal: %d %v %s", re.Response.StatusCode, re.Response.Header, re.Body)
			}
		}
	}
	if codes[0] != "invalid_grant" || !slices.Contains(codes, "challenge_required") || codes[len(codes)-1] != "too_many_attempts" {
		t.Errorf("the attacker's errors: %v; want the realm's invalid_grant, then challenge_required, then too_many_attempts", codes)
	}
	if tok, err := cfg.PasswordCredentialsToken(ownerCtx, "alice", "correct horse battery"); err != nil || tok.AccessToken == "" {
		t.Errorf("the owner with a device credential during the attack: %+v %v", tok, err)
	}
}
