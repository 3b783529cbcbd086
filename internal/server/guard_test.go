package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// countingHasher counts the password computations that reach the pool:
// calls in both lanes, first in the priority lane.
type countingHasher struct {
	Hasher
	calls, first atomic.Int64
}

func (c *countingHasher) Do(ctx context.Context, fn func()) error {
	c.calls.Add(1)
	return c.Hasher.Do(ctx, fn)
}

func (c *countingHasher) DoFirst(ctx context.Context, key string, fn func()) error {
	c.calls.Add(1)
	c.first.Add(1)
	return c.Hasher.DoFirst(ctx, key, fn)
}

func policyWith(mod func(*guard.Policy)) guard.Policy {
	p := unlimited()
	mod(&p)
	return p
}

// TestStuffingBurstFromOneIP replays a combo list from one address: the
// guard answers 429 long before the list ends, and no denied attempt
// reaches the hasher.
func TestStuffingBurstFromOneIP(t *testing.T) {
	counter := &countingHasher{}
	e := newTestEnv(t, withPolicy(guard.DefaultPolicy()), withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("user7", "correct horse battery")
	const n = 200
	var allowed, challenged, denied int
	var first429 response
	for i := 0; i < n; i++ {
		res := e.login(fmt.Sprintf("user%d", i), "leaked password")
		switch {
		case res.status == http.StatusBadRequest && res.json(t)["error"] == "invalid_grant":
			allowed++
		case res.status == http.StatusBadRequest && res.json(t)["error"] == "challenge_required":
			challenged++
		case res.status == http.StatusTooManyRequests:
			if denied == 0 {
				first429 = res
			}
			denied++
		default:
			t.Fatalf("attempt %d: status %d %s", i, res.status, res.body)
		}
	}
	// 10 tries on the soft budget, 10 challenges nobody solved, then 429
	// from the 21st attempt to the end.
	p := guard.DefaultPolicy()
	if allowed != p.IPSoft.Burst || challenged != p.IP.Burst-p.IPSoft.Burst || denied != n-p.IP.Burst {
		t.Fatalf("%d allowed, %d challenged, %d denied", allowed, challenged, denied)
	}
	if got := counter.calls.Load(); got != int64(allowed) {
		t.Errorf("hasher ran %d times for %d allowed attempts", got, allowed)
	}
	ra := first429.header.Get("Retry-After")
	if ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if got := first429.header.Get("RateLimit-Policy"); got != `"ip";q=20;w=3600` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := first429.header.Get("RateLimit"); !strings.HasPrefix(got, `"ip";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if body := first429.json(t); body["error"] != "too_many_attempts" || body["detail"] == "" {
		t.Errorf("429 body %s", first429.body)
	}
	if got := gatetest.Value(t, e.reg, "credshield_login_attempts_total", "outcome", "denied"); got != float64(denied) {
		t.Errorf("denied metric %v, want %d", got, denied)
	}
	if got := gatetest.Value(t, e.reg, "credshield_guard_verdicts_total", "verdict", "deny", "reason", "ip", "trust", "untrusted"); got != float64(denied) {
		t.Errorf("deny/ip verdicts %v, want %d", got, denied)
	}
}

// TestParallelAttemptsReachHasherExactlyN sends 200 parallel wrong-password
// attempts at a per-user budget of N: exactly N reach the hasher.
func TestParallelAttemptsReachHasherExactlyN(t *testing.T) {
	const budget = 9
	counter := &countingHasher{}
	e := newTestEnv(t,
		withPolicy(policyWith(func(p *guard.Policy) { p.User = limit.Limit{Burst: budget, Period: time.Hour} })),
		withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }),
		withPool(2, 256))
	e.addUser("victim", "correct horse battery")
	body := url.Values{"username": {"victim"}, "password": {"guess"}}.Encode()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			counts[res.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[http.StatusBadRequest] != 200 {
		t.Errorf("answers %v; want 200 of 400 (failures and challenges)", counts)
	}
	if got := counter.calls.Load(); got != budget {
		t.Errorf("hasher reached %d times, want exactly %d", got, budget)
	}
}

// TestDenialSaysNothingAboutExistence checks that a 429 for an existing
// username and for an unknown one are the same.
func TestDenialSaysNothingAboutExistence(t *testing.T) {
	e := newTestEnv(t, withPolicy(policyWith(func(p *guard.Policy) {
		p.User = limit.Limit{Burst: 2, Period: time.Hour}
		p.UserHard = limit.Limit{Burst: 2, Period: time.Hour}
	})))
	e.addUser("real", "correct horse battery")
	deny := func(name string) response {
		for i := 0; i < 2; i++ {
			if res := e.login(name, "wrong"); res.status != http.StatusBadRequest {
				t.Fatalf("%s attempt %d: %d", name, i, res.status)
			}
		}
		res := e.login(name, "wrong")
		if res.status != http.StatusTooManyRequests {
			t.Fatalf("%s: status %d", name, res.status)
		}
		return res
	}
	a, b := deny("real"), deny("ghost")
	if string(a.body) != string(b.body) {
		t.Errorf("bodies differ: %s vs %s", a.body, b.body)
	}
	for _, h := range []string{"Retry-After", "RateLimit-Policy", "Content-Type", "Content-Length"} {
		if a.header.Get(h) != b.header.Get(h) {
			t.Errorf("%s differs: %q vs %q", h, a.header.Get(h), b.header.Get(h))
		}
	}
	// Even the right password is refused while the account's budget is
	// spent: the guard speaks before the password is looked at.
	if res := e.login("real", "correct horse battery"); res.status != http.StatusTooManyRequests {
		t.Errorf("right password during lockout: %d", res.status)
	}
}

// TestTrustedProxyBudgets checks that X-Forwarded-For is believed only from
// a trusted proxy, and only that one header.
func TestTrustedProxyBudgets(t *testing.T) {
	pol := policyWith(func(p *guard.Policy) { p.IP = limit.Limit{Burst: 3, Period: time.Hour} })
	attempt := func(e *testEnv, header ...string) int {
		return e.postToken("username=someone&password=wrong", header...).status
	}
	t.Run("untrusted peer cannot pick its address", func(t *testing.T) {
		e := newTestEnv(t, withPolicy(pol))
		for i := 0; i < 3; i++ {
			if got := attempt(e, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i), "X-Real-IP", fmt.Sprintf("203.0.113.%d", i)); got != 400 {
				t.Fatalf("attempt %d: %d", i, got)
			}
		}
		if got := attempt(e, "X-Forwarded-For", "198.51.100.99", "Forwarded", "for=192.0.2.1"); got != 429 {
			t.Errorf("spoofed header reset the budget: %d", got)
		}
	})
	t.Run("trusted proxy's header gives each client its own budget", func(t *testing.T) {
		e := newTestEnv(t, withPolicy(pol), withTrustedProxies("127.0.0.0/8", "::1/128"))
		for i := 0; i < 3; i++ {
			if got := attempt(e, "X-Forwarded-For", "198.51.100.1"); got != 400 {
				t.Fatalf("attempt %d: %d", i, got)
			}
		}
		if got := attempt(e, "X-Forwarded-For", "198.51.100.1"); got != 429 {
			t.Errorf("client 1 not limited: %d", got)
		}
		// A client prepending its own entry does not escape: the right-most
		// untrusted address is the client.
		if got := attempt(e, "X-Forwarded-For", "10.9.9.9, 198.51.100.1"); got != 429 {
			t.Errorf("prepended entry escaped the limit: %d", got)
		}
		if got := attempt(e, "X-Forwarded-For", "198.51.100.2"); got != 400 {
			t.Errorf("client 2 limited by client 1: %d", got)
		}
		// Only the configured header counts: X-Real-IP from the proxy is
		// ignored, so these all count against the proxy's own address.
		for i := 0; i < 3; i++ {
			if got := attempt(e, "X-Real-IP", fmt.Sprintf("203.0.113.%d", i)); got != 400 {
				t.Fatalf("X-Real-IP attempt %d: %d", i, got)
			}
		}
		if got := attempt(e, "X-Real-IP", "203.0.113.50"); got != 429 {
			t.Errorf("X-Real-IP was believed: %d", got)
		}
	})
}

// TestSuccessBudgetRefusesBeforeTheHash: an account holder looping correct
// logins meets the success budget — a 429 with Retry-After and RateLimit
// fields naming that budget, and no password hash — while a stranger
// elsewhere trying the same name gets what a name that does not exist gets.
func TestSuccessBudgetRefusesBeforeTheHash(t *testing.T) {
	counter := &countingHasher{}
	e := newTestEnv(t,
		withPolicy(policyWith(func(p *guard.Policy) { p.Success = limit.Limit{Burst: 3, Period: time.Minute} })),
		withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }),
		withTrustedProxies("127.0.0.0/8"))
	e.addUser("bob", "correct horse battery")
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	// The first login (untrusted) spends the budget of bob at this
	// address and earns a device credential, so the next three are
	// trusted and spend the account's.
	first := e.loginWith("bob", "correct horse battery", from("192.0.2.1")...)
	if first.status != http.StatusOK {
		t.Fatalf("first login: %d %s", first.status, first.body)
	}
	var tok struct {
		DeviceToken string `json:"device_token"`
	}
	if err := json.Unmarshal([]byte(first.body), &tok); err != nil || tok.DeviceToken == "" {
		t.Fatalf("no device token in %s (%v)", first.body, err)
	}
	withDevice := func() response {
		form := url.Values{"username": {"bob"}, "password": {"correct horse battery"}, "device_token": {tok.DeviceToken}}
		return e.postToken(form.Encode(), from("192.0.2.1")...)
	}
	for i := range 3 {
		if res := withDevice(); res.status != http.StatusOK {
			t.Fatalf("device login %d: %d %s", i, res.status, res.body)
		}
	}
	hashes := counter.calls.Load()
	res := withDevice()
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("fifth login: %d, want 429", res.status)
	}
	if got := counter.calls.Load(); got != hashes {
		t.Errorf("the refused login reached the hasher")
	}
	if ra := res.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if got, want := res.header.Get("RateLimit-Policy"), `"success";q=3;w=60`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got := res.header.Get("RateLimit"); !strings.HasPrefix(got, `"success";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	// A stranger elsewhere: the same answers for bob as for a name that
	// does not exist.
	for _, name := range []string{"bob", "ghost"} {
		if res := e.loginWith(name, "guess", from("198.51.100.7")...); res.status != http.StatusBadRequest {
			t.Errorf("stranger trying %s: %d, want 400", name, res.status)
		}
	}
}
