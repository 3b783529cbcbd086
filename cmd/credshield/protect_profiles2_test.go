package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/loginapi/standin"
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
func send(t *testing.T, c *http.Client, method, u, ip, ct, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
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
	return service{profile: "keycloak", name: "keycloak login form", args: []string{"--profile", "keycloak", "--realm", standin.KeycloakRealm},
		handler: k, checks: k.Checks, clientIPs: k.ClientIPs, device: sendDeviceCookie,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			c := browserClient(t)
			q := url.Values{"client_id": {standin.KeycloakClient}, "redirect_uri": {standin.KeycloakRedirect}, "response_type": {"code"}}
			status, _, page := send(t, c, http.MethodGet, base+kcRealmPath+"/protocol/openid-connect/auth?"+q.Encode(), ip, "", "")
			action, ok := standin.FormAction(string(page))
			if status != http.StatusOK || !ok {
				t.Fatalf("the login page through protect: %d %s", status, page)
			}
			form := url.Values{"username": {name}, "password": {pw}, "credentialId": {""}}
			status, h, body := send(t, c, http.MethodPost, base+action, ip, "application/x-www-form-urlencoded", form.Encode(), header...)
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
			status, _, body := send(t, c, http.MethodGet, base+"/self-service/login/browser", ip, "", "", "Accept", "application/json")
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
			status, h, body := send(t, c, http.MethodPost, base+"/self-service/login?flow="+flow.ID, ip, "application/x-www-form-urlencoded", form.Encode(), header...)
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
	example, err := standin.DocsCustomProfile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acme.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

