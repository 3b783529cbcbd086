package protect

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// withProfile edits a proxy's config to guard the named profile.
func withProfile(t testing.TB, name string, up *url.URL) func(*Config) {
	t.Helper()
	prof, err := loginapi.New(name, loginapi.Options{})
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

// profileLogin is a well-formed login of each profile: path, content
// type and body.
var profileLogin = map[string][3]string{
	"fastapi":  {"/token", "application/x-www-form-urlencoded", "username=alice&password=guess"},
	"authelia": {"/api/firstfactor", "application/json", `{"username":"alice","password":"guess","keepMeLoggedIn":false}`},
	"kratos":   {"/self-service/login?flow=f", "application/json", `{"method":"password","identifier":"alice","password":"guess"}`},
}

// TestProtectFailureNeverMintsDevice: every answer in standin.Failures —
// each service's failures, however close they look to a success — served
// as the upstream's answer to a login through the proxy, is passed on
// without a device credential (neither the header nor the cookie), and
// spends the attempt or refunds it, never settles it as a success.
func TestProtectFailureNeverMintsDevice(t *testing.T) {
	for _, c := range standin.Failures {
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

// TestProtectStripsEveryAddressHeaderTheProfileReads: for every profile,
// each header the upstream reads a client address from, sent by an
// untrusted client, never reaches the upstream; the upstream sees its one
// header, once, with the address the proxy resolved — Authelia and
// FastAPI read the leftmost X-Forwarded-For, so it is replaced whole.
func TestProtectStripsEveryAddressHeaderTheProfileReads(t *testing.T) {
	for _, name := range loginapi.Names() {
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
