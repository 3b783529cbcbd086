package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/loginapi/standin"
	gateway "github.com/credshield/credshield/internal/protect"
)

// service is a stand-in for a login service behind `protect --profile`,
// and how a client logs in to it.
type service struct {
	profile string
	// name tells apart two ways to log in to one profile ("kratos
	// browser"); default profile.
	name string
	// args are protect's flags for the service; default --profile.
	args    []string
	handler http.Handler
	checks  func() int64 // password hashes the service computed
	// clientIPs lists the client address of each login, as the service
	// read it.
	clientIPs func() []string
	// device is the header pair that carries a device credential: the
	// Credshield-Device header for programs, the cookie for browsers.
	device func(dev string) []string
	// earnsNoDevice marks a login whose success never earns a device
	// credential (Keycloak's login form may judge a user other than the
	// one it posts): the burst must still take no account.
	earnsNoDevice bool
	// login logs in as name from ip (believed from a trusted peer) with
	// header pairs; ok reports the service's own proof of a session.
	login func(t *testing.T, base, ip, name, pw string, header ...string) (status int, ok bool, h http.Header, body []byte)
}

// protectArgs are protect's flags for the service.
func (s service) protectArgs() []string {
	if s.args != nil {
		return slices.Clone(s.args)
	}
	return []string{"--profile", s.profile}
}

// postJSON posts body to url as JSON as a client at ip with header pairs.
func postJSON(t *testing.T, url, ip string, body any, header ...string) (int, http.Header, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	return postAs(t, url, ip, "application/json", bytes.NewReader(b), header...)
}

// postAs posts body to url as a client at ip (which the proxy believes
// only from a trusted peer) with a content type and header pairs, and
// returns the status, header and body of the answer.
func postAs(t *testing.T, url, ip, contentType string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	return send(t, http.DefaultClient, http.MethodPost, url, ip, contentType, body, header...)
}

func autheliaService(a *standin.Authelia) service {
	return service{profile: "authelia", handler: a, checks: a.Checks, clientIPs: a.ClientIPs,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			status, h, body := postJSON(t, base+"/api/firstfactor", ip, map[string]any{"username": name, "password": pw, "keepMeLoggedIn": false}, header...)
			var v struct{ Status string }
			_ = json.Unmarshal(body, &v)
			return status, status == http.StatusOK && v.Status == "OK" && strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "authelia_session="), h, body
		}}
}

func kratosService(k *standin.Kratos) service {
	return service{profile: "kratos", handler: k, checks: k.Checks, clientIPs: k.ClientIPs,
		login: func(t *testing.T, base, ip, name, pw string, header ...string) (int, bool, http.Header, []byte) {
			status, h, body := postJSON(t, base+"/self-service/login?flow="+kratosFlowAt(t, base, ip), ip,
				map[string]any{"method": "password", "identifier": name, "password": pw}, header...)
			var v struct {
				SessionToken string `json:"session_token"`
			}
			_ = json.Unmarshal(body, &v)
			return status, status == http.StatusOK && v.SessionToken != "", h, body
		}}
}

// kratosFlowAt creates an API login flow through base as a client at ip.
func kratosFlowAt(t *testing.T, base, ip string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/self-service/login/api", nil)
	req.Header.Set("X-Forwarded-For", ip)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var flow struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&flow); err != nil || flow.ID == "" {
		t.Fatalf("creating a flow: %d %v", res.StatusCode, err)
	}
	return flow.ID
}

// stuffingAccounts are stuffingCombos's accounts, named by email, and
// the real user's.
func stuffingAccounts() (map[string]string, [][2]string) {
	users, combos := stuffingCombos("user%03d@example.com")
	users["alice@example.com"] = "correct horse battery"
	return users, combos
}

// TestProtectProfilesStopStuffing: behind `protect --profile` (authelia;
// kratos, API and browser flows; keycloak, direct grant and login form;
// gotrue; custom, with the documentation's example guarding Acme), the
// stand-ins (real HTTP on loopback, each with its service's weakness:
// Kratos and Acme have no limit, Authelia and Keycloak lock a username
// only, GoTrue limits per value of a header) lose no account to a
// one-address stuffing burst nor to a botnet burst (every attempt from
// its own address, named by the trusted proxy in front), their password
// hashes stay within the guard's budgets, and the real user, with the
// device credential of an earlier login, logs in during the attack; the
// service reads the real user's address in the header protect sets.
func TestProtectProfilesStopStuffing(t *testing.T) {
	pol := guard.DefaultPolicy()
	det := guard.DefaultDetectorConfig()
	profileFile := docsProfileFile(t)
	for _, mk := range []func(map[string]string) service{
		func(u map[string]string) service { return autheliaService(standin.NewAuthelia(u)) },
		func(u map[string]string) service { return kratosService(standin.NewKratos(u)) },
		func(u map[string]string) service { return kratosBrowserService(standin.NewKratos(u)) },
		func(u map[string]string) service { return keycloakGrantService(standin.NewKeycloak(u)) },
		func(u map[string]string) service { return keycloakFormService(standin.NewKeycloak(u)) },
		func(u map[string]string) service { return goTrueService(standin.NewGoTrue(u), "Cf-Connecting-IP") },
		func(u map[string]string) service { return acmeService(standin.NewAcme(u), profileFile) },
	} {
		users, combos := stuffingAccounts()
		name := cmp.Or(mk(users).name, mk(users).profile)
		takeovers := func(t *testing.T, svc service, base string, ip func(i int) string) int {
			n := 0
			for i, c := range combos {
				if _, ok, _, _ := svc.login(t, base, ip(i), c[0], c[1]); ok {
					n++
				}
			}
			return n
		}
		t.Run(name+"/direct", func(t *testing.T) {
			// Direct, the service's own defence lets the burst through.
			svc := mk(users)
			direct := httptest.NewServer(svc.handler)
			t.Cleanup(direct.Close)
			if n := takeovers(t, svc, direct.URL, func(int) string { return "203.0.113.9" }); n != 5 {
				t.Fatalf("direct to the service: %d accounts taken over, want 5", n)
			}
			t.Logf("%s direct: a 200-pair burst cost %d hashes and 5 accounts", name, svc.checks())
		})
		for _, burst := range []struct {
			name  string
			ip    func(i int) string
			bound int64 // password hashes the service may compute
		}{
			{"one address", func(int) string { return "203.0.113.9" }, int64(pol.IPSoft.Burst)},
			// The detector needs MinFailures a minute before it
			// challenges every untrusted client.
			{"botnet", func(i int) string { return fmt.Sprintf("198.18.%d.%d", i, 1+i%250) }, int64(det.MinFailures)},
		} {
			t.Run(name+"/"+burst.name, func(t *testing.T) {
				svc := mk(users)
				up := httptest.NewServer(svc.handler)
				t.Cleanup(up.Close)
				proxy := startCommand(t, "protect", append(svc.protectArgs(), "--upstream", up.URL, "--data-dir", t.TempDir(),
					"--trusted-proxies", "127.0.0.1/32")...)
				status, ok, h, body := svc.login(t, proxy, "198.51.100.7", "alice@example.com", "correct horse battery")
				dev := h.Get(gateway.DeviceHeader)
				if !ok || (dev == "") != svc.earnsNoDevice {
					t.Fatalf("the real user before the attack: %d %s, device credential %q", status, body, dev)
				}
				before := svc.checks()
				if n := takeovers(t, svc, proxy, burst.ip); n != 0 {
					t.Errorf("%d accounts taken over", n)
				}
				hashes := svc.checks() - before
				if hashes > burst.bound {
					t.Errorf("%d password hashes, want at most %d", hashes, burst.bound)
				}
				t.Logf("%s through protect, %s: a 200-pair burst cost %d hashes and no account", name, burst.name, hashes)
				if svc.earnsNoDevice {
					return
				}
				device := []string{gateway.DeviceHeader, dev}
				if svc.device != nil {
					device = svc.device(dev)
				}
				status, ok, _, body = svc.login(t, proxy, "192.0.2.1", "alice@example.com", "correct horse battery", device...)
				if !ok {
					t.Errorf("the real user with a device credential during the attack: %d %s", status, body)
				}
				if ips := svc.clientIPs(); len(ips) == 0 || ips[len(ips)-1] != "192.0.2.1" {
					t.Errorf("the service read the real user's address as %q, want 192.0.2.1", ips[len(ips)-1:])
				}
			})
		}
	}
}

// TestProtectKratosRefusalsParseInClientGo: through `protect --profile
// kratos`, Ory's own Go client reads the proxy's refusals as Kratos
// errors (ErrorGeneric): a challenge (403, the challenge in details) that
// the client solves and submits with the flow, and a 429 with
// Retry-After; and it logs in through the proxy as it would to Kratos.
func TestProtectKratosRefusalsParseInClientGo(t *testing.T) {
	k := standin.NewKratos(map[string]string{"alice@example.com": "correct horse battery"})
	up := httptest.NewServer(k)
	t.Cleanup(up.Close)
	proxy := startCommand(t, "protect", "--profile", "kratos", "--upstream", up.URL, "--data-dir", t.TempDir(),
		"--guard-ip-soft-limit", "1/1h", "--guard-ip-limit", "3/1h", "--challenge-difficulty", "2")
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: proxy}}
	c := ory.NewAPIClient(cfg)
	ctx := context.Background()
	login := func(pw string, extra map[string]any) (*ory.SuccessfulNativeLogin, *http.Response, error) {
		flow, _, err := c.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
		if err != nil {
			t.Fatalf("CreateNativeLoginFlow through the proxy: %v", err)
		}
		m := ory.NewUpdateLoginFlowWithPasswordMethod("alice@example.com", "password", pw)
		m.AdditionalProperties = extra
		return c.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(m)).Execute()
	}
	generic := func(err error) ory.GenericErrorContent {
		t.Helper()
		var oerr *ory.GenericOpenAPIError
		if !errors.As(err, &oerr) {
			t.Fatalf("client-go error %T %v", err, err)
		}
		model, ok := oerr.Model().(ory.ErrorGeneric)
		if !ok {
			t.Fatalf("client-go decoded %T, want ErrorGeneric (body %s)", oerr.Model(), oerr.Body())
		}
		return model.Error
	}
	if _, hr, err := login("wrong", nil); hr == nil || hr.StatusCode != http.StatusBadRequest {
		t.Fatalf("first guess: %v %v; want Kratos's own 400", hr, err)
	}
	_, hr, err := login("correct horse battery", nil)
	// ory/client-go reads the message and keeps herodot's other members
	// (id, details) aside.
	ge := generic(err)
	if hr.StatusCode != http.StatusForbidden || ge.AdditionalProperties["id"] != challenge.ErrorCode || ge.GetMessage() == "" {
		t.Fatalf("past the soft budget: %d %+v; want 403 %s", hr.StatusCode, ge, challenge.ErrorCode)
	}
	details, _ := ge.AdditionalProperties["details"].(map[string]any)
	raw, _ := json.Marshal(details["challenge"])
	var ch challenge.Challenge
	if err := json.Unmarshal(raw, &ch); err != nil || ch.Token == "" {
		t.Fatalf("challenge in details: %s %v", raw, err)
	}
	solution, _, err := challenge.Solve(ctx, ch.Token, 2)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := login("correct horse battery", map[string]any{challenge.FormToken: ch.Token, challenge.FormSolution: solution})
	if err != nil || ok.GetSessionToken() == "" {
		t.Fatalf("with the challenge solved: %+v %v", ok, err)
	}
	for range 3 {
		_, hr, err = login("wrong", nil)
	}
	ge = generic(err)
	if hr.StatusCode != http.StatusTooManyRequests || ge.AdditionalProperties["id"] != "too_many_requests" || hr.Header.Get("Retry-After") == "" {
		t.Errorf("past the hard budget: %d %+v Retry-After %q", hr.StatusCode, ge, hr.Header.Get("Retry-After"))
	}
}

// TestProtectServiceLockoutLocksOwnerOutBehindProxy is why docs/protect.md
// says to turn Authelia's regulation and Keycloak's brute-force detection
// off behind protect: both lock a username, whoever failed, and answer
// even the right password as a failure while locked, so the guesses the
// guard lets through at one account from many addresses (its per-account
// budget) lock the owner out — device credential or not. With the lockout
// off (modelled by a threshold nobody reaches) the guard alone stops the
// burst and the owner's device gets in.
func TestProtectServiceLockoutLocksOwnerOutBehindProxy(t *testing.T) {
	users := map[string]string{"alice": "correct horse battery"}
	for _, tt := range []struct {
		name   string
		svc    func() service
		wantIn bool
	}{
		{"authelia regulation on", func() service {
			a := standin.NewAuthelia(users)
			a.MaxRetries = 3
			return autheliaService(a)
		}, false},
		{"authelia regulation off", func() service {
			a := standin.NewAuthelia(users)
			a.MaxRetries = 1 << 30
			return autheliaService(a)
		}, true},
		{"keycloak brute-force detection on", func() service {
			k := standin.NewKeycloak(users)
			k.FailureFactor = 5
			return keycloakGrantService(k)
		}, false},
		{"keycloak brute-force detection off", func() service {
			k := standin.NewKeycloak(users)
			k.FailureFactor = 1 << 30
			return keycloakGrantService(k)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc()
			up := httptest.NewServer(svc.handler)
			t.Cleanup(up.Close)
			proxy := startCommand(t, "protect", append(svc.protectArgs(), "--upstream", up.URL, "--data-dir", t.TempDir(),
				"--trusted-proxies", "127.0.0.1/32")...)
			_, _, h, _ := svc.login(t, proxy, "198.51.100.7", "alice", "correct horse battery")
			dev := h.Get(gateway.DeviceHeader)
			for i := range 40 {
				svc.login(t, proxy, fmt.Sprintf("198.18.%d.9", i), "alice", fmt.Sprintf("guess %d", i))
			}
			status, ok, _, body := svc.login(t, proxy, "192.0.2.1", "alice", "correct horse battery", gateway.DeviceHeader, dev)
			if ok != tt.wantIn {
				t.Errorf("the owner with a device credential after the burst: %d %s; logged in %v, want %v", status, body, ok, tt.wantIn)
			}
			t.Logf("%s: %d of 40 guesses reached the service", tt.name, svc.checks()-1)
		})
	}
}
