package main

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestScanSecretsFromEnvAndFile: scan takes its password and token from an
// environment variable, a file or stdin, so they need not be in argv where
// ps shows them; --help says so; the old flags still work but warn.
func TestScanSecretsFromEnvAndFile(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{} // passwords posted to /token, Authorization headers
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.URL.Path == "/token" && r.Method == http.MethodPost && r.ParseForm() == nil {
			seen["password:"+r.PostForm.Get("password")] = true
		}
		if a := r.Header.Get("Authorization"); a != "" {
			seen["auth:"+a] = true
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"detail":"Not authenticated"}`)
	}))
	defer target.Close()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scanArgs := func(extra ...string) []string {
		return append(append([]string{"scan", target.URL, "--max-requests", "30", "--fail-on", "critical"}, fastScan...), extra...)
	}
	tests := []struct {
		name  string
		stdin string
		env   map[string]string
		args  []string
		want  string // what the target must have seen
		warn  bool
	}{
		{"password from the environment", "", map[string]string{"CREDSHIELD_SCAN_PASSWORD": "pw-from-env"}, []string{"--username", "alice"}, "password:pw-from-env", false},
		{"password from a file", "", nil, []string{"--username", "alice", "--password-file", file("pw", "pw-from-file\n")}, "password:pw-from-file", false},
		{"password from stdin", "pw-from-stdin\r\n", nil, []string{"--username", "alice", "--password-file", "-"}, "password:pw-from-stdin", false},
		{"token from the environment", "", map[string]string{"CREDSHIELD_SCAN_TOKEN": jwtLike("tok-from-env")}, nil, "auth:Bearer " + jwtLike("tok-from-env"), false},
		{"token from a file", "", nil, []string{"--token-file", file("tok", jwtLike("tok-from-file")+"\n")}, "auth:Bearer " + jwtLike("tok-from-file"), false},
		{"password flag still works, with a warning", "", nil, []string{"--username", "alice", "--password", "pw-from-argv"}, "password:pw-from-argv", true},
		{"token flag still works, with a warning", "", nil, []string{"--token", jwtLike("tok-from-argv")}, "auth:Bearer " + jwtLike("tok-from-argv"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The target refuses every login and token, so the scan may
			// end early; what matters is what it sent.
			_, _, stderr := credshield(t, tt.stdin, tt.env, scanArgs(tt.args...)...)
			mu.Lock()
			ok := seen[tt.want]
			mu.Unlock()
			if !ok {
				t.Errorf("the target never saw %q; stderr %s", tt.want, stderr)
			}
			if warned := strings.Contains(stderr, "other users of this machine can read it"); warned != tt.warn {
				t.Errorf("warning %v, want %v; stderr %s", warned, tt.warn, stderr)
			}
		})
	}
	refused := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"password twice", map[string]string{"CREDSHIELD_SCAN_PASSWORD": "a"}, []string{"--username", "alice", "--password", "b"}},
		{"password file and environment", map[string]string{"CREDSHIELD_SCAN_PASSWORD": "a"}, []string{"--username", "alice", "--password-file", file("pw2", "b\n")}},
		{"both from stdin", nil, []string{"--password-file", "-", "--token-file", "-"}},
		{"empty file", nil, []string{"--username", "alice", "--password-file", file("empty", "\n")}},
		{"missing file", nil, []string{"--token-file", filepath.Join(dir, "nope")}},
	}
	for _, tt := range refused {
		if code, _, stderr := credshield(t, "", tt.env, scanArgs(tt.args...)...); code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %s", tt.name, code, stderr)
		}
	}
	_, help, _ := credshield(t, "", nil, "scan", "--help")
	for _, want := range []string{"CREDSHIELD_SCAN_PASSWORD", "CREDSHIELD_SCAN_TOKEN", "--password-file", "--token-file", "ps"} {
		if !strings.Contains(help, want) {
			t.Errorf("scan --help does not mention %s", want)
		}
	}
}

// jwtLike is a token shaped like a JWT (the scan sends only those), told
// apart by its subject.
func jwtLike(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"`+sub+`","exp":4102444800}`)) + "." + enc([]byte("signature"))
}
