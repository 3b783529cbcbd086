package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cheap argon2id settings for tests, passed the way a user would: below
// OWASP's minimum, so they need --insecure-weak-hash.
var cheapHash = []string{"--argon2-memory", "64", "--argon2-time", "1", "--insecure-weak-hash"}

// credshield runs the command in-process and returns its exit code and
// output.
func credshield(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, lookup)
	return code, out.String(), errOut.String()
}

// startServe runs `credshield serve` in-process with args on a free
// loopback port and returns its base URL; the server stops with the test.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	return startCommand(t, "serve", args...)
}

// startCommand runs a long-running command (serve, protect) in-process
// with args on a free loopback port and returns the base URL from its
// startup line; the command stops with the test.
func startCommand(t *testing.T, command string, args ...string) string {
	t.Helper()
	base, err := launch(t, command, args...)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// launch is startCommand reporting failure as an error instead of failing
// t, so tests may start several replicas at once from goroutines. The
// error carries the command's stderr.
func launch(t *testing.T, command string, args ...string) (string, error) {
	base, _, err := launchLine(t, command, args...)
	return base, err
}

// startupLine starts a command as startCommand does and returns its
// start-up line.
func startupLine(t *testing.T, command string, args ...string) string {
	t.Helper()
	_, line, err := launchLine(t, command, args...)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// launchLine is launch returning the start-up line too.
func launchLine(t *testing.T, command string, args ...string) (string, string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errBuf bytes.Buffer
	stderr := &syncWriter{w: &errBuf}
	go func() {
		all := append([]string{command, "--listen", "127.0.0.1:0"}, args...)
		done <- run(ctx, all, strings.NewReader(""), pw, stderr, func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", command)
		}
		if t.Failed() {
			// The command's log, for whoever reads the failure: its
			// last 16 KiB (one JSON line per event).
			stderr.mu.Lock()
			log := errBuf.Bytes()
			stderr.mu.Unlock()
			if len(log) > 16<<10 {
				log = log[len(log)-16<<10:]
			}
			t.Logf("%s %s log:\n%s", command, strings.Join(args, " "), log)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		stderr.mu.Lock()
		defer stderr.mu.Unlock()
		return "", "", fmt.Errorf("%s printed no startup line: %v; stderr: %s", command, err, errBuf.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		return "", line, fmt.Errorf("no address in %q", line)
	}
	return "http://" + m[1], line, nil
}

func TestUserCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dd := []string{"--data-dir", dir}
	args := func(a ...string) []string { return append(append(a, dd...), cheapHash...) }

	if code, _, stderr := credshield(t, "correct horse battery\n", nil, args("user", "add", "Alice")...); code != 0 {
		t.Fatalf("user add: %d %s", code, stderr)
	}
	if code, _, stderr := credshield(t, "another password\n", nil, args("user", "add", "ALICE")...); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("duplicate add after normalisation: %d %s", code, stderr)
	}
	if code, _, stderr := credshield(t, "fourteen chars\n", nil, args("user", "add", "bob")...); code != 2 || !strings.Contains(stderr, "at least 15") {
		t.Errorf("short password: %d %s", code, stderr)
	}
	if code, _, _ := credshield(t, "", nil, args("user", "add")...); code != 2 {
		t.Errorf("missing NAME: exit %d, want 2", code)
	}
	code, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "$argon2id$") || !strings.Contains(out, "enabled") {
		t.Errorf("user list: %d %q", code, out)
	}
	if code, _, stderr := credshield(t, "", nil, "user", "disable", "alice", "--data-dir", dir); code != 0 {
		t.Errorf("disable: %d %s", code, stderr)
	}
	if _, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", dir); !strings.Contains(out, "disabled") {
		t.Errorf("list after disable: %q", out)
	}
	if code, _, stderr := credshield(t, "", nil, "user", "disable", "nobody", "--data-dir", dir); code != 1 || !strings.Contains(stderr, "no user") {
		t.Errorf("disable unknown: %d %s", code, stderr)
	}
	if code, _, stderr := credshield(t, "a new password for alice\r\n", nil, args("user", "reset", "alice")...); code != 0 {
		t.Errorf("reset: %d %s", code, stderr)
	}
	// The environment stands in for flags.
	env := map[string]string{"CREDSHIELD_DATA_DIR": dir}
	if code, out, _ := credshield(t, "", env, "user", "list"); code != 0 || !strings.Contains(out, "alice") {
		t.Errorf("CREDSHIELD_DATA_DIR ignored: %d %q", code, out)
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v %v", info.Mode().Perm(), err)
	}
}

func TestUserImport(t *testing.T) {
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("imported password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := filepath.Join(dir, "data")

	bad := write("bad.csv", "username,hash\nzoe,"+string(h)+"\nZOE,"+string(h)+"\nyan,$argon2id$v=19$m=65536,t=3,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n")
	code, _, stderr := credshield(t, "", nil, "user", "import", bad, "--data-dir", data)
	if code != 1 || !strings.Contains(stderr, "line 3") || !strings.Contains(stderr, "collides with line 2") || !strings.Contains(stderr, "line 4") {
		t.Errorf("bad import: %d %s", code, stderr)
	}
	if _, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", data); strings.Contains(out, "zoe") {
		t.Errorf("half imported: %q", out)
	}

	good := write("users.jsonl", `{"username":"Zoe","hash":"`+string(h)+`"}`+"\n"+`{"username":"yan","hash":"$2y$`+string(h)[4:]+`"}`+"\n")
	if code, out, stderr := credshield(t, "", nil, "user", "import", good, "--data-dir", data); code != 0 || !strings.Contains(out, "imported 2 users") {
		t.Fatalf("import: %d %q %s", code, out, stderr)
	}
	if _, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", data); !strings.Contains(out, "zoe") || !strings.Contains(out, "$2a$04$") {
		t.Errorf("list after import: %q", out)
	}
	// Importing again conflicts with existing accounts: nothing written.
	if code, _, stderr := credshield(t, "", nil, "user", "import", good, "--data-dir", data); code != 1 || !strings.Contains(stderr, "nothing imported") {
		t.Errorf("re-import: %d %s", code, stderr)
	}
}

func TestServeEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--allowed-scopes", "read", "--password-min-length", "20"}, cheapHash...)
		done <- run(ctx, args, strings.NewReader(""), pw, &syncWriter{w: &stderr}, func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v; stderr %s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	if !strings.Contains(line, "credshield user add NAME") {
		t.Errorf("startup line does not say how to add a user: %q", line)
	}
	addr := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if addr == nil {
		t.Fatalf("no address in %q", line)
	}
	base := "http://" + addr[1]

	// The FastAPI example's client: form POST, then Bearer GET.
	res, err := http.PostForm(base+"/token", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	err = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token: %d %+v %v", res.StatusCode, tok, err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	me, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(me.Body)
	me.Body.Close()
	if me.StatusCode != 200 || !strings.Contains(string(body), `"username":"alice"`) {
		t.Fatalf("/users/me: %d %s", me.StatusCode, body)
	}

	// --allowed-scopes reaches the token endpoint: read is granted, admin
	// is not.
	for scope, want := range map[string]int{"read": 200, "read admin": 400} {
		res, err := http.PostForm(base+"/token", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "scope": {scope}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("scope %q: %d, want %d", scope, res.StatusCode, want)
		}
	}

	checkPasswordChange(t, base, tok.AccessToken, "correct horse battery")

	keyFiles, _ := filepath.Glob(filepath.Join(dir, "keys", "*.pem"))
	if len(keyFiles) != 1 {
		t.Fatalf("key files %v", keyFiles)
	}
	if info, err := os.Stat(keyFiles[0]); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", info.Mode().Perm())
	}
	if code, out, _ := credshield(t, "", nil, "keys", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "EdDSA") || !strings.Contains(out, "active") {
		t.Errorf("keys list: %d %q", code, out)
	}

	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d; stderr %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if strings.Contains(stderr.String(), "correct horse battery") || strings.Contains(stderr.String(), "new password for alice") {
		t.Error("the log contains a password")
	}
}

func TestServeConfigErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--issuer", "http://example.com"}, "http is allowed only on loopback"},
		{[]string{"--issuer", "https://example.com/?x=1"}, "query"},
		{[]string{"--listen", "0.0.0.0:8080"}, "--issuer is required"},
		{[]string{"--signing-alg", "HS256"}, "--signing-alg"},
		{[]string{"--leeway", "5m"}, "--leeway"},
		{[]string{"--cors-origins", "*"}, "not allowed"},
		{[]string{"--password-min-length", "7"}, "--password-min-length: password minimum length 7 out of range 8..64"},
		{[]string{"--bogus"}, "unknown flag"},
	}
	for _, tt := range tests {
		code, _, stderr := credshield(t, "", nil, append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	code, _, stderr := credshield(t, "", map[string]string{"CREDSHIELD_SIGNING_ALG": "none"}, "serve", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "--signing-alg") {
		t.Errorf("CREDSHIELD_SIGNING_ALG=none: %d %s", code, stderr)
	}
}

// syncWriter serialises writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
