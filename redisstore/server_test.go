package redisstore

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownRedis is a redis-server the test starts and stops itself, on a free
// loopback port, without persistence.
type ownRedis struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
}

// startOwnRedis starts a redis-server for t, or skips t when the binary
// is missing (fails under CI=true). It is stopped at cleanup.
func startOwnRedis(t testing.TB) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found, and CI=true")
		}
		t.Skip("redis-server not found")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &ownRedis{t: t, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start runs the server and waits until it answers.
func (r *ownRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s does not answer", r.addr)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a process, not for time
	}
}

// stop kills the server and waits for it to exit.
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// client returns a client of the server that gives up fast.
func (r *ownRedis) client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: r.addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
	})
	r.t.Cleanup(func() { c.Close() })
	return c
}
