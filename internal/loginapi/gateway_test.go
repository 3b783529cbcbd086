package loginapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/loginapi"
)

// seen is what the test gateway saw of one login.
type seen struct {
	attempt loginapi.Attempt
	err     error
	outcome loginapi.Outcome
	status  int
}

// gateway is the least a gateway does with a profile, for tests of the
// profiles against stand-ins over loopback: match a login, read its
// attempt (refusing what the profile refuses with 400), forward it, and
// read the answer with ReadAnswer and Classify, giving the client every
// byte. It keeps no budgets: the tests through `protect` do that. Safe for
// concurrent use.
type gateway struct {
	p     *loginapi.Profile
	proxy *httputil.ReverseProxy

	mu   sync.Mutex
	seen []seen
}

// serveGateway serves p in front of upstream on loopback.
func serveGateway(t *testing.T, p *loginapi.Profile, upstream string) (*gateway, *httptest.Server) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{p: p, proxy: httputil.NewSingleHostReverseProxy(u)}
	g.proxy.ModifyResponse = func(resp *http.Response) error {
		if !g.p.Match(resp.Request.Method, resp.Request.URL.EscapedPath()) {
			return nil
		}
		a, err := loginapi.ReadAnswer(resp)
		g.mu.Lock()
		last := &g.seen[len(g.seen)-1]
		last.status = a.Status
		if err == nil {
			last.outcome = g.p.Classify(time.Now(), a)
		}
		g.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.p.Match(r.Method, r.URL.EscapedPath()) {
		g.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, loginapi.MaxBodyBytes+1))
	if err != nil || len(body) > loginapi.MaxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	a, err := g.p.ReadAttempt(r.Header.Get("Content-Type"), body, r.URL.RawQuery)
	g.mu.Lock()
	g.seen = append(g.seen, seen{attempt: a, err: err})
	g.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The one client-address header the profile sets, the rest removed.
	for _, h := range g.p.ClientIPHeadersRead {
		r.Header.Del(h)
	}
	r.Header.Set(g.p.ClientIPHeader, "198.51.100.7")
	g.proxy.ServeHTTP(w, r)
}

// last returns what the gateway saw of the last login.
func (g *gateway) last(t *testing.T) seen {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		t.Fatal("the gateway saw no login")
	}
	return g.seen[len(g.seen)-1]
}

// serve serves h on loopback until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
