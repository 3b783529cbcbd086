package protect

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// judgingApp is an app whose login answers by the username tried: "ok"
// 200 with an access token, "bad" 401, "odd" 422, "broken" 503, and "slow" never (it waits
// until the proxy hangs up).
func judgingApp(t *testing.T) *url.URL {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		switch r.PostForm.Get("username") {
		case "ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer"}`))
		case "bad":
			w.WriteHeader(http.StatusUnauthorized)
		case "odd":
			w.WriteHeader(http.StatusUnprocessableEntity)
		case "slow":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u
}

// hangingUp is an address whose every connection is closed at once: an
// upstream that cannot be reached, on a port held for the whole test (a
// closed port could be taken by another test).
func hangingUp(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// TestEveryProxyExitSettlesOnce drives a guarded login to every exit of
// the proxy — the app's success, failure, an answer that is neither, a
// 5xx, an app that cannot be reached, a client that goes away while the
// app thinks, another grant's success, a refusal and a body refused
// before the gate — and shows that each admitted login's reservation is
// settled exactly once with that exit's outcome and counted once.
func TestEveryProxyExitSettlesOnce(t *testing.T) {
	const logins = "credshield_login_attempts_total "
	oneTry := gatetest.Unlimited()
	oneTry.IP = limit.Limit{Burst: 1, Period: time.Hour}
	form := func(name string, extra ...string) string {
		v := url.Values{"username": {name}, "password": {"pw"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	tests := []struct {
		name     string
		policy   guard.Policy
		upstream func(t *testing.T) *url.URL
		prepare  func(e *proxyEnv) // before the counted request
		body     string
		gone     bool // the client goes away after 100ms
		status   int
		admitted int
		outcome  guard.Outcome
		counted  string
	}{
		{"app says success", gatetest.Unlimited(), judgingApp, nil, form("ok"), false, http.StatusOK, 1, guard.Success, logins + "success"},
		{"app says failure", gatetest.Unlimited(), judgingApp, nil, form("bad"), false, http.StatusUnauthorized, 1, guard.Failure, logins + "failure"},
		{"app says neither", gatetest.Unlimited(), judgingApp, nil, form("odd"), false, http.StatusUnprocessableEntity, 1, guard.Aborted, logins + "invalid_request"},
		{"app fails", gatetest.Unlimited(), judgingApp, nil, form("broken"), false, http.StatusServiceUnavailable, 1, guard.Aborted, logins + "unavailable"},
		{"app unreachable", gatetest.Unlimited(), hangingUp, nil, form("ok"), false, http.StatusBadGateway, 1, guard.Aborted, logins + "unavailable"},
		{"client gone", gatetest.Unlimited(), judgingApp, nil, form("slow"), true, 0, 1, guard.Aborted, logins + "unavailable"},
		{"another grant succeeds", gatetest.Unlimited(), judgingApp, nil, form("ok", "grant_type", "refresh_token"), false, http.StatusOK, 1, guard.Aborted, logins + "invalid_request"},
		{"refused", oneTry, judgingApp, func(e *proxyEnv) { e.post("/token", "application/x-www-form-urlencoded", form("bad")) },
			form("ok"), false, http.StatusTooManyRequests, 0, 0, logins + "denied"},
		{"body refused before the gate", gatetest.Unlimited(), judgingApp, nil, form("ok") + "&username=other", false, http.StatusBadRequest, 0, 0, logins + "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := tt.upstream(t)
			e := newProxyEnv(t, newApp(), gatetest.Config{Policy: tt.policy, CountSettles: true}, func(c *Config) { c.Upstream = up })
			if tt.prepare != nil {
				tt.prepare(e)
			}
			e.gp.Counting.Reset()
			before := gatetest.Attempts(t, e.gp.Reg)
			if status := e.send(tt.body, tt.gone); status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			e.gp.Counting.CheckSettledOnce(t, tt.admitted, tt.outcome)
			gatetest.CheckCounted(t, before, gatetest.Attempts(t, e.gp.Reg), tt.counted)
		})
	}
}

// send posts a form login and returns the status; 0 when gone is set and
// the client went away (after 100ms) before the answer.
func (e *proxyEnv) send(body string, gone bool) int {
	e.t.Helper()
	ctx := context.Background()
	if gone {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.ts.URL+"/token", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := e.ts.Client().Do(req)
	if err != nil {
		if gone {
			return 0
		}
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}
