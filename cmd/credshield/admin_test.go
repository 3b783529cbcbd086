package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuardUnlockReadmeBurst runs the README's stuffing burst (25 junk
// logins from one address) against a real serve, then lifts the lockout
// through the admin listener with the CLI, without a restart: guard
// status lists the address, guard unlock --ip frees it, and the next
// login is answered, not 429. Against the memory store, and against Redis.
func TestGuardUnlockReadmeBurst(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra func(t *testing.T) []string
		// direct: unlock straight in Redis with the server's flags,
		// not through its admin listener.
		direct bool
	}{
		{"memory", func(*testing.T) []string { return nil }, false},
		{"redis", func(t *testing.T) []string {
			return []string{"--guard-store", redisURL(t), "--redis-prefix", randomPrefix(t), "--guard-store-timeout", steadyRedis}
		}, false},
		{"redis direct", func(t *testing.T) []string {
			return []string{"--guard-store", redisURL(t), "--redis-prefix", randomPrefix(t), "--guard-store-timeout", steadyRedis}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			extra := tt.extra(t)
			base := startServe(t, append([]string{"--data-dir", dir}, extra...)...)
			last := 0
			for i := 1; i <= 25; i++ {
				last = postForm(t, base, "/token", "", url.Values{"username": {"user" + string(rune('a'+i))}, "password": {"leaked"}}).status
			}
			if last != http.StatusTooManyRequests {
				t.Fatalf("after the README burst: %d, want 429", last)
			}
			st, err := os.Stat(filepath.Join(dir, "admin.token"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("admin.token: %v, %v; want mode 0600", st, err)
			}

			code, out, stderr := credshield(t, "", nil, "guard", "status", "--data-dir", dir)
			if code != 0 || !strings.Contains(out, "127.0.0.1") || !strings.Contains(out, "ip ") {
				t.Fatalf("guard status: %d\n%s%s", code, out, stderr)
			}
			unlock := []string{"guard", "unlock", "--ip", "127.0.0.1", "--data-dir", dir}
			if tt.direct {
				unlock = append(append(unlock[:4:4], "--data-dir", t.TempDir()), extra...) // no server's files: Redis only
			}
			code, out, stderr = credshield(t, "", nil, unlock...)
			if code != 0 || !strings.Contains(out, "ip:127.0.0.1") {
				t.Fatalf("guard unlock: %d\n%s%s", code, out, stderr)
			}
			if got := postForm(t, base, "/token", "", url.Values{"username": {"someone"}, "password": {"leaked"}}).status; got == http.StatusTooManyRequests {
				t.Fatal("still 429 after guard unlock --ip 127.0.0.1")
			}
			code, out, _ = credshield(t, "", nil, "guard", "status", "--data-dir", dir)
			if code != 0 || strings.Contains(out, "127.0.0.1") {
				t.Fatalf("guard status after unlock: %d\n%s", code, out)
			}
		})
	}
}

// TestAdminListenerRefusesWrongToken checks the admin listener answers
// only holders of the token: none, a wrong one, and one from the
// environment that differs from the file's.
func TestAdminListenerRefusesWrongToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	startServe(t, "--data-dir", dir)
	addr, err := os.ReadFile(filepath.Join(dir, "admin.addr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic abc"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+strings.TrimSpace(string(addr))+"/v1/guard/status", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if a := httpDo(t, req); a.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, a.status)
		}
	}
	code, _, stderr := credshield(t, "", map[string]string{"CREDSHIELD_ADMIN_TOKEN": strings.Repeat("x", 43)}, "guard", "status", "--data-dir", dir)
	if code == 0 || !strings.Contains(stderr, "401") {
		t.Fatalf("a wrong token from the environment: %d %s", code, stderr)
	}
	// The CLI never creates a token or a listener address.
	other := t.TempDir()
	if code, _, stderr := credshield(t, "", nil, "guard", "status", "--data-dir", other); code == 0 || !strings.Contains(stderr, other) {
		t.Fatalf("guard status without a server: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(other, "admin.token")); err == nil {
		t.Fatal("guard status created a token")
	}
}

// TestAdminListenRefusesPublic: the admin listener stays on loopback
// unless named insecure, and never shares the public port.
func TestAdminListenRefusesPublic(t *testing.T) {
	for _, args := range [][]string{
		{"--admin-listen", "0.0.0.0:9999"},
		{"--admin-listen", "127.0.0.1:8080", "--listen", "127.0.0.1:8080"},
	} {
		code, _, stderr := credshield(t, "", nil, append([]string{"serve", "--data-dir", t.TempDir()}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "--admin-listen") {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}

// TestUnknownSubcommandExits2: a typo in a subcommand is a usage error,
// not help and success.
func TestUnknownSubcommandExits2(t *testing.T) {
	for _, args := range [][]string{{"keys", "bogus"}, {"user", "bogus"}, {"guard", "bogus"}, {"passwords", "bogus"}, {"challenge", "bogus"}, {"bogus"}} {
		code, _, stderr := credshield(t, "", nil, args...)
		if code != exitUsage || !strings.Contains(stderr, "unknown command") {
			t.Errorf("%v: exit %d, %q; want 2 and unknown command", args, code, stderr)
		}
	}
}
