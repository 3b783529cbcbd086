package simulate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/password"
)

// Defences the simulator knows how to configure.
const (
	DefenceUsernameLimit = "username-limit"
	DefenceDefault       = "default"
	// DefenceTarget labels results against an already running --target.
	DefenceTarget = "target"
)

// huge is a budget no simulation spends: ParseLimit allows bursts up to
// 1<<30.
const huge = "1073741824/1h"

// defenceArgs are the serve flags of a defence. username-limit reduces
// the guard to what a typical app does on its own, a per-username limit
// of 5 failures per 300 s: every other budget is out of reach, the
// detector never fires, and no network becomes known. default changes
// nothing.
func defenceArgs(defence string) ([]string, error) {
	switch defence {
	case DefenceDefault:
		return nil, nil
	case DefenceUsernameLimit:
		return []string{
			"--guard-user-limit", "5/5m", "--guard-user-hard-limit", "5/5m",
			"--guard-ip-limit", huge, "--guard-ip-soft-limit", huge, "--guard-subnet-limit", huge,
			"--guard-subnet48-limit", huge, "--guard-user-ip-limit", huge,
			"--guard-device-limit", "5/5m", "--guard-network-limit", "5/5m", "--known-network-ttl", "0s",
			"--attack-min-failures", "1073741824",
		}, nil
	}
	return nil, fmt.Errorf("defence %q: want username-limit or default", defence)
}

// server is a `credshield serve` child process on loopback.
type server struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *tailBuffer
	done   chan struct{}
}

// startServer imports usersFile into a fresh data dir under dir and starts
// bin serve on 127.0.0.1:0, trusting loopback as the proxy that sets
// X-Forwarded-For.
func startServer(ctx context.Context, bin, dir, usersFile string, params password.Params, weakHash bool, defence string, extra []string) (*server, error) {
	dargs, err := defenceArgs(defence)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data-"+defence)
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, fmt.Errorf("fresh data dir: %w", err)
	}
	argon := []string{
		"--argon2-memory", strconv.FormatUint(uint64(params.MemoryKiB), 10),
		"--argon2-time", strconv.FormatUint(uint64(params.Time), 10),
		"--argon2-threads", strconv.FormatUint(uint64(params.Threads), 10),
	}
	if weakHash {
		argon = append(argon, "--insecure-weak-hash")
	}
	imp := exec.CommandContext(ctx, bin, append([]string{"user", "import", usersFile, "--data-dir", dataDir}, argon...)...)
	imp.Env = cleanEnv()
	if out, err := imp.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s user import: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	args := []string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "error",
		"--trusted-proxies", "127.0.0.1/32", "--client-ip-header", "X-Forwarded-For"}
	args = append(append(append(args, argon...), dargs...), extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	dieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{cmd: cmd, stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() { // drain, so the child never blocks on stdout
		}
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			s.stop()
			return nil, fmt.Errorf("server exited before serving: %s", s.stderr.String())
		}
		if s.base, err = parseServing(line); err != nil {
			s.stop()
			return nil, err
		}
		return s, nil
	case <-timer.C:
		s.stop()
		return nil, errors.New("server did not start within 60s: " + s.stderr.String())
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("start server: %w", ctx.Err())
	}
}

// cleanEnv is the environment without CREDSHIELD_* variables, which would
// silently change the server's configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CREDSHIELD_") {
			env = append(env, kv)
		}
	}
	return env
}

// parseServing reads the base URL from serve's first stdout line:
// "credshield is serving http://127.0.0.1:PORT on 127.0.0.1:PORT — ...".
func parseServing(line string) (string, error) {
	_, rest, ok := strings.Cut(line, "serving ")
	if !ok {
		return "", fmt.Errorf("unexpected server output %q", line)
	}
	raw, _, _ := strings.Cut(rest, " ")
	base, err := checkLoopbackURL(raw)
	if err != nil {
		return "", fmt.Errorf("server output %q: %w", line, err)
	}
	return base, nil
}

// checkLoopbackURL accepts an http(s) URL on a loopback host and returns
// it without a trailing slash. The simulator attacks nothing else.
func checkLoopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if !config.IsLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("%q is not on loopback: the simulator only attacks this machine", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// stop ends the server with SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// cpu is the server's user+system CPU time so far, from /proc/PID/stat
// (Linux; USER_HZ is 100 on every Linux ABI the project targets).
func (s *server) cpu() (time.Duration, error) {
	return processCPU(s.cmd.Process.Pid)
}

func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("server cpu: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the command name: state is field 3, utime 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("server cpu: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("server cpu: malformed /proc stat")
	}
	const userHZ = 100
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
