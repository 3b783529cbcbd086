package main

import (
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/token"
)

func TestKeysRotateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := token.LoadOrCreate(t.Context(), token.Dir(filepath.Join(dir, "keys")), token.EdDSA, rand.Reader, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := credshield(t, "", nil, "keys", "rotate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "new EdDSA key") || !strings.Contains(stderr, `"msg":"key.rotate"`) {
		t.Fatalf("keys rotate: %d %q %s", code, out, stderr)
	}
	_, list, _ := credshield(t, "", nil, "keys", "list", "--data-dir", dir)
	if !strings.Contains(list, "staged") || !strings.Contains(list, "active") {
		t.Errorf("after rotate, keys list:\n%s", list)
	}
	code, out, _ = credshield(t, "", nil, "keys", "rotate", "--now", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("keys rotate --now: %d %s", code, out)
	}
	kid := strings.Fields(out)[3]
	_, list, _ = credshield(t, "", nil, "keys", "list", "--data-dir", dir)
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, kid) && !strings.HasSuffix(strings.TrimSpace(line), "active") {
			t.Errorf("--now key not active: %q", line)
		}
	}
	if code, _, _ := credshield(t, "", nil, "keys", "rotate", "--signing-alg", "HS256", "--data-dir", dir); code == 0 {
		t.Error("rotate to HS256 succeeded")
	}
}

// TestMaintainKeys steps serve's key maintenance through time: a running
// server's key set picks up a staged key, switches after the lead, and
// retires the old key after the access-token lifetime, with automatic
// rotation on.
func TestMaintainKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ks, err := token.LoadOrCreate(t.Context(), token.Dir(dir), token.EdDSA, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	k0 := ks.ActiveAt(t0)
	cfg := config.Default()
	cfg.KeyRotationInterval = 24 * time.Hour
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	step := func(now time.Time) {
		t.Helper()
		if err := maintainKeys(t.Context(), ks, token.Dir(dir), cfg, now, log); err != nil {
			t.Fatal(err)
		}
	}
	step(t0.Add(time.Hour))
	if n := len(ks.Keys()); n != 1 {
		t.Fatalf("rotated before the interval: %d keys", n)
	}
	day := t0.Add(24 * time.Hour)
	step(day)
	if n := len(ks.Keys()); n != 2 || ks.ActiveAt(day).ID != k0.ID {
		t.Fatalf("after a day: %d keys, active %s; want a staged second key", n, ks.ActiveAt(day).ID)
	}
	step(day.Add(time.Minute)) // no second staging while one is pending
	if n := len(ks.Keys()); n != 2 {
		t.Fatalf("staged twice: %d keys", n)
	}
	switched := day.Add(cfg.KeyPublishLead)
	step(switched)
	k1 := ks.ActiveAt(switched)
	if k1.ID == k0.ID {
		t.Fatal("no switch after the publish lead")
	}
	step(switched.Add(retireAfter(cfg)))
	if _, _, ok := ks.PublicKey(k0.ID); ok {
		t.Error("old key still published after every token it signed expired")
	}
	if _, _, ok := ks.PublicKey(k1.ID); !ok {
		t.Error("active key retired")
	}

	// A key staged by `credshield keys rotate` in another process is
	// published by the next reload.
	other, _, err := token.Rotate(t.Context(), token.Dir(dir), token.EdDSA, rand.Reader, switched.Add(time.Hour), switched.Add(time.Hour+cfg.KeyPublishLead), retireAfter(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	step(switched.Add(time.Hour))
	if _, _, ok := ks.PublicKey(other.ID); !ok {
		t.Error("key staged on disk not published after reload")
	}
}
