package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// testFlags is a flag set with the kinds of flags the commands have: a
// plain value, a typed one, a list, a comma-parsed value, a secret URL.
func testFlags(t *testing.T, file string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String(ConfigFlag, file, "")
	fs.String("listen", "127.0.0.1:8080", "")
	fs.Duration("access-token-ttl", 0, "")
	fs.StringSlice("cors-origins", nil, "")
	d := DefaultDefence()
	fs.Var(prefixesValue{&d.TrustedProxies}, "trusted-proxies", "")
	fs.Var(limitValue{&d.Guard.IP}, "guard-ip-limit", "")
	fs.String("guard-store", "", "")
	return fs
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credshield.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// knownKeys stands for the keys of every command: the test set's, and
// one that belongs to another command.
func knownKeys(fs *pflag.FlagSet) func(string) bool {
	return func(k string) bool { return fs.Lookup(k) != nil || k == "upstream" }
}

func TestApplyLayers(t *testing.T) {
	path := writeFile(t, `# settings
listen: 127.0.0.1:9000
access-token-ttl: 5m
cors-origins: [https://a.example, https://b.example]
trusted-proxies:
  - 10.0.0.0/8
  - 127.0.0.1
guard-ip-limit: 7/1h
upstream: http://127.0.0.1:1
`)
	fs := testFlags(t, path)
	if err := fs.Parse([]string{"--guard-ip-limit", "9/1h"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CREDSHIELD_ACCESS_TOKEN_TTL": "2m"}
	o, err := Apply(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, knownKeys(fs))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"listen":           {"127.0.0.1:9000", path + ":2"},
		"access-token-ttl": {"2m0s", "CREDSHIELD_ACCESS_TOKEN_TTL"}, // env over file
		"cors-origins":     {"[https://a.example,https://b.example]", path + ":4"},
		"trusted-proxies":  {"10.0.0.0/8,127.0.0.1/32", path + ":5"},
		"guard-ip-limit":   {"9/1h", "command line"}, // flag over file
	}
	for name, w := range want {
		if got := fs.Lookup(name).Value.String(); got != w[0] {
			t.Errorf("%s = %q, want %q", name, got, w[0])
		}
		if o.Of[name] != w[1] {
			t.Errorf("%s from %q, want %q", name, o.Of[name], w[1])
		}
	}
	if len(o.Unused) != 1 || o.Unused[0] != "upstream (line 9)" {
		t.Errorf("unused %q, want upstream (line 9)", o.Unused)
	}

	// What WriteEffective prints reads back to the same settings.
	var buf bytes.Buffer
	if err := WriteEffective(&buf, fs, o); err != nil {
		t.Fatal(err)
	}
	again := testFlags(t, writeFile(t, buf.String()))
	if _, err := Apply(again, func(string) (string, bool) { return "", false }, knownKeys(again)); err != nil {
		t.Fatalf("printed settings do not read back: %v\n%s", err, buf.String())
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != ConfigFlag && again.Lookup(f.Name).Value.String() != f.Value.String() {
			t.Errorf("%s read back as %q, want %q", f.Name, again.Lookup(f.Name).Value.String(), f.Value.String())
		}
	})
}

// TestApplyFileErrors: every mistake names the file, the line and the key.
func TestApplyFileErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", "listen: 127.0.0.1:1\nguard-ip-limt: 5/1h\n", `:2: unknown key "guard-ip-limt"`},
		{"bad value", "guard-ip-limit: lots\n", `:1: guard-ip-limit: invalid argument "lots"`},
		{"no value", "listen:\n", ":1: listen: no value"},
		{"twice", "listen: a:1\nlisten: b:2\n", `:2: "listen" is set twice (first on line 1)`},
		{"nested file", "config: other.yaml\n", `:1: "config" cannot name another file`},
		{"not a mapping", "- listen\n", ":1: want settings as key: value lines"},
		{"mapping value", "listen:\n  host: x\n", ":1: listen: want a value or a list"},
		{"syntax", "listen: [\n", "yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.text)
			fs := testFlags(t, path)
			_, err := Apply(fs, func(string) (string, bool) { return "", false }, knownKeys(fs))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestApplyEmptyFile(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n"} {
		fs := testFlags(t, writeFile(t, text))
		if _, err := Apply(fs, func(string) (string, bool) { return "", false }, knownKeys(fs)); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"guard-store", "redis://user:hunter2@127.0.0.1:6379/0", "redis://user:xxxxx@127.0.0.1:6379/0"},
		{"db", "postgres://app:hunter2@db/credshield?sslmode=require", "postgres://app:xxxxx@db/credshield?sslmode=require"},
		{"db", "postgres://app@db/credshield", "postgres://app@db/credshield"},
		{"token", "eyJhbGciOi", "REDACTED"},
		{"admin-token", "s3cret", "REDACTED"},
		{"admin-token-file", "/etc/credshield/admin.token", "/etc/credshield/admin.token"},
		{"access-token-ttl", "15m0s", "15m0s"},
		{"token", "", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.name, tt.value); got != tt.want || strings.Contains(got, "hunter2") {
			t.Errorf("Redact(%s, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}
