package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecretsDirPermissionsChecked: the data directory's secrets/ (the
// HMAC keys behind device credentials, challenges and DPoP nonces) is
// refused at start when group or others may write to it or another user
// owns it, with the words keys/ (the signing keys) is refused with.
func TestSecretsDirPermissionsChecked(t *testing.T) {
	refusal := func(t *testing.T, sub string, spoil func(dir string) error) string {
		t.Helper()
		data := t.TempDir()
		dir := filepath.Join(data, sub)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := spoil(dir); err != nil {
			t.Fatal(err)
		}
		_, err := launch(t, "serve", append([]string{"--data-dir", data}, cheapHash...)...)
		if err == nil {
			t.Fatalf("serve started with %s spoiled", sub)
		}
		// The words, without the path and the prefix naming the file.
		m := regexp.MustCompile(`directory \S+/` + sub + ` (is [^;]*; use \w+)`).FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("%s: serve refused, but not for its directory: %v", sub, err)
		}
		return m[1]
	}
	writable := func(dir string) error { return os.Chmod(dir, 0o777) }
	groupWritable := func(dir string) error { return os.Chmod(dir, 0o770) }
	if got, want := refusal(t, "secrets", writable), refusal(t, "keys", writable); got != want || !strings.Contains(got, "writable by group or others") {
		t.Errorf("world-writable secrets/: %q; keys/: %q", got, want)
	}
	if got, want := refusal(t, "secrets", groupWritable), refusal(t, "keys", groupWritable); got != want {
		t.Errorf("group-writable secrets/: %q; keys/: %q", got, want)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: the other-owner case needs chown")
		return
	}
	const nobody = 65534
	foreign := func(dir string) error { return os.Chown(dir, nobody, nobody) }
	if got, want := refusal(t, "secrets", foreign), refusal(t, "keys", foreign); got != want || !strings.Contains(got, "owned by uid 65534") {
		t.Errorf("secrets/ owned by another user: %q; keys/: %q", got, want)
	}
}
