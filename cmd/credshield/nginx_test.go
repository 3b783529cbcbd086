package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNginxAuthRequestExample runs the README's nginx auth_request block,
// extracted from the README so the two cannot drift, in real nginx in
// front of a real credshield serve and an app, on loopback. The example
// added WWW-Authenticate in its 401 location although auth_request copies
// it already: every 401 carried the challenge twice.
func TestNginxAuthRequestExample(t *testing.T) {
	bin := nginxBinary(t)
	block := readmeNginxBlock(t)

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s (%s)", r.Header.Get("X-Auth-Username"), r.Header.Get("X-Auth-Subject"))
	}))
	defer app.Close()
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	base := startServe(t, append([]string{"--data-dir", dir, "--trusted-proxies", "127.0.0.1/32"}, cheapHash...)...)

	// The README's addresses: the app on 8000, credshield on 8080.
	for from, to := range map[string]string{"127.0.0.1:8000": strings.TrimPrefix(app.URL, "http://"), "127.0.0.1:8080": strings.TrimPrefix(base, "http://")} {
		if !strings.Contains(block, from) {
			t.Fatalf("the README's nginx example no longer names %s; update this test:\n%s", from, block)
		}
		block = strings.ReplaceAll(block, from, to)
	}
	front := startNginx(t, bin, block)

	// No token: one challenge per scheme, as /verify sends them.
	res, err := http.Get(front + "/api/hello")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", res.StatusCode)
	}
	challenges := res.Header.Values("WWW-Authenticate")
	perScheme := map[string]int{}
	for _, c := range challenges {
		for _, part := range strings.Split(c, ",") {
			if f := strings.Fields(part); len(f) > 0 && !strings.Contains(f[0], "=") {
				perScheme[f[0]]++
			}
		}
	}
	if perScheme["Bearer"] != 1 {
		t.Errorf("no token: WWW-Authenticate %q: want the Bearer challenge exactly once", challenges)
	}
	for scheme, n := range perScheme {
		if n > 1 {
			t.Errorf("no token: the %s challenge %d times in %q", scheme, n, challenges)
		}
	}

	// A good token: 200, and the app gets the identity.
	tok := passwordToken(t, base, "alice", "correct horse battery")
	req, _ := http.NewRequest(http.MethodGet, front+"/api/hello", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != http.StatusOK || !strings.HasPrefix(body, "hello alice (") {
		t.Errorf("good token: %d %q, want 200 from the app for alice", res.StatusCode, body)
	}
}

// nginxBinary finds nginx, skipping outside CI when it is absent; .ci/run
// installs it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (CI=true): .ci/run installs nginx-light")
	}
	t.Skip("nginx not installed (Debian: nginx-light); .ci/run installs it")
	return ""
}

// readmeNginxBlock returns the nginx block of the README's "Protecting any
// API with nginx" section.
func readmeNginxBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Protecting any API with nginx")
	if !ok {
		t.Fatal("README has no section \"Protecting any API with nginx\"")
	}
	_, block, ok := strings.Cut(section, "```nginx\n")
	if ok {
		block, _, ok = strings.Cut(block, "\n```")
	}
	if !ok {
		t.Fatal("the README's nginx section has no ```nginx block")
	}
	return block
}

// startNginx runs nginx in the foreground with locations inside one
// loopback server, its files in a temporary directory, and returns its
// base URL; nginx stops with the test.
func startNginx(t *testing.T, bin, locations string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`daemon off;
master_process off;
error_log %[1]s/error.log;
pid %[1]s/nginx.pid;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
%[3]s
    }
}
`, dir, addr, locations)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	t.Fatalf("nginx does not answer on %s:\n%s", addr, log)
	return ""
}

// passwordToken returns an access token for username from serve at base.
func passwordToken(t *testing.T, base, username, password string) string {
	t.Helper()
	res, err := http.PostForm(base+"/token", url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
