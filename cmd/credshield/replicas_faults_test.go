package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/store/storetest"
)

// TestReplicasSurviveRedisOutage runs two replicas on a Redis the test
// owns and the machine's PostgreSQL, and kills Redis in the middle of a
// login burst: no request gets a 5xx; trusted logins keep working, on
// budgets divided between the replicas; /readyz says "degraded"; untrusted
// clients are challenged, and a solved challenge (recorded in the
// replica's own memory) lets them in once. When Redis comes back on the
// same port the replicas return to it by themselves and a burst split
// across both meets one budget again.
func TestReplicasSurviveRedisOutage(t *testing.T) {
	rs := startTestRedis(t)
	dsn := storetest.PostgresDSN(t)
	addUser(t, dsn, "alice", "correct horse battery")
	addUser(t, dsn, "bob", "battery staple horse") // untouched by the burst
	// One data directory for both, started one after the other, so both
	// hold the same device-credential and challenge secrets.
	dataDir := filepath.Join(t.TempDir(), "data")
	metricsA := freeAddr(t)
	shared := append([]string{"--data-dir", dataDir, "--db", dsn, "--kek-file", testKEKFile(t), "--guard-store", rs.URL(), "--redis-prefix", randomPrefix(t),
		"--replicas", "2", "--trusted-proxies", "127.0.0.1/32", "--attack-min-failures", "1000000",
		// The burst logs alice in a hundred times in a few seconds, far
		// past the default success budget; this test is about the outage.
		"--guard-success-limit", "100000/1m"}, cheapHash...)
	a := startServe(t, append([]string{"--metrics-listen", metricsA}, shared...)...)
	b := startServe(t, shared...)
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // see twoReplicas
	bases := []string{a, b}

	// Two device credentials for alice: one to log in with, one to spend
	// on wrong passwords.
	devices := make([]string, 2)
	for i := range devices {
		ans := login(t, a, "198.51.100.1", "alice", "correct horse battery", "")
		if ans.status != http.StatusOK || ans.str("device_token") == "" {
			t.Fatalf("setup login: %d %s", ans.status, ans.raw)
		}
		devices[i] = ans.str("device_token")
	}
	devOK, devSpend := devices[0], devices[1]

	// The burst: trusted logins, untrusted logins and wrong guesses from
	// many addresses, alternating replicas; Redis dies a third of the way.
	const total, killAt = 300, 100
	var (
		next     atomic.Int64
		kill     sync.Once
		mu       sync.Mutex
		statuses = map[int]int{}
		okAfter  int // trusted logins that succeeded after the kill
		bad      []string
	)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				if i == killAt {
					kill.Do(rs.Stop)
				}
				base := bases[i%2]
				var ans answer
				switch i % 3 {
				case 0:
					ans = login(t, base, fmt.Sprintf("198.51.100.%d", 1+i%200), "alice", "correct horse battery", devOK)
				case 1:
					ans = login(t, base, fmt.Sprintf("203.0.113.%d", i%50), fmt.Sprintf("victim%d", i), "leaked", "")
				default:
					ans = login(t, base, fmt.Sprintf("192.0.2.%d", i%250), "alice", "correct horse battery", "")
				}
				mu.Lock()
				statuses[ans.status]++
				switch {
				case ans.status != http.StatusOK && ans.status != http.StatusBadRequest && ans.status != http.StatusTooManyRequests:
					bad = append(bad, fmt.Sprintf("#%d: %d %s", i, ans.status, ans.raw))
				case ans.status == http.StatusTooManyRequests && ans.header.Get("Retry-After") == "":
					bad = append(bad, fmt.Sprintf("#%d: 429 without Retry-After", i))
				case i%3 == 0 && i > killAt+16 && ans.status == http.StatusOK:
					okAfter++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("answers outside 200/400/429 during the outage (of %v): %s", statuses, strings.Join(bad, "; "))
	}
	if okAfter < 50 {
		t.Errorf("%d trusted logins succeeded after Redis went away, want every one (about 60); statuses %v", okAfter, statuses)
	}

	for _, base := range bases {
		waitReady(t, base, "degraded")
		if code, _ := readyStatus(t, base); code != http.StatusOK {
			t.Errorf("%s/readyz while degraded: %d, want 200 (still serving)", base, code)
		}
	}

	// Untrusted (bob, whom the burst left alone, from a network he never
	// used): challenged. A solution is spent once (here on a typo, so the
	// network does not become known) and refused the second time; a fresh
	// one lets bob in.
	for i, base := range bases {
		solveNext := func(ip, pw string) url.Values {
			t.Helper()
			ans := login(t, base, ip, "bob", pw, "")
			chal, _ := ans.body["challenge"].(map[string]any)
			tok, _ := chal["token"].(string)
			if ans.status != http.StatusBadRequest || ans.str("error") != challenge.ErrorCode || tok == "" {
				t.Fatalf("%s: untrusted login while degraded: %d %s; want a challenge", base, ans.status, ans.raw)
			}
			sol, _, err := challenge.Solve(context.Background(), tok, 2)
			if err != nil {
				t.Fatal(err)
			}
			return url.Values{"username": {"bob"}, "password": {pw}, challenge.FormToken: {tok}, challenge.FormSolution: {sol}}
		}
		// Two addresses: the divided user+address budget (2 here) would
		// refuse a third attempt from one.
		ip, ip2 := fmt.Sprintf("100.64.%d.1", i), fmt.Sprintf("100.64.%d.2", i)
		typo := solveNext(ip, "battery staple horse?")
		if ans := postForm(t, base, "/token", ip, typo); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_grant" {
			t.Errorf("%s: solved challenge, wrong password, while degraded: %d %s; want invalid_grant", base, ans.status, ans.raw)
		}
		typo.Set("password", "battery staple horse")
		if ans := postForm(t, base, "/token", ip, typo); ans.status == http.StatusOK {
			t.Errorf("%s: a spent solution accepted again while degraded", base)
		}
		if ans := postForm(t, base, "/token", ip2, solveNext(ip2, "battery staple horse")); ans.status != http.StatusOK {
			t.Errorf("%s: solved challenge while degraded: %d %s; want 200", base, ans.status, ans.raw)
		}
	}
	if n := metricValue(t, "http://"+metricsA+"/metrics", `credshield_guard_verdicts_total{reason="degraded",trust="untrusted",verdict="challenge"}`); n < 1 {
		t.Errorf("no degraded challenge verdicts on replica a (%v)", n)
	}
	if n := metricValue(t, "http://"+metricsA+"/metrics", "credshield_guard_store_degraded"); n != 1 {
		t.Errorf("credshield_guard_store_degraded = %v, want 1", n)
	}

	// Divided budgets: the device budget is 10 shared, so 5 per replica.
	for _, base := range bases {
		tries := 0
		for range 8 {
			ans := login(t, base, "198.51.100.1", "alice", "wrong password", devSpend)
			if ans.status == http.StatusTooManyRequests {
				break
			}
			if ans.str("error") != "invalid_grant" {
				t.Fatalf("%s: wrong password on a device: %d %s", base, ans.status, ans.raw)
			}
			tries++
		}
		if tries != 5 {
			t.Errorf("%s: %d wrong passwords on one device before 429, want the divided budget 5", base, tries)
		}
		if ans := login(t, base, "198.51.100.1", "alice", "correct horse battery", devOK); ans.status != http.StatusOK {
			t.Errorf("%s: trusted login while degraded: %d %s", base, ans.status, ans.raw)
		}
	}

	// Redis comes back, empty; both replicas return to it on their own.
	rs.Restart()
	for _, base := range bases {
		waitReady(t, base, "ready")
	}
	counts := map[string]int{}
	for i := range 40 {
		ans := login(t, bases[i%2], "203.0.113.99", fmt.Sprintf("again%d", i), "leaked", "")
		if ans.status >= 500 {
			t.Fatalf("after recovery: %d %s", ans.status, ans.raw)
		}
		counts[ans.str("error")]++
	}
	if counts["invalid_grant"] != 10 || counts["challenge_required"] != 10 || counts["too_many_attempts"] != 20 {
		t.Errorf("after recovery, answers across both replicas: %v; want 10 tries, 10 challenges, 20 refusals (one budget)", counts)
	}
	if ans := login(t, b, "100.64.1.1", "alice", "correct horse battery", ""); ans.status != http.StatusOK {
		t.Errorf("untrusted login after recovery: %d %s", ans.status, ans.raw)
	}
}

// TestPostgresOutage cuts the connection between a replica and PostgreSQL
// (a forwarder the test owns) mid-run: /token, the refresh grant,
// /users/me and /revoke answer 503 with Retry-After and an RFC 6749 error body,
// /readyz says unavailable, nothing is half written (the refresh token
// tried during the cut still works afterwards, and only once), and
// everything works again when the connection is restored.
func TestPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	addUser(t, dsn, "alice", "correct horse battery")
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("CREDSHIELD_TEST_POSTGRES must be a URL with a host for the forwarder: %v", err)
	}
	fwd := startForwarder(t, u.Host)
	u.Host = fwd.addr
	base := startServe(t, append([]string{"--data-dir", t.TempDir(), "--db", u.String(), "--kek-file", testKEKFile(t)}, cheapHash...)...)

	first := login(t, base, "", "alice", "correct horse battery", "")
	access, refresh := first.str("access_token"), first.str("refresh_token")
	if first.status != http.StatusOK || access == "" || refresh == "" {
		t.Fatalf("login: %d %s", first.status, first.raw)
	}

	fwd.cut()
	unavailable := func(what string, ans answer) {
		t.Helper()
		if ans.status != http.StatusServiceUnavailable || ans.header.Get("Retry-After") == "" || ans.str("error") != "temporarily_unavailable" {
			t.Errorf("%s with PostgreSQL cut: %d Retry-After %q %s; want 503, Retry-After, temporarily_unavailable",
				what, ans.status, ans.header.Get("Retry-After"), ans.raw)
		}
	}
	for range 3 { // the first uses of pooled connections, then fresh dials
		unavailable("/token", login(t, base, "", "alice", "correct horse battery", ""))
		unavailable("refresh", postForm(t, base, "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}))
		unavailable("/users/me", getWith(t, base, "/users/me", access))
		unavailable("/revoke", postForm(t, base, "/revoke", "", url.Values{"token": {access}}))
	}
	if code, st := readyStatus(t, base); code != http.StatusServiceUnavailable || st != "unavailable" {
		t.Errorf("/readyz with PostgreSQL cut: %d %q", code, st)
	}

	fwd.restore()
	if code, st := readyStatus(t, base); code != http.StatusOK || st != "ready" {
		t.Errorf("/readyz after restore: %d %q", code, st)
	}
	// The revocation refused during the cut did not happen either.
	if ans := getWith(t, base, "/users/me", access); ans.status != http.StatusOK {
		t.Errorf("/users/me after restore: %d %s", ans.status, ans.raw)
	}
	// The rotation tried during the cut did not happen: the old token
	// rotates now, exactly once.
	rot := postForm(t, base, "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if rot.status != http.StatusOK || rot.str("refresh_token") == "" {
		t.Fatalf("refresh after restore: %d %s", rot.status, rot.raw)
	}
	if ans := postForm(t, base, "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rot.str("refresh_token")}}); ans.status != http.StatusOK {
		t.Errorf("the rotated token after restore: %d %s", ans.status, ans.raw)
	}
	if ans := login(t, base, "", "alice", "correct horse battery", ""); ans.status != http.StatusOK {
		t.Errorf("/token after restore: %d %s", ans.status, ans.raw)
	}
}
