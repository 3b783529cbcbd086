package protect

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// profileOptions are what every built-in profile needs to be built:
// keycloak guards only the realms it is given, the stand-in's.
var profileOptions = loginapi.Options{Realms: []string{standin.KeycloakRealm}}

// withProfile edits a proxy's config to guard the named profile; custom
// is the documentation's example, which describes standin.Acme.
func withProfile(t testing.TB, name string, up *url.URL) func(*Config) {
	t.Helper()
	var prof *loginapi.Profile
	var err error
	if name == loginapi.CustomName {
		prof, err = docsCustomProfile(t)
	} else {
		prof, err = loginapi.New(name, profileOptions)
	}
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.Profiles = []*loginapi.Profile{prof}
		if up != nil {
			c.Upstream = up
		}
	}
}

// docsCustomProfile loads the custom profile of the documentation, as a
// user who copied it into a file would.
func docsCustomProfile(t testing.TB) (*loginapi.Profile, error) {
	t.Helper()
	path, err := standin.WriteDocsCustomProfile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return loginapi.LoadCustom(path)
}

// profileLogin is a well-formed login of each profile: path, content
// type and body.
var profileLogin = map[string][3]string{
	"fastapi":  {"/token", "application/x-www-form-urlencoded", "username=alice&password=guess"},
	"authelia": {"/api/firstfactor", "application/json", `{"username":"alice","password":"guess","keepMeLoggedIn":false}`},
	"kratos":   {"/self-service/login?flow=f", "application/json", `{"method":"password","identifier":"alice","password":"guess"}`},
	"keycloak": {"/realms/" + standin.KeycloakRealm + "/protocol/openid-connect/token", "application/x-www-form-urlencoded",
		"grant_type=password&client_id=" + standin.KeycloakClient + "&username=alice&password=guess"},
	"gotrue": {"/token?grant_type=password", "application/json", `{"email":"alice@example.com","password":"guess"}`},
	"custom": {"/api/v2/session", "application/json", `{"login":"alice","secret":"guess"}`},
}

// TestProtectFailureNeverMintsDevice: every answer in standin.Failures
// and standin.AcmeFailures (read by the documentation's custom profile) —
// each service's failures, however close they look to a success — served
// as the upstream's answer to a login through the proxy, is passed on
// without a device credential (neither the header nor the cookie), and
// spends the attempt or refunds it, never settles it as a success.
func TestProtectFailureNeverMintsDevice(t *testing.T) {
	for _, c := range slices.Concat(standin.Failures, standin.AcmeFailures) {
		t.Run(c.Profile+"/"+c.Name, func(t *testing.T) {
			up := httptest.NewServer(c)
			t.Cleanup(up.Close)
			u, _ := url.Parse(up.URL)
			e := newProxyEnv(t, newApp(), gatetest.Config{Policy: gatetest.Unlimited()}, withProfile(t, c.Profile, u))
			l := profileLogin[c.Profile]
			r := e.post(l[0], l[1], l[2])
			if r.status != c.Status {
				t.Errorf("status %d, want the upstream's %d", r.status, c.Status)
			}
			if r.header.Get(DeviceHeader) != "" {
				t.Errorf("%s set on a failure", DeviceHeader)
			}
			for _, sc := range r.header.Values("Set-Cookie") {
				if strings.HasPrefix(sc, gate.DeviceCookie+"=") {
					t.Errorf("device cookie set on a failure: %s", sc)
				}
			}
			if n := e.attempts("success"); n != 0 {
				t.Errorf("%d attempts settled as a success", n)
			}
		})
	}
}

// TestProtectStripsEveryAddressHeaderTheProfileReads: for every profile
// (custom: the documentation's example),
// each header the upstream reads a client address from, sent by an
// untrusted client, never reaches the upstream; the upstream sees its one
// header, once, with the address the proxy resolved — Authelia and
// FastAPI read the leftmost X-Forwarded-For, so it is replaced whole.
func TestProtectStripsEveryAddressHeaderTheProfileReads(t *testing.T) {
	for _, name := range append(loginapi.Names(), loginapi.CustomName) {
		t.Run(name, func(t *testing.T) {
			e := newProxyEnv(t, newApp(), gatetest.Config{}, withProfile(t, name, nil))
			prof := e.proxy.cfg.Profiles[0]
			var spoof []string
			for _, h := range prof.ClientIPHeadersRead {
				spoof = append(spoof, h, "6.6.6.6", strings.ReplaceAll(h, "-", "_"), "6.6.6.7")
			}
			got := e.headersSeen(spoof...)
			for _, h := range prof.ClientIPHeadersRead {
				want := []string(nil)
				if http.CanonicalHeaderKey(h) == http.CanonicalHeaderKey(prof.ClientIPHeader) {
					want = []string{"127.0.0.1"}
				}
				if v := got[http.CanonicalHeaderKey(h)]; !slices.Equal(v, want) {
					t.Errorf("%s: the upstream saw %q, want %q", h, v, want)
				}
			}
			for h, v := range got {
				if strings.Contains(strings.Join(v, ","), "6.6.6.") {
					t.Errorf("spoofed %s reached the upstream: %q", h, v)
				}
			}
		})
	}
}

// TestProtectRefusalInProfileShape: a refused login is answered in the
// profile's shape — Authelia's {"status":"KO","message"} and herodot's
// error for Kratos, with Retry-After and the RateLimit fields on a 429 —
// and in serve's RFC 6749 shape for fastapi.
func TestProtectRefusalInProfileShape(t *testing.T) {
	tests := []struct {
		profile string
		status  int
		check   func(t *testing.T, body []byte)
	}{
		{"fastapi", http.StatusTooManyRequests, func(t *testing.T, b []byte) {
			var v struct{ Error string }
			if json.Unmarshal(b, &v) != nil || v.Error != "too_many_attempts" {
				t.Errorf("body %s", b)
			}
		}},
		{"authelia", http.StatusTooManyRequests, func(t *testing.T, b []byte) {
			var v struct{ Status, Message string }
			if json.Unmarshal(b, &v) != nil || v.Status != "KO" || v.Message == "" {
				t.Errorf("body %s", b)
			}
		}},
		{"kratos", http.StatusTooManyRequests, func(t *testing.T, b []byte) {
			var v struct {
				Error struct {
					ID   string
					Code int
				}
			}
			if json.Unmarshal(b, &v) != nil || v.Error.ID != "too_many_requests" || v.Error.Code != 429 {
				t.Errorf("body %s", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			pol := gatetest.Unlimited()
			pol.IP.Burst = 1
			up := httptest.NewServer(standin.Failures[slices.IndexFunc(standin.Failures, func(c standin.Canned) bool { return c.Profile == tt.profile && c.Status/100 == 4 })])
			t.Cleanup(up.Close)
			u, _ := url.Parse(up.URL)
			e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol}, withProfile(t, tt.profile, u))
			l := profileLogin[tt.profile]
			e.post(l[0], l[1], l[2])
			r := e.post(l[0], l[1], l[2])
			if r.status != tt.status || r.header.Get("Retry-After") == "" || r.header.Get("Ratelimit-Policy") == "" || r.header.Get("Ratelimit") == "" {
				t.Fatalf("refusal: %d %v %s", r.status, r.header, r.body)
			}
			tt.check(t, r.body)
		})
	}
}

// gzipApp answers a login with an access token, gzipped whenever the
// request accepts gzip, as many servers and middlewares do.
func gzipApp(t *testing.T) *url.URL {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := []byte(`{"access_token":"token-for-alice","token_type":"bearer"}`)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			body = b.Bytes()
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u
}

// TestProtectCompressedSuccessIsReadable: the success is read from the
// answer's body, so a login is forwarded without the client's
// Accept-Encoding; an app that would gzip its token otherwise answers
// plain, the client gets the token and the success earns its device
// credential (a compressed answer would read as a failure: the real
// user's budget spent, no trust earned).
func TestProtectCompressedSuccessIsReadable(t *testing.T) {
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: gatetest.Unlimited()}, func(c *Config) { c.Upstream = gzipApp(t) })
	r := e.post("/token", "application/x-www-form-urlencoded", "username=alice&password=pw", "Accept-Encoding", "gzip")
	if r.status != http.StatusOK || r.header.Get(DeviceHeader) == "" || e.attempts("success") != 1 {
		t.Errorf("gzip-accepting login: %d, device %q, successes %d; want 200, a device credential, 1", r.status, r.header.Get(DeviceHeader), e.attempts("success"))
	}
	if r.header.Get("Content-Encoding") == "gzip" || !strings.Contains(string(r.body), "token-for-alice") {
		t.Errorf("the client got %q (%s)", r.body, r.header.Get("Content-Encoding"))
	}
}

// TestProtectSecondFactorBudgetedByAddress: a Kratos second factor (TOTP,
// lookup secret) names no account in its body: it is admitted on the
// address's budget alone, refused in Kratos's shape past it, and earns
// nothing however Kratos answers.
func TestProtectSecondFactorBudgetedByAddress(t *testing.T) {
	pol := gatetest.Unlimited()
	pol.IP.Burst = 1
	ok := standin.Canned{Profile: "kratos", Name: "totp accepted", Status: 200, Body: `{"session_token":"t","session":{"id":"s"}}`}
	up := httptest.NewServer(ok)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, withProfile(t, "kratos", u))
	totp := `{"method":"totp","totp_code":"123456"}`
	r := e.post("/self-service/login?flow=f", "application/json", totp, "X-Forwarded-For", "203.0.113.1")
	if r.status != http.StatusOK || r.header.Get(DeviceHeader) != "" {
		t.Fatalf("first TOTP guess: %d, device %q; want Kratos's 200 and no credential", r.status, r.header.Get(DeviceHeader))
	}
	// A second factor's success proves no password: refunded, so the
	// address may try again; a failure would keep its unit.
	if r := e.post("/self-service/login?flow=f", "application/json", totp, "X-Forwarded-For", "203.0.113.1"); r.status != http.StatusOK {
		t.Fatalf("second TOTP guess after a refunded success: %d %s", r.status, r.body)
	}
	fail := standin.Canned{Profile: "kratos", Name: "totp wrong", Status: 400, Body: `{"id":"f","ui":{"messages":[{"id":4000008}]}}`}
	up2 := httptest.NewServer(fail)
	t.Cleanup(up2.Close)
	u2, _ := url.Parse(up2.URL)
	e = newProxyEnv(t, newApp(), gatetest.Config{Policy: pol, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, withProfile(t, "kratos", u2))
	e.post("/self-service/login?flow=f", "application/json", totp, "X-Forwarded-For", "203.0.113.1")
	r = e.post("/self-service/login?flow=f", "application/json", totp, "X-Forwarded-For", "203.0.113.1")
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), `"too_many_requests"`) {
		t.Errorf("TOTP guess past the address's budget: %d %s; want Kratos-shaped 429", r.status, r.body)
	}
	if r := e.post("/self-service/login?flow=f", "application/json", totp, "X-Forwarded-For", "203.0.113.2"); r.status != http.StatusBadRequest {
		t.Errorf("TOTP guess from another address: %d %s; want Kratos's own 400", r.status, r.body)
	}
}

// TestProtectBrowserFormRefusedWithPage: a refused login that a browser
// posted as a form — Kratos's browser flow, Keycloak's login form — gets
// the refusal page, with its Content-Security-Policy, no-store,
// Retry-After and the RateLimit fields intact through the proxy; a
// program's post to the same service (Kratos's JSON, Keycloak's token
// endpoint) still gets JSON.
func TestProtectBrowserFormRefusedWithPage(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	kcForm := "/realms/" + standin.KeycloakRealm + "/login-actions/authenticate?session_code=s&execution=e1&client_id=" + standin.KeycloakClient + "&tab_id=t"
	tests := []struct {
		name, profile, path, ct, body string
		page                          bool
	}{
		{"kratos browser form", "kratos", "/self-service/login?flow=f", form, "method=password&identifier=alice&password=guess&csrf_token=c", true},
		{"kratos json", "kratos", "/self-service/login?flow=f", "application/json", `{"method":"password","identifier":"alice","password":"guess","csrf_token":"c"}`, false},
		{"keycloak login form", "keycloak", kcForm, form, "username=alice&password=guess&credentialId=", true},
		{"keycloak direct grant", "keycloak", profileLogin["keycloak"][0], form, profileLogin["keycloak"][2], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := gatetest.Unlimited()
			pol.IP.Burst = 1
			up := httptest.NewServer(standin.Canned{Profile: tt.profile, Name: "wrong", Status: http.StatusBadRequest, Body: `{}`})
			t.Cleanup(up.Close)
			u, _ := url.Parse(up.URL)
			e := newProxyEnv(t, newApp(), gatetest.Config{Policy: pol}, withProfile(t, tt.profile, u))
			// A browser's form post says so (Sec-Fetch-Mode, Accept); a
			// program's does not.
			var hdr []string
			if tt.page {
				hdr = []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Accept", "text/html"}
			}
			if r := e.post(tt.path, tt.ct, tt.body, hdr...); r.status != http.StatusBadRequest {
				t.Fatalf("first login: %d %s; want the upstream's 400", r.status, r.body)
			}
			r := e.post(tt.path, tt.ct, tt.body, hdr...)
			if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("Ratelimit") == "" {
				t.Fatalf("refusal: %d %v", r.status, r.header)
			}
			html := strings.HasPrefix(r.header.Get("Content-Type"), "text/html")
			if html != tt.page {
				t.Fatalf("refusal Content-Type %q, want the page: %v (%s)", r.header.Get("Content-Type"), tt.page, r.body)
			}
			if !tt.page {
				if !json.Valid(r.body) {
					t.Errorf("a program's refusal is not JSON: %s", r.body)
				}
				return
			}
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("the page's headers did not survive: %v", r.header)
			}
			if !strings.Contains(string(r.body), "Too many sign-in attempts") || strings.Contains(string(r.body), "<script") {
				t.Errorf("page %s", r.body)
			}
			if e.attempts("denied") != 1 {
				t.Errorf("%d attempts denied, want 1", e.attempts("denied"))
			}
		})
	}
}
