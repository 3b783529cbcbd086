// Package redistest runs redis-server processes that a test owns, on a
// free loopback port and without persistence, so the test can kill Redis
// (as a crash would) and start it again on the same port. The machine's
// shared Redis (CREDSHIELD_TEST_REDIS) is for everything else.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server owned by a test. Its methods are safe for
// concurrent use (a test may stop it from the goroutine of a burst).
type Server struct {
	t    testing.TB
	addr string
	mu   sync.Mutex
	cmd  *exec.Cmd // nil while stopped
}

// Start starts a redis-server for t and returns it; it is killed at t's
// cleanup. Without the redis-server binary t is skipped, or fails under
// CI=true, where a fault test must never be skipped silently.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found, and CI=true: the tests that stop their own Redis must run")
		}
		t.Skip("redis-server not found: skipping a test that stops and restarts its own Redis")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, addr: ln.Addr().String()}
	ln.Close()
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port on loopback.
func (s *Server) Addr() string { return s.addr }

// URL is the server as a redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.addr + "/0" }

// Restart starts the server on its port (again) and waits until it
// answers.
func (s *Server) Restart() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s does not answer", s.addr)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a process to listen, not for time
	}
}

// Stop kills the server, as a crash would, and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
