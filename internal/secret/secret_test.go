package secret

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	k1, err := LoadOrCreate(dir, "device.key", rand.Reader)
	if err != nil || len(k1) != Size {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	info, err := os.Stat(filepath.Join(dir, "device.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info.Mode().Perm(), err)
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", d.Mode().Perm())
	}
	k2, err := LoadOrCreate(dir, "device.key", rand.Reader)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
	other, err := LoadOrCreate(dir, "challenge.key", rand.Reader)
	if err != nil || bytes.Equal(other, k1) {
		t.Fatalf("second key: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("leftover temporary files: %v", entries)
	}

	if err := os.Chmod(filepath.Join(dir, "device.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, "device.key", rand.Reader); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, "short.key", rand.Reader); err == nil {
		t.Error("short key accepted")
	}
}
