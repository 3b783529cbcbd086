package server

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
)

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := password.Hash(crand.Reader, []byte(pw), testParams)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loginFrom logs in as a client at ip (through the trusted loopback
// proxy), with extra form fields.
func (e *testEnv) loginFrom(ip, name, pw string, extra url.Values) response {
	e.t.Helper()
	form := url.Values{"username": {name}, "password": {pw}}
	for k, v := range extra {
		form[k] = v
	}
	return e.postToken(form.Encode(), "X-Forwarded-For", ip)
}

func errorCode(t testing.TB, r response) string {
	t.Helper()
	if r.status == http.StatusOK {
		return "ok"
	}
	code, _ := r.json(t)["error"].(string)
	return code
}

// TestRealUserDuringAttack is issue 4's acceptance: during a stuffing
// burst and a targeted attack on one account, the real user logs in from a
// known device and from a known network, while untrusted clients are
// challenged and then denied; challenged attempts never reach the hasher.
func TestRealUserDuringAttack(t *testing.T) {
	counter := &countingHasher{}
	pol := guard.DefaultPolicy()
	pol.Difficulty, pol.AttackDifficulty = 2, 3
	pol.UserHard = limit.Limit{Burst: 30, Period: 24 * time.Hour}
	e := newTestEnv(t, withPolicy(pol), withDetector(guard.DefaultDetectorConfig()),
		withTrustedProxies("127.0.0.0/8", "::1/128"),
		withHasher(func(h Hasher) Hasher { counter.Hasher = h; return counter }))
	e.addUser("alice", "correct horse battery")

	// Last week: alice logged in from home and kept the device token.
	first := e.loginFrom("198.51.100.10", "alice", "correct horse battery", nil)
	if first.status != http.StatusOK {
		t.Fatalf("first login: %d %s", first.status, first.body)
	}
	deviceToken, _ := first.json(t)["device_token"].(string)
	if deviceToken == "" || !strings.Contains(first.header.Get("Set-Cookie"), "__Host-credshield-device=") ||
		!strings.Contains(first.header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(first.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("no device credential: %s / %q", first.body, first.header.Get("Set-Cookie"))
	}

	// A stuffing burst from a botnet (two pairs per address) and a
	// targeted attack on alice from hundreds of addresses.
	codes := map[string]int{}
	for i := 0; i < 300; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", i/500, (i/2)%250, 1+i%2)
		codes[errorCode(t, e.loginFrom(ip, fmt.Sprintf("leaked%d", i), "pw", nil))]++
	}
	if codes["invalid_grant"] == 0 || codes["challenge_required"] == 0 {
		t.Fatalf("stuffing burst answers: %v", codes)
	}
	if gatetest.Value(t, e.reg, "credshield_guard_under_attack") != 1 {
		t.Fatalf("detector not on after the burst (%v)", codes)
	}
	targeted := map[string]int{}
	for i := 0; i < 200; i++ {
		targeted[errorCode(t, e.loginFrom(fmt.Sprintf("172.16.%d.%d", i/200, i%200+1), "alice", "guess", nil))]++
	}
	if targeted["challenge_required"] == 0 || targeted["too_many_attempts"] == 0 || targeted["invalid_grant"] != 0 {
		t.Fatalf("targeted attack answers: %v", targeted)
	}
	hashes := counter.calls.Load()

	// alice, on the road with her device: no challenge, no 429.
	if r := e.loginFrom("203.0.113.5", "alice", "correct horse battery", url.Values{"device_token": {deviceToken}}); r.status != http.StatusOK {
		t.Errorf("known device: %d %s", r.status, r.body)
	}
	// alice at home, from another machine without the token: her known
	// network spares her the account's spent budget, not the challenge
	// every client without a device credential meets under attack.
	home := e.loginFrom("198.51.100.77", "alice", "correct horse battery", nil)
	if errorCode(t, home) != "challenge_required" {
		t.Fatalf("known network under attack: %d %s", home.status, home.body)
	}
	homeTok := home.json(t)["challenge"].(map[string]any)["token"].(string)
	homeSol, _, err := challenge.Solve(context.Background(), homeTok, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.loginFrom("198.51.100.77", "alice", "correct horse battery", url.Values{challenge.FormToken: {homeTok}, challenge.FormSolution: {homeSol}}); r.status != http.StatusOK {
		t.Errorf("known network, challenge solved: %d %s", r.status, r.body)
	}
	// A browser sending the cookie instead of the form field.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader("username=alice&password=correct+horse+battery"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.99")
	req.AddCookie(&http.Cookie{Name: gate.DeviceCookie, Value: deviceToken})
	if r := e.do(req); r.status != http.StatusOK {
		t.Errorf("device cookie: %d %s", r.status, r.body)
	}
	// An untrusted client for alice: her shared budget is spent.
	if r := e.loginFrom("192.0.2.200", "alice", "correct horse battery", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("untrusted client for alice: %d %s", r.status, r.body)
	}
	if got := counter.calls.Load() - hashes; got != 4 {
		t.Errorf("%d hashes for three logins, one challenge check and one refusal", got)
	}

	// Under attack, an untrusted client for another account is challenged;
	// the real solver's answer lets it through.
	e.addUser("bob", "another good password")
	r := e.loginFrom("192.0.2.77", "bob", "another good password", nil)
	if errorCode(t, r) != "challenge_required" {
		t.Fatalf("untrusted under attack: %d %s", r.status, r.body)
	}
	tok := r.json(t)["challenge"].(map[string]any)["token"].(string)
	sol, _, err := challenge.Solve(context.Background(), tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	solved := url.Values{challenge.FormToken: {tok}, challenge.FormSolution: {sol}}
	if r := e.loginFrom("192.0.2.77", "bob", "another good password", solved); r.status != http.StatusOK {
		t.Errorf("solved challenge: %d %s", r.status, r.body)
	}
	// The same solution again (replay), from a network bob has not logged
	// in from (192.0.2.0/24 is now known for him).
	r = e.loginFrom("198.18.0.1", "bob", "wrong password", nil)
	tok = r.json(t)["challenge"].(map[string]any)["token"].(string)
	sol, _, _ = challenge.Solve(context.Background(), tok, 1)
	once := url.Values{challenge.FormToken: {tok}, challenge.FormSolution: {sol}}
	if r := e.loginFrom("198.18.0.1", "bob", "wrong password", once); errorCode(t, r) != "invalid_grant" {
		t.Errorf("solved challenge, wrong password: %d %s", r.status, r.body)
	}
	if r := e.loginFrom("198.18.0.1", "bob", "wrong password", once); errorCode(t, r) != "challenge_required" {
		t.Errorf("replayed solution: %d %s", r.status, r.body)
	}
	// A solution bought on one address, spent from another.
	r = e.loginFrom("198.18.1.1", "bob", "wrong password", nil)
	tok = r.json(t)["challenge"].(map[string]any)["token"].(string)
	sol, _, _ = challenge.Solve(context.Background(), tok, 1)
	stolen := url.Values{challenge.FormToken: {tok}, challenge.FormSolution: {sol}}
	if r := e.loginFrom("198.18.2.1", "bob", "wrong password", stolen); errorCode(t, r) != "challenge_required" {
		t.Errorf("solution used from another address: %d %s", r.status, r.body)
	}

	// A password reset revokes alice's device credential.
	if _, err := e.st.SetPassword(context.Background(), "alice", mustHash(t, "a brand new password"), "$argon2id$v=19$m=64,t=1,p=1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.loginFrom("100.64.0.1", "alice", "a brand new password", url.Values{"device_token": {deviceToken}}); r.status != http.StatusTooManyRequests {
		t.Errorf("revoked device credential still trusted: %d %s", r.status, r.body)
	}
}

func TestChallengeRequestErrors(t *testing.T) {
	e := newTestEnv(t)
	if r := e.postToken("username=a&password=b&challenge=x"); r.status != 400 || !strings.Contains(string(r.body), "challenge_solution") {
		t.Errorf("challenge without solution: %d %s", r.status, r.body)
	}
}

// TestFullReplayCacheDenies: when the challenge replay cache is full the
// guard's challenge gives way to a 429 — never to an allow.
func TestFullReplayCacheDenies(t *testing.T) {
	pol := unlimited()
	pol.IPSoft = limit.Limit{Burst: 1, Period: time.Hour}
	e := newTestEnv(t, withPolicy(pol), withReplayCapacity(1))
	if r := e.login("a", "wrong"); errorCode(t, r) != "invalid_grant" {
		t.Fatalf("first attempt: %d %s", r.status, r.body)
	}
	r := e.login("b", "wrong")
	if errorCode(t, r) != "challenge_required" {
		t.Fatalf("second attempt: %d %s", r.status, r.body)
	}
	tok := r.json(t)["challenge"].(map[string]any)["token"].(string)
	sol, _, err := challenge.Solve(context.Background(), tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	solved := url.Values{"username": {"b"}, "password": {"wrong"}, challenge.FormToken: {tok}, challenge.FormSolution: {sol}}
	if r := e.postToken(solved.Encode()); errorCode(t, r) != "invalid_grant" {
		t.Fatalf("solved attempt: %d %s", r.status, r.body)
	}
	// The one slot holds that solution until it expires.
	r = e.login("c", "wrong")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("with a full replay cache: %d %s", r.status, r.body)
	}
}
