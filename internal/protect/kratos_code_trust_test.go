package protect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// kratosAAL2 answers POST /self-service/login as Kratos v1.3 does for the
// two bodies this test sends (selfservice/strategy/code/strategy_login.go,
// loginVerifyCode; strategy/password/login.go):
//   - method "code" with a code, in a flow that requested AAL2: the
//     identity is the session's (i = sess.Identity), whatever address or
//     identifier the body names; the code must be the one sent to that
//     identity;
//   - method "password": the identifier's password.
type kratosAAL2 struct{ passwordLogins atomic.Int64 }

func (k *kratosAAL2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b map[string]string
	_ = json.NewDecoder(r.Body).Decode(&b)
	w.Header().Set("Content-Type", "application/json")
	switch b["method"] {
	case "code": // AAL2 flow of mallory's own session
		if r.Header.Get("X-Session-Token") == "mallory-aal1" && b["code"] == "424242" {
			_, _ = w.Write([]byte(`{"session_token":"mallory-aal2","session":{"id":"s","identity":{"traits":{"email":"mallory@example.com"}}}}`))
			return
		}
	case "password":
		k.passwordLogins.Add(1)
		if b["identifier"] == "alice@example.com" && b["password"] == "correct horse battery" {
			_, _ = w.Write([]byte(`{"session_token":"alice"}`))
			return
		}
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"id":"f","ui":{"messages":[{"id":4000006,"type":"error","text":"The provided credentials are invalid"}]}}`))
}

// TestReviewKratosSecondFactorCodeEarnsTrustForAnotherAccount: Kratos
// checks a multi-factor code against the session's identity and ignores
// the address the body names, but the profile reads every method=code
// body with a code as a first-factor login of that address (Guess and
// Earns). An attacker who passes the second factor of their own account,
// naming the victim's address, gets a device credential for the victim,
// and with it keeps guessing the victim's password after the victim's
// budget is spent.
func TestKratosSecondFactorCodeNeverEarnsTrustForAnotherAccount(t *testing.T) {
	k := &kratosAAL2{}
	e := newTrustEnv(t, k, "kratos")
	guess := func(i int, header ...string) response {
		body := fmt.Sprintf(`{"method":"password","identifier":"alice@example.com","password":"guess %d"}`, i)
		return e.post("/self-service/login?flow=f", "application/json", body, append([]string{"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)}, header...)...)
	}
	// Mallory passes her own second factor, naming alice's address.
	r := e.post("/self-service/login?flow=aal2", "application/json",
		`{"method":"code","code":"424242","address":"alice@example.com"}`,
		"X-Forwarded-For", "198.51.100.9", "X-Session-Token", "mallory-aal1")
	dev := r.header.Get(DeviceHeader)
	if r.status != http.StatusOK {
		t.Fatalf("mallory's AAL2 code: %d %s", r.status, r.body)
	}
	if dev == "" {
		return // fixed: no credential for a second factor
	}
	t.Errorf("mallory's own second factor, naming alice's address, earned a device credential for alice")
	before := k.passwordLogins.Load()
	passed := guessesPastBudget(t, guess, dev, http.StatusBadRequest)
	t.Errorf("with that credential, %d of 100 guesses at alice's password reached Kratos after her budget was spent (Kratos judged %d)",
		passed, k.passwordLogins.Load()-before)
}

// newTrustEnv puts protect with profile in front of upstream, with a
// per-username budget of two (so an account's budget is quickly spent)
// and loopback as the trusted proxy (so each guess names its address).
func newTrustEnv(t *testing.T, upstream http.Handler, profile string) *proxyEnv {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	pol := guard.DefaultPolicy()
	pol.User = limit.Limit{Burst: 2, Period: time.Hour}
	return newProxyEnv(t, newApp(), gatetest.Config{Policy: pol, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, withProfile(t, profile, u))
}

// guessesPastBudget spends the victim's budget with ten guesses, checks it
// is spent (the next guess is no longer judged by the service, whose
// failure status is judged), then sends 100 guesses with the device
// credential dev and returns how many the service judged.
func guessesPastBudget(t *testing.T, guess func(i int, header ...string) response, dev string, judged int) int {
	t.Helper()
	for i := range 10 {
		guess(i)
	}
	if r := guess(20); r.status == judged {
		t.Fatalf("the victim's budget not spent: %d %s", r.status, r.body)
	}
	var passed int
	for i := 30; i < 130; i++ {
		if r := guess(i, DeviceHeader, dev); r.status == judged {
			passed++
		}
	}
	return passed
}
