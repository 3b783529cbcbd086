package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store/storetest"
)

// twoReplicas starts two replicas on one PostgreSQL schema and one Redis
// prefix (CREDSHIELD_TEST_REDIS), sharing one data directory (started one
// after the other, so the second loads the first's keys and secrets), each
// with its metrics on its own loopback port, both with one issuer as
// behind a load balancer. It returns the database, the
// base URLs and the metrics URLs.
func twoReplicas(t *testing.T, extra ...string) (dsn string, bases, metrics [2]string) {
	t.Helper()
	redisU := redisURL(t)
	dsn = storetest.PostgresDSN(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	shared := append([]string{"--data-dir", dataDir, "--db", dsn, "--kek-file", testKEKFile(t), "--guard-store", redisU, "--guard-store-timeout", steadyRedis, "--redis-prefix", randomPrefix(t),
		"--replicas", "2", "--trusted-proxies", "127.0.0.1/32", "--issuer", "http://127.0.0.1"}, cheapHash...)
	shared = append(shared, extra...)
	for i := range bases {
		m := freeAddr(t)
		metrics[i] = "http://" + m + "/metrics"
		bases[i] = startServe(t, append([]string{"--metrics-listen", m}, shared...)...)
	}
	// Before the replicas stop: a connection the client dialed but never
	// used is "new" to the server, and Shutdown waits 5 s for those.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return dsn, bases, metrics
}

const hashCount = "credshield_password_verify_seconds_count"

// TestReplicasHashExactlyTheSharedBudget sends 200 parallel guesses from
// one address, split across two replicas: the hashers of both together run
// exactly the shared soft budget of the address (10), not 10 per replica
// and not one more under the race.
func TestReplicasHashExactlyTheSharedBudget(t *testing.T) {
	_, bases, metrics := twoReplicas(t, "--attack-min-failures", "1000000")
	before := metricValue(t, metrics[0], hashCount) + metricValue(t, metrics[1], hashCount)

	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ans := login(t, bases[i%2], "203.0.113.7", fmt.Sprintf("guess%d", i), "leaked", "")
			mu.Lock()
			statuses[fmt.Sprint(ans.status, " ", ans.str("error"))]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()

	hashed := metricValue(t, metrics[0], hashCount) + metricValue(t, metrics[1], hashCount) - before
	if hashed != 10 {
		t.Errorf("the hashers of both replicas ran %v times for 200 parallel guesses from one address, want exactly 10; answers %v", hashed, statuses)
	}
	if statuses["400 invalid_grant"] != 10 {
		t.Errorf("answers %v: want exactly 10 invalid_grant", statuses)
	}
	for k := range statuses {
		if k[0] == '5' {
			t.Errorf("a 5xx among the answers: %v", statuses)
		}
	}
}

// TestReplicasShareUsersAndRevocations: a user added while both replicas
// run logs in through either; a refresh family revoked through one is
// dead on the other; an access token revoked (by jti) through one is
// refused by the other's /users/me.
func TestReplicasShareUsersAndRevocations(t *testing.T) {
	dsn, bases, _ := twoReplicas(t)
	a, b := bases[0], bases[1]

	addUser(t, dsn, "bob", "bob's long password")
	for _, base := range bases {
		if ans := login(t, base, "198.51.100.20", "bob", "bob's long password", ""); ans.status != http.StatusOK {
			t.Fatalf("%s: bob, added after the start: %d %s", base, ans.status, ans.raw)
		}
	}

	first := login(t, a, "198.51.100.20", "bob", "bob's long password", "")
	refresh, access := first.str("refresh_token"), first.str("access_token")
	if first.status != http.StatusOK || refresh == "" || access == "" {
		t.Fatalf("login on a: %d %s", first.status, first.raw)
	}
	if ans := getWith(t, b, "/users/me", access); ans.status != http.StatusOK || ans.str("username") != "bob" {
		t.Fatalf("a's access token on b before revocation: %d %s", ans.status, ans.raw)
	}

	if ans := postForm(t, a, "/revoke", "198.51.100.20", url.Values{"token": {refresh}}); ans.status != http.StatusOK {
		t.Fatalf("revoke the refresh token on a: %d %s", ans.status, ans.raw)
	}
	if ans := postForm(t, b, "/token", "198.51.100.20", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_grant" {
		t.Errorf("a refresh token revoked on a, redeemed on b: %d %s; want 400 invalid_grant", ans.status, ans.raw)
	}

	if ans := postForm(t, a, "/revoke", "198.51.100.20", url.Values{"token": {access}}); ans.status != http.StatusOK {
		t.Fatalf("revoke the access token on a: %d %s", ans.status, ans.raw)
	}
	ans := getWith(t, b, "/users/me", access)
	if ans.status != http.StatusUnauthorized || ans.str("error") != "invalid_token" {
		t.Errorf("an access token revoked on a, used on b: %d %s; want 401 invalid_token", ans.status, ans.raw)
	}
}

// TestReplicasShareTheAttackDetector: with --guard-store the attack
// detectors of both replicas count every replica's failures, so four
// failures on each (eight, past --attack-min-failures 6, which neither
// reaches alone) put both under attack: an untrusted login with the right
// password is then challenged.
func TestReplicasShareTheAttackDetector(t *testing.T) {
	dsn, bases, metrics := twoReplicas(t, "--attack-min-failures", "6")
	a, b := bases[0], bases[1]
	addUser(t, dsn, "carol", "carol's long password")
	for i := range 4 {
		if ans := login(t, a, fmt.Sprintf("198.51.100.%d", 10+i), fmt.Sprintf("nobody%d", i), "leaked", ""); ans.str("error") != "invalid_grant" {
			t.Fatalf("failure %d on a: %d %s", i, ans.status, ans.raw)
		}
	}
	// Alone, a's four failures are not an attack.
	if ans := login(t, a, "192.0.2.1", "carol", "carol's long password", ""); ans.status != http.StatusOK {
		t.Fatalf("carol on a after its four failures: %d %s; want 200", ans.status, ans.raw)
	}
	for i := range 4 {
		if ans := login(t, b, fmt.Sprintf("198.51.100.%d", 20+i), fmt.Sprintf("nobody%d", i), "leaked", ""); ans.str("error") != "invalid_grant" && ans.str("error") != "challenge_required" {
			t.Fatalf("failure %d on b: %d %s", i, ans.status, ans.raw)
		}
	}
	// Each replica exchanges its counts at most once a second: poll both
	// with carol's right password from new networks (successes, which add
	// no failure), until both challenge her.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		got := [2]string{}
		for j, base := range bases {
			got[j] = login(t, base, fmt.Sprintf("10.%d.%d.1", i, j), "carol", "carol's long password", "").str("error")
		}
		if got == [2]string{"challenge_required", "challenge_required"} {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not both under attack after 10 s: last answers %v", got)
		}
		time.Sleep(200 * time.Millisecond) // the detectors exchange counts once a second
	}
	for j, m := range metrics {
		if v := metricValue(t, m, "credshield_guard_under_attack"); v != 1 {
			t.Errorf("replica %d: credshield_guard_under_attack = %v, want 1", j, v)
		}
		if v := metricValue(t, m, `credshield_guard_verdicts_total{reason="attack",trust="untrusted",verdict="challenge"}`); v < 1 {
			t.Errorf("replica %d: no challenges for the attack", j)
		}
	}
}
