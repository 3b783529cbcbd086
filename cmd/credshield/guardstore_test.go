package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/credshield/credshield/internal/config"
)

// TestGuardStateClosesRedisOnError: when newGuardState fails after it has
// connected to Redis, the client is closed, not leaked with the
// connection its start-up Ping opened. The Redis server is the test's
// own, so every client it counts is either the probe or a leak.
func TestGuardStateClosesRedisOnError(t *testing.T) {
	srv := startTestRedis(t)
	cfg := config.DefaultDefence()
	cfg.GuardStore = srv.URL()
	cfg.RedisPrefix = randomPrefix(t)
	cfg.Replicas = -1 // refused after the client connected (redisstore.NewFailover)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if gs, err := newGuardState(t.Context(), cfg, log, func(bool) {}); err == nil {
		_ = gs.close()
		t.Fatal("newGuardState accepted -1 replicas")
	}

	probe := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer probe.Close()
	clients := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, err := probe.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if clients = strings.Count(strings.TrimSpace(list), "\n") + 1; clients == 1 {
			return // the probe alone
		}
	}
	t.Fatalf("%d clients connected to Redis after newGuardState failed, want only the probe: the failed start leaked its client", clients)
}

// TestStartUpUsesCommandContext: loading a shared secret at start runs
// under the command's context, so a start interrupted by SIGINT or
// SIGTERM stops waiting for the store instead of holding on for
// secretTimeout.
func TestStartUpUsesCommandContext(t *testing.T) {
	sec := sealedSecrets(t, t.TempDir(), testKEKFile(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sec.load(ctx, "device.key"); !errors.Is(err, context.Canceled) {
		t.Errorf("load under an ended context: %v, want context.Canceled", err)
	}
	if _, err := sec.load(t.Context(), "device.key"); err != nil {
		t.Errorf("load: %v", err)
	}
}
