package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKeysRotateNowSeenWithinASecond: an emergency rotation takes effect
// in a running server within a second: the next tokens are signed with
// the new key (it used to take up to ten seconds).
func TestKeysRotateNowSeenWithinASecond(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	base := startServe(t, "--data-dir", dir)
	kidOf := func() string {
		a := login(t, base, "", "alice", "correct horse battery", "")
		tok := a.str("access_token")
		if a.status != 200 || tok == "" {
			t.Fatalf("login: %d %v", a.status, a.body)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		if err != nil {
			t.Fatal(err)
		}
		var h struct{ Kid string }
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		return h.Kid
	}
	old := kidOf()
	// Key files keep times to the second, and a key rotated in the second
	// the old one started signing signs from the next one (so that it
	// wins): start in a later second, to time the reload alone.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	code, out, stderr := credshield(t, "", nil, "keys", "rotate", "--now", "--data-dir", dir)
	rotated := time.Now()
	if code != 0 {
		t.Fatalf("keys rotate --now: %d %s", code, stderr)
	}
	m := regexp.MustCompile(`new EdDSA key (\S+) signs`).FindStringSubmatch(out)
	if m == nil || m[1] == old {
		t.Fatalf("rotate printed %q", out)
	}
	for {
		kid := kidOf()
		if kid == m[1] {
			t.Logf("new key signing %v after the rotation", time.Since(rotated).Round(time.Millisecond))
			break
		}
		if time.Since(rotated) > time.Second {
			t.Fatalf("still signing with %s a second after keys rotate --now (want %s)", kid, m[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A key of another algorithm would never sign: refused, not "signs from now".
	code, out, stderr = credshield(t, "", nil, "keys", "rotate", "--now", "--signing-alg", "ES256", "--data-dir", dir)
	if code != exitUsage || strings.Contains(out, "signs from") || !strings.Contains(stderr, "sign with EdDSA") {
		t.Fatalf("rotate --signing-alg ES256 under EdDSA servers: %d %q %s", code, out, stderr)
	}
}
