package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credshield.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigExampleChecks: the annotated example in docs/ is a valid
// serve configuration.
func TestConfigExampleChecks(t *testing.T) {
	example := filepath.Join("..", "..", "docs", "config.example.yaml")
	code, out, stderr := credshield(t, "", nil, "config", "check", example)
	if code != 0 || !strings.Contains(out, "valid for credshield serve") {
		t.Fatalf("config check %s: exit %d\n%s%s", example, code, out, stderr)
	}
}

// TestConfigUnknownKeyRejected: a misspelt key stops any command with
// exit 2, naming the key and its line, instead of leaving the setting at
// its default.
func TestConfigUnknownKeyRejected(t *testing.T) {
	path := writeConfig(t, "listen: 127.0.0.1:0\n# the next key is misspelt\nguard-ip-limt: 5/1h\n")
	for _, args := range [][]string{
		{"serve", "--config", path},
		{"config", "check", path},
		{"user", "list", "--config", path},
	} {
		code, _, stderr := credshield(t, "", nil, args...)
		if code != 2 || !strings.Contains(stderr, path+`:3: unknown key "guard-ip-limt"`) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the key and line 3", args, code, stderr)
		}
	}
	// Through CREDSHIELD_CONFIG as well.
	code, _, stderr := credshield(t, "", map[string]string{"CREDSHIELD_CONFIG": path}, "serve")
	if code != 2 || !strings.Contains(stderr, "unknown key") {
		t.Errorf("CREDSHIELD_CONFIG: exit %d, %q", code, stderr)
	}
}

// TestConfigCheckRunsStartChecks: check refuses what serve would refuse
// at start (weak hash settings here), and checks protect's settings when
// asked to.
func TestConfigCheckRunsStartChecks(t *testing.T) {
	weak := writeConfig(t, "argon2-memory: 64\nargon2-time: 1\n")
	code, _, stderr := credshield(t, "", nil, "config", "check", weak)
	if code != 2 || !strings.Contains(stderr, "--insecure-weak-hash") {
		t.Errorf("weak hash: exit %d, %q", code, stderr)
	}
	if code, _, stderr := credshield(t, "", nil, "config", "check", writeConfig(t, "argon2-memory: 64\nargon2-time: 1\ninsecure-weak-hash: true\n")); code != 0 {
		t.Errorf("weak hash named insecure: exit %d, %q", code, stderr)
	}
	prot := writeConfig(t, "upstream: http://127.0.0.1:9\nlogin-path: [/login, /api/token]\n")
	if code, out, stderr := credshield(t, "", nil, "config", "check", prot, "protect"); code != 0 || !strings.Contains(out, "valid for credshield protect") {
		t.Errorf("protect: exit %d, %q %q", code, out, stderr)
	}
	if code, _, stderr := credshield(t, "", nil, "config", "check", writeConfig(t, "login-path: [/login]\n"), "protect"); code != 2 || !strings.Contains(stderr, "--upstream is required") {
		t.Errorf("protect without upstream: exit %d, %q", code, stderr)
	}
}

// TestConfigPrint: flags beat the environment, which beats the file;
// every value says where it came from; passwords and the key-encryption
// key never show.
func TestConfigPrint(t *testing.T) {
	path := writeConfig(t, "listen: 127.0.0.1:7001\nissuer: https://file.example\naccess-token-ttl: 5m\n"+
		"guard-store: redis://app:hunter2@127.0.0.1:6379/3\n")
	env := map[string]string{
		"CREDSHIELD_ISSUER": "https://env.example", "CREDSHIELD_ACCESS_TOKEN_TTL": "7m",
		"CREDSHIELD_KEK": "c2VjcmV0LWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcw==", "CREDSHIELD_DB": "postgres://app:hunter3@127.0.0.1/x",
	}
	code, out, stderr := credshield(t, "", env, "config", "print", "serve", "--config", path, "--access-token-ttl", "9m")
	if code != 0 {
		t.Fatalf("config print: exit %d %s", code, stderr)
	}
	for _, want := range []string{
		"listen: 127.0.0.1:7001 # " + path + ":1",
		"issuer: https://env.example # CREDSHIELD_ISSUER",
		"access-token-ttl: 9m0s # command line",
		"guard-store: redis://app:xxxxx@127.0.0.1:6379/3 # " + path + ":4",
		"db: postgres://app:xxxxx@127.0.0.1/x # CREDSHIELD_DB",
		"# CREDSHIELD_KEK is set (never shown)",
		"signing-alg: EdDSA # default",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2", "hunter3", env["CREDSHIELD_KEK"]} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows the secret %q", secret)
		}
	}
}

// TestServeReadsConfigFile: serve runs with the file's settings (its data
// directory shows in the start-up hint), the command line still winning.
func TestServeReadsConfigFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "from-file")
	path := writeConfig(t, "data-dir: "+data+"\nargon2-memory: 64\nargon2-time: 1\ninsecure-weak-hash: true\nlisten: 127.0.0.1:1\n")
	line := startupLine(t, "serve", "--config", path) // launch's --listen 127.0.0.1:0 beats the file's
	if !strings.Contains(line, "--data-dir "+data) {
		t.Errorf("start-up line %q does not name the file's data directory", line)
	}
	if _, err := os.Stat(filepath.Join(data, "keys")); err != nil {
		t.Errorf("serve did not use the file's data directory: %v", err)
	}
}

func TestVersionLine(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "8a6274745992"}, {Key: "vcs.time", Value: "2026-12-06T00:19:43Z"}}
	tests := []struct {
		name, stamped string
		bi            *debug.BuildInfo
		want          string
	}{
		{"no build info", "", nil, "credshield dev"},
		{"go install @version", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"credshield v1.2.3 (go1.26.8)"},
		{"release script", "v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"credshield v1.2.3 (revision 8a6274745992, 2026-12-06T00:19:43Z, go1.26.8)"},
		{"local build", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "true"})},
			"credshield dev (revision 8a6274745992, 2026-12-06T00:19:43Z, with uncommitted changes, go1.26.8)"},
	}
	for _, tt := range tests {
		if got := versionLine(tt.stamped, tt.bi); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	// The command itself reads this test binary's build info.
	code, out, _ := credshield(t, "", nil, "version")
	bi, _ := debug.ReadBuildInfo()
	if code != 0 || !strings.HasPrefix(out, "credshield ") || !strings.Contains(out, bi.GoVersion) {
		t.Errorf("version: exit %d %q", code, out)
	}
}
