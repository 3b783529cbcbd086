package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/seal"
	"github.com/credshield/credshield/internal/secret"
	"github.com/credshield/credshield/internal/store/postgres"
	"github.com/credshield/credshield/internal/store/storetest"
	"github.com/credshield/credshield/token"
)

// testKEKFile writes a fresh random key-encryption key (base64, mode 0600)
// for t and returns its path; replicas given the same path share sealed
// keys and secrets.
func testKEKFile(t testing.TB) string {
	t.Helper()
	raw := make([]byte, seal.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jwtKID returns the kid of a JWS compact token's header.
func jwtKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// TestReplicasShareKeysAndSecrets runs two replicas on one PostgreSQL
// schema and one Redis with one key-encryption key, started at the same
// moment with automatic rotation due: they rotate once, not twice; a
// token signed by one verifies at the other; a device credential from one
// is trusted by the other; a challenge issued by one is accepted by the
// other; a key rotated from the CLI is in both JWKS within the reload
// interval and signs there.
func TestReplicasShareKeysAndSecrets(t *testing.T) {
	redisU := redisURL(t)
	dsn := storetest.PostgresDSN(t)
	kek := testKEKFile(t)
	ctx := t.Context()

	// A key that started signing two hours ago, so a one-hour rotation
	// interval is due the moment the replicas start.
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring, err := (configKEK{kek}).ring(t)
	if err != nil {
		t.Fatal(err)
	}
	src := secret.NewSealedKeys(st, ring, rand.Reader)
	old, err := token.GenerateKey(rand.Reader, token.EdDSA, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.UpdateKeys(ctx, func([]*token.Key) ([]*token.Key, []string, error) { return []*token.Key{old}, nil, nil }); err != nil {
		t.Fatal(err)
	}

	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--db", dsn, "--data-dir", t.TempDir()}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	var pfx [6]byte
	_, _ = rand.Read(pfx[:])
	shared := append([]string{"--db", dsn, "--kek-file", kek, "--guard-store", redisU, "--guard-store-timeout", steadyRedis,
		"--redis-prefix", "credshield-test-" + hex.EncodeToString(pfx[:]) + ":", "--replicas", "2",
		"--trusted-proxies", "127.0.0.1/32", "--issuer", "http://127.0.0.1", "--guard-ip-soft-limit", "1/1h", "--challenge-difficulty", "1",
		"--attack-min-failures", "1000000", "--key-rotation-interval", "1h"}, cheapHash...)
	type started struct {
		base string
		err  error
	}
	ch := make(chan started, 2)
	for _, name := range []string{"a", "b"} {
		go func() {
			base, err := launch(t, "serve", append([]string{"--data-dir", filepath.Join(t.TempDir(), name)}, shared...)...)
			ch <- started{base, err}
		}()
	}
	var bases []string
	for range 2 {
		s := <-ch
		if s.err != nil {
			t.Fatal(s.err)
		}
		bases = append(bases, s.base)
	}
	a, b := bases[0], bases[1]
	t.Cleanup(http.DefaultClient.CloseIdleConnections)

	t.Run("automatic rotation happens once", func(t *testing.T) {
		keys, err := st.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Fatalf("%d keys stored after two replicas found a rotation due; want 2 (the old one and one staged key)", len(keys))
		}
		for _, k := range keys {
			if bytes.Contains(k.Sealed, []byte("PRIVATE KEY")) {
				t.Errorf("key %s stored unsealed", k.ID)
			}
		}
	})

	var device string
	t.Run("a token signed by one verifies at the other", func(t *testing.T) {
		ans := postForm(t, a, "/token", "198.51.100.1", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
		if ans.status != http.StatusOK {
			t.Fatalf("login at a: %d %s", ans.status, ans.raw)
		}
		if kid := jwtKID(t, ans.str("access_token")); kid != old.ID {
			t.Errorf("signed by %s, want the shared active key %s", kid, old.ID)
		}
		device = ans.str("device_token")
		if me := getWith(t, b, "/users/me", ans.str("access_token")); me.status != http.StatusOK || me.str("username") != "alice" {
			t.Errorf("/users/me at b with a's token: %d %s", me.status, me.raw)
		}
	})

	t.Run("a device credential from one is trusted by the other", func(t *testing.T) {
		if device == "" {
			t.Fatal("no device_token from the login at a")
		}
		const ip = "192.0.2.7" // a network alice never logged in from
		if ans := postForm(t, b, "/token", ip, url.Values{"username": {"mallory"}, "password": {"x"}}); ans.status != http.StatusBadRequest {
			t.Fatalf("spending the address's soft budget: %d %s", ans.status, ans.raw)
		}
		login := func(dev string) answer {
			return postForm(t, b, "/token", ip, url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "device_token": {dev}})
		}
		forged := device[:len(device)-2] + map[bool]string{true: "AA", false: "BA"}[strings.HasSuffix(device, "AA")]
		if ans := login(forged); ans.str("error") != "challenge_required" {
			t.Fatalf("forged device credential at b: %d %s; want challenge_required", ans.status, ans.raw)
		}
		if ans := login(device); ans.status != http.StatusOK {
			t.Errorf("a's device credential at b: %d %s; want trusted, no challenge", ans.status, ans.raw)
		}
	})

	t.Run("a challenge issued by one is accepted by the other", func(t *testing.T) {
		const ip = "203.0.113.5"
		creds := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
		if ans := postForm(t, a, "/token", ip, url.Values{"username": {"mallory"}, "password": {"x"}}); ans.status != http.StatusBadRequest {
			t.Fatalf("spending the address's soft budget: %d %s", ans.status, ans.raw)
		}
		issued := postForm(t, a, "/token", ip, creds)
		if issued.str("error") != "challenge_required" {
			t.Fatalf("a did not challenge: %d %s", issued.status, issued.raw)
		}
		code, out, stderr := credshield(t, issued.raw, nil, "challenge", "solve", "--form", "-")
		if code != 0 {
			t.Fatalf("challenge solve: %d %s", code, stderr)
		}
		solved, err := url.ParseQuery(strings.TrimSpace(out))
		if err != nil || solved.Get("challenge") == "" {
			t.Fatalf("solver output %q: %v", out, err)
		}
		with := func(tok, sol string) url.Values {
			f := url.Values{"challenge": {tok}, "challenge_solution": {sol}}
			for k, v := range creds {
				f[k] = v
			}
			return f
		}
		if ans := postForm(t, b, "/token", ip, creds); ans.str("error") != "challenge_required" {
			t.Fatalf("b let the challenged address in without a solution: %d %s", ans.status, ans.raw)
		}
		tok := solved.Get("challenge")
		tampered := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BA"}[strings.HasSuffix(tok, "AA")]
		if ans := postForm(t, b, "/token", ip, with(tampered, solved.Get("challenge_solution"))); ans.status == http.StatusOK {
			t.Fatalf("b accepted a tampered challenge: %s", ans.raw)
		}
		if ans := postForm(t, b, "/token", ip, with(tok, solved.Get("challenge_solution"))); ans.status != http.StatusOK {
			t.Errorf("b refused a's challenge, solved: %d %s", ans.status, ans.raw)
		}
	})

	t.Run("a key rotated from the CLI is served and used by both", func(t *testing.T) {
		code, out, stderr := credshield(t, "", nil, "keys", "rotate", "--now", "--db", dsn, "--kek-file", kek, "--data-dir", t.TempDir())
		if code != 0 {
			t.Fatalf("keys rotate --now: %d %s", code, stderr)
		}
		kid := strings.Fields(out)[3]
		for _, base := range []string{b, a} {
			deadline := time.Now().Add(15 * time.Second) // keyReloadInterval is 10 s
			for !strings.Contains(string(getWith(t, base, "/.well-known/jwks.json", "").raw), `"kid":"`+kid+`"`) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: key %s not in the JWKS after 15 s", base, kid)
				}
				time.Sleep(200 * time.Millisecond) // polling another process's reload
			}
		}
		ans := postForm(t, b, "/token", "198.51.100.1", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
		if ans.status != http.StatusOK || jwtKID(t, ans.str("access_token")) != kid {
			t.Fatalf("login at b after the rotation: %d, want a token signed by %s", ans.status, kid)
		}
		if me := getWith(t, a, "/users/me", ans.str("access_token")); me.status != http.StatusOK {
			t.Errorf("/users/me at a with b's token under the new key: %d %s", me.status, me.raw)
		}
		_, list, _ := credshield(t, "", nil, "keys", "list", "--db", dsn, "--kek-file", kek, "--data-dir", t.TempDir())
		if !strings.Contains(list, kid) || strings.Count(list, "active") != 1 || strings.Count(list, "staged") != 1 {
			t.Errorf("keys list against the store:\n%s", list)
		}
	})

	t.Run("replicas due at the same moment rotate once", func(t *testing.T) {
		// Replica start-up is serialised by the migration lock, so the
		// race is staged here: two replicas' key sets over their own
		// connection pools, both seeing a rotation due, maintained at once.
		later := time.Now().Add(2 * time.Hour)
		cfg := config.Default()
		cfg.KeyRotationInterval = time.Hour
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		before := map[string]bool{}
		rows, err := st.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			before[r.ID] = true
		}
		errs := make(chan error, 2)
		startLine := make(chan struct{})
		for range 2 {
			pool, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			src := secret.NewSealedKeys(pool, ring, rand.Reader)
			ks, err := token.Load(ctx, src, token.EdDSA)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				<-startLine
				errs <- maintainKeys(ctx, ks, src, cfg, later, log)
			}()
		}
		close(startLine)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		rows, err = st.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		added := 0
		for _, r := range rows {
			if !before[r.ID] {
				added++
			}
		}
		if added != 1 {
			t.Errorf("%d keys added by two replicas due at once; want 1", added)
		}
	})

	t.Run("another KEK cannot start on the store", func(t *testing.T) {
		code, _, stderr := credshield(t, "", nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, append(shared[:2], "--kek-file", testKEKFile(t))...)...)
		if code == 0 || !strings.Contains(stderr, "sealed with another key-encryption key") {
			t.Errorf("serve with a wrong KEK: exit %d, %s", code, stderr)
		}
	})
}

// configKEK loads a keyring from a KEK file the way the commands do.
type configKEK struct{ file string }

func (c configKEK) ring(t *testing.T) (*seal.Keyring, error) {
	t.Helper()
	r, err := loadKeyring(config.KEK{File: c.file}, func(string) (string, bool) { return "", false }, "")
	if err == nil && r == nil {
		err = errors.New("no keyring")
	}
	return r, err
}

// TestPostgresNeedsKEK: a PostgreSQL store without a key-encryption key
// is refused with a usage error naming both ways to give one, for serve
// and the key commands; the user commands, which hold no secret, work.
func TestPostgresNeedsKEK(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0"},
		{"keys", "list"},
		{"keys", "rotate", "--now"},
	} {
		code, _, stderr := credshield(t, "", nil, append(args, "--db", dsn, "--data-dir", t.TempDir())...)
		if code != exitUsage || !strings.Contains(stderr, "CREDSHIELD_KEK") || !strings.Contains(stderr, "--kek-file") {
			t.Errorf("%v without a KEK: exit %d, %q; want 2 naming CREDSHIELD_KEK and --kek-file", args, code, stderr)
		}
	}
	if code, _, stderr := credshield(t, "", nil, "user", "list", "--db", dsn, "--data-dir", t.TempDir()); code != 0 {
		t.Errorf("user list without a KEK: %d %s", code, stderr)
	}
	// The KEK from the environment works too, and never shows in output.
	raw := make([]byte, seal.KeySize)
	_, _ = rand.Read(raw)
	b64 := base64.StdEncoding.EncodeToString(raw)
	code, out, stderr := credshield(t, "", map[string]string{"CREDSHIELD_KEK": b64}, "keys", "rotate", "--now", "--db", dsn, "--data-dir", t.TempDir())
	if code != 0 || strings.Contains(out+stderr, b64[:12]) {
		t.Errorf("keys rotate with CREDSHIELD_KEK: %d %q %q", code, out, stderr)
	}
}

// TestKEKImportsDataDirKeys upgrades a single node: keys and HMAC secrets
// made without a KEK move into the (SQLite) store, sealed, the first time
// a KEK is configured, so tokens and device credentials issued before
// stay valid; without the KEK the files are used as before.
func TestKEKImportsDataDirKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ks, err := token.LoadOrCreate(t.Context(), token.Dir(filepath.Join(dir, "keys")), token.EdDSA, rand.Reader, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fileKid := ks.ActiveAt(time.Now()).ID
	devKey, err := secret.LoadOrCreate(filepath.Join(dir, "secrets"), "device.key", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kek := testKEKFile(t)
	_, list, stderr := credshield(t, "", nil, "keys", "list", "--data-dir", dir, "--kek-file", kek)
	if !strings.Contains(list, fileKid) || !strings.Contains(stderr, "key.import") {
		t.Fatalf("keys list with a KEK does not show the imported key %s:\n%s\n%s", fileKid, list, stderr)
	}
	code, out, _ := credshield(t, "", nil, "keys", "rotate", "--now", "--data-dir", dir, "--kek-file", kek)
	if code != 0 {
		t.Fatal("keys rotate against the SQLite store failed")
	}
	kid := strings.Fields(out)[3]
	if _, err := os.Stat(filepath.Join(dir, "keys", kid+".pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotated key written as a file with a KEK configured: %v", err)
	}
	if _, list, _ = credshield(t, "", nil, "keys", "list", "--data-dir", dir, "--kek-file", kek); !strings.Contains(list, kid) || !strings.Contains(list, fileKid) {
		t.Errorf("store does not hold both keys:\n%s", list)
	}
	// The device key moves too: serve's loader hands out the file's key.
	got, err := sealedSecrets(t, dir, kek).load(t.Context(), "device.key")
	if err != nil || !bytes.Equal(got, devKey) {
		t.Errorf("shared device key differs from the imported file's: %v", err)
	}
	// Without the KEK, the files are still what keys list shows.
	if _, list, _ = credshield(t, "", nil, "keys", "list", "--data-dir", dir); strings.Contains(list, kid) || !strings.Contains(list, fileKid) {
		t.Errorf("without a KEK keys list should show the files only:\n%s", list)
	}
}

// sealedSecrets returns the HMAC keys as serve builds them with a KEK: in
// the SQLite store of the data directory dir, sealed under the KEK in
// kekFile. The store closes with the test.
func sealedSecrets(t *testing.T, dir, kekFile string) secrets {
	t.Helper()
	e := &env{dataDir: dir, lookupEnv: func(string) (string, bool) { return "", false }}
	ring, err := loadKeyring(config.KEK{File: kekFile}, e.lookupEnv, e.db)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.openStore(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newSecrets(dir, st, ring)
}
