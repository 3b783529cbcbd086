package protect

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/protect/protecttest"
)

// overridingApp is an app whose framework honours method-override headers
// on any method, GET included (as some do), and routes leniently
// (protecttest.LenientRoute): a GET to its login with
// X-HTTP-Method-Override: POST is a login, its credentials read from the
// query. It counts the logins it judged and the overrides it saw on
// /orders.
type overridingApp struct {
	logins, overridesElsewhere atomic.Int32
}

func (a *overridingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		if v := r.Header.Get(h); v != "" {
			method = v
			if r.URL.Path == "/orders" {
				a.overridesElsewhere.Add(1)
			}
		}
	}
	if protecttest.LenientRoute(r.URL.EscapedPath()) == "/token" && method == http.MethodPost {
		a.logins.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// TestProtectStripsMethodOverrideOnLoginPaths: a GET to a login path
// passes through unguarded (it is no login), so a method-override header
// on it could make an app that honours overrides on GET judge a login the
// guard never saw. The proxy strips those headers, in every spelling, from
// every request whose canonical path is a login path; elsewhere they are
// the app's business and kept.
func TestProtectStripsMethodOverrideOnLoginPaths(t *testing.T) {
	app := &overridingApp{}
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	e := newProxyEnv(t, newApp(), gatetest.Config{Policy: gatetest.Unlimited()}, func(c *Config) { c.Upstream = u })
	query := "?" + url.Values{"username": {"alice"}, "password": {"guess"}}.Encode()
	for _, path := range []string{"/token", "/TOKEN", "/token/"} {
		for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "x-http-method-override", "X_HTTP_Method_Override"} {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path+query, nil)
			req.Header[h] = []string{"POST"}
			res, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if n := app.logins.Swap(0); n != 0 {
				t.Errorf("GET %s with %s: POST reached the app's login unguarded", path, h)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/orders", nil)
	req.Header.Set("X-HTTP-Method-Override", "DELETE")
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if app.overridesElsewhere.Load() != 1 {
		t.Error("a method override on a path that is no login was removed")
	}
}
