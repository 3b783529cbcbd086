package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/store/storetest"
)

// redisURL returns CREDSHIELD_TEST_REDIS, skipping the test when it is not
// set — except under CI=true, where a missing service fails the run.

// steadyRedis is --guard-store-timeout for tests that check what replicas
// share through a healthy Redis: a loaded machine running the suite with
// -race can take longer than the default 200 ms to answer, and a replica
// would then fall back to its own memory and the test see local budgets.
// The tests of the fallback itself keep the default.
const steadyRedis = "2s"

func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("CREDSHIELD_TEST_REDIS")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CREDSHIELD_TEST_REDIS is not set; CI must run the Redis tests")
		}
		t.Skip("CREDSHIELD_TEST_REDIS not set: skipping tests that need Redis")
	}
	return u
}

// TestReplicasShareOneBudget runs two replicas on one PostgreSQL and one
// Redis: a user added through the CLI logs in through either, and a
// stuffing burst from one address split across both meets one budget, not
// two.
func TestReplicasShareOneBudget(t *testing.T) {
	redisU := redisURL(t)
	dsn := storetest.PostgresDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "credshield-test-" + hex.EncodeToString(b[:]) + ":"
	shared := append([]string{"--db", dsn, "--guard-store", redisU, "--guard-store-timeout", steadyRedis, "--redis-prefix", prefix, "--replicas", "2",
		"--trusted-proxies", "127.0.0.1/32", "--kek-file", testKEKFile(t)}, cheapHash...)

	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", t.TempDir()}, append([]string{"--db", dsn}, cheapHash...)...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	a := startServe(t, append([]string{"--data-dir", filepath.Join(t.TempDir(), "a")}, shared...)...)
	b2 := startServe(t, append([]string{"--data-dir", filepath.Join(t.TempDir(), "b")}, shared...)...)

	post := func(base, ip, user, pw string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(url.Values{"username": {user}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Error
	}
	for _, base := range []string{a, b2} {
		if code, e := post(base, "198.51.100.1", "alice", "correct horse battery"); code != http.StatusOK {
			t.Fatalf("%s: alice: %d %s", base, code, e)
		}
	}

	// A burst from one address, alternating replicas, each pair once. The
	// soft per-address budget is 10: shared, 10 attempts reach a hash in
	// all; two separate budgets would let 20 through.
	counts := map[string]int{}
	for i := 0; i < 40; i++ {
		base := []string{a, b2}[i%2]
		_, e := post(base, "203.0.113.9", "victim"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), "leaked")
		counts[e]++
	}
	if counts["invalid_grant"] != 10 || counts["challenge_required"] != 10 || counts["too_many_attempts"] != 20 {
		t.Errorf("answers across both replicas: %v; want 10 tries, 10 challenges, 20 refusals", counts)
	}

	// Both say they are ready on the shared store.
	for _, base := range []string{a, b2} {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ready"`) {
			t.Errorf("%s/readyz: %d %s", base, res.StatusCode, body)
		}
	}
}
