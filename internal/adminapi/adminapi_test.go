package adminapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	if _, err := LoadToken(file, "", false, false); err == nil {
		t.Fatal("a missing token without create: no error")
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("LoadToken without create made the file")
	}
	tok, err := LoadToken(file, "", false, true)
	if err != nil || len(tok) < minTokenLen {
		t.Fatalf("create: %q, %v", tok, err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v, %v", st, err)
	}
	again, err := LoadToken(file, "", false, true)
	if err != nil || string(again) != string(tok) {
		t.Fatalf("second start: %q, %v; want the same token", again, err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadToken(file, "", false, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a token file others can read: %v", err)
	}
	env := strings.Repeat("e", 40)
	if got, err := LoadToken(file, env, true, false); err != nil || string(got) != env {
		t.Fatalf("environment: %q, %v", got, err)
	}
	if _, err := LoadToken(file, "short", true, false); err == nil {
		t.Fatal("a short token from the environment was accepted")
	}
}
