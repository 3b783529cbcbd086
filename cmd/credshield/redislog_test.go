package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRedisLogAdapter: a go-redis line becomes one JSON warning of the
// logger it was handed, without go-redis' "redis: " prefix.
func TestRedisLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	r := &redisLog{}
	r.use(slog.New(slog.NewJSONHandler(&buf, nil)))
	r.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 1, "refused")
	var line struct{ Level, Msg, Detail string }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if line.Level != "WARN" || line.Msg != "redis client" || line.Detail != "connection pool: failed to dial after 1 attempts: refused" {
		t.Errorf("got %+v", line)
	}
}

// TestMainProcess runs main in a child process of the test binary; see
// TestRedisPoolLinesGoThroughSlog. It does nothing in a normal run.
func TestMainProcess(t *testing.T) {
	args := os.Getenv("CREDSHIELD_TEST_MAIN_ARGS")
	if args == "" {
		t.Skip("runs only as a child process")
	}
	os.Args = append([]string{"credshield"}, strings.Split(args, "\n")...)
	main()
}

// TestRedisPoolLinesGoThroughSlog: go-redis logs through a process-wide
// logger that only main sets. Without it, an unreachable --guard-store
// printed "redis: 2026/... pool.go:770: redis: connection pool: failed to
// dial ..." as bare text among the JSON lines.
func TestRedisPoolLinesGoThroughSlog(t *testing.T) {
	args := []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--guard-store", "redis://127.0.0.1:1/0"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainProcess$")
	cmd.Env = append(os.Environ(), "CREDSHIELD_TEST_MAIN_ARGS="+strings.Join(args, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM) }()
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var sawDial bool
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		text := sc.Text()
		var line struct{ Level, Msg, Detail string }
		if err := json.Unmarshal([]byte(text), &line); err != nil {
			t.Errorf("stderr line is not JSON: %q", text)
			continue
		}
		if strings.Contains(line.Detail, "failed to dial") {
			sawDial = true
			if line.Level != "WARN" {
				t.Errorf("go-redis line at %s, want WARN: %q", line.Level, text)
			}
		}
		if line.Msg == "serving" {
			break
		}
	}
	if !sawDial {
		t.Error("no go-redis dial failure logged through slog before serving")
	}
}
