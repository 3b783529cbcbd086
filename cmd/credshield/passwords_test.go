package main

import (
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestPasswordRulesWhereSet: user add and user reset refuse a short, a
// common and an imported-breached password, each with a message naming
// the rule and never the password; --password-min-length lowers the
// minimum but not below 8; a breached filter is recorded in the database
// and a replica whose copy differs is warned.
func TestPasswordRulesWhereSet(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	args := func(a ...string) []string { return append(append(a, "--data-dir", data), cheapHash...) }
	const leaked = "a leaked but long passphrase"
	sum := sha1.Sum([]byte(leaked))
	corpus := filepath.Join(dir, "pwned.txt")
	body := strings.ToUpper(hex.EncodeToString(sum[:])) + ":12\n" + strings.Repeat("0", 40) + ":1\n"
	if err := os.WriteFile(corpus, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := credshield(t, "", nil, "passwords", "import", corpus, "--shards", "4", "--min-count", "2", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "1 entries") || !strings.Contains(out, "1 in 65536") || !strings.Contains(stderr, "building: shard 4 of 4") {
		t.Fatalf("passwords import: %d %q %s", code, out, stderr)
	}
	if code, _, stderr := credshield(t, "", nil, "passwords", "import", "--data-dir", data); code != 2 {
		t.Errorf("import without files: %d %s", code, stderr)
	}

	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"short", "fourteen chars\n", args("user", "add", "bob"), 2, "it has 14 characters; at least 15 are required"},
		{"common", "1234567890987654321\n", args("user", "add", "bob"), 2, "commonly used passwords"},
		{"common, lowered minimum", "iloveyou\n", args("user", "add", "bob", "--password-min-length", "8"), 2, "commonly used passwords"},
		{"breached", leaked + "\n", args("user", "add", "bob"), 2, "exposed in data breaches"},
		{"minimum below 8", "what a fine long password\n", args("user", "add", "bob", "--password-min-length", "7"), 2, "out of range 8..64"},
		{"lowered minimum", "8 chars!\n", args("user", "add", "carol", "--password-min-length", "8"), 0, "added user"},
		{"long enough", "what a fine long password\n", args("user", "add", "bob"), 0, "added user"},
		{"reset to breached", leaked + "\n", args("user", "reset", "bob"), 2, "exposed in data breaches"},
		{"reset to common", "1234567890987654321\n", args("user", "reset", "bob"), 2, "commonly used passwords"},
		{"reset", "another fine long password\n", args("user", "reset", "bob"), 0, "reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := credshield(t, tt.stdin, nil, tt.args...)
			if code != tt.code || !strings.Contains(out+stderr, tt.msg) {
				t.Fatalf("exit %d, %q %q; want %d and %q", code, out, stderr, tt.code, tt.msg)
			}
			if pw := strings.TrimSpace(tt.stdin); strings.Contains(out+stderr, pw) {
				t.Errorf("output echoes the password: %q %q", out, stderr)
			}
		})
	}

	// Imported accounts are listed as unscreened until they log in.
	h, err := bcrypt.GenerateFromPassword([]byte("imported password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(users, []byte("zoe,"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := credshield(t, "", nil, "user", "import", users, "--data-dir", data); code != 0 || !strings.Contains(out, "screened") {
		t.Fatalf("import: %d %q %s", code, out, stderr)
	}
	if _, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", data); !strings.Contains(out, "enabled,unscreened") {
		t.Errorf("list after import: %q", out)
	}

	// A replica whose filter differs from the one recorded is warned.
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte(strings.Repeat("1", 40)+":5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data2 := filepath.Join(dir, "data2")
	if code, _, stderr := credshield(t, "", nil, "passwords", "import", other, "--shards", "1", "--data-dir", data2, "--db", "sqlite://"+filepath.Join(data, "credshield.db")); code != 0 {
		t.Fatalf("second import: %d %s", code, stderr)
	}
	if code, _, stderr := credshield(t, "yet another long password\n", nil, args("user", "reset", "bob")...); code != 0 || !strings.Contains(stderr, "differs from the one imported last") {
		t.Errorf("reset on a replica with an older filter: %d %s", code, stderr)
	}
}
