package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserDelete: delete removes the account (list no longer shows it,
// its password no longer logs in) and a second delete is an error.
func TestUserDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, name := range []string{"alice", "bob"} {
		if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", name, "--data-dir", dir}, cheapHash...)...); code != 0 {
			t.Fatalf("user add %s: %s", name, stderr)
		}
	}
	if code, out, stderr := credshield(t, "", nil, "user", "delete", "ALICE", "--data-dir", dir); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("user delete: %d %s %s", code, out, stderr)
	}
	code, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", dir)
	if code != 0 || strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Fatalf("user list after delete: %d\n%s", code, out)
	}
	if code, _, stderr := credshield(t, "", nil, "user", "delete", "alice", "--data-dir", dir); code != exitError || !strings.Contains(stderr, "no user") {
		t.Fatalf("second delete: %d %s", code, stderr)
	}
	base := startServe(t, "--data-dir", dir)
	if a := login(t, base, "", "alice", "correct horse battery", ""); a.status != 400 {
		t.Fatalf("login as the deleted account: %d, want 400", a.status)
	}
}

// TestUserListDoesNotCreateStore: a command that reads accounts given a
// mistyped --data-dir reports the missing database by path and creates
// nothing (it used to create an empty database and list no accounts).
func TestUserListDoesNotCreateStore(t *testing.T) {
	for _, args := range [][]string{{"user", "list"}, {"user", "disable", "alice"}, {"user", "delete", "alice"}, {"user", "scopes", "alice", "--add", "read"}} {
		typo := filepath.Join(t.TempDir(), "typo")
		code, _, stderr := credshield(t, "", nil, append(args, "--data-dir", typo)...)
		if code == 0 || !strings.Contains(stderr, filepath.Join(typo, "credshield.db")) {
			t.Errorf("%v: exit %d, %q; want an error naming the database path", args, code, stderr)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Errorf("%v created %s", args, typo)
		}
	}
}

// TestStartupHintNamesStore: the add-user hint serve prints names the
// store serve uses, a PostgreSQL URL with its password redacted.
func TestStartupHintNamesStore(t *testing.T) {
	e := &env{dataDir: "/srv/cs", lookupEnv: func(string) (string, bool) { return "", false }}
	tests := []struct{ db, want, not string }{
		{"", "--data-dir /srv/cs", ""},
		{"sqlite:///var/lib/cs.db", "--db 'sqlite:///var/lib/cs.db'", "--data-dir"},
		{"postgres://cs:s3cret@db.internal/cs", "--db 'postgres://cs:xxxxx@db.internal/cs'", "s3cret"},
	}
	for _, tt := range tests {
		got := addUserHint(e, tt.db)
		if !strings.Contains(got, tt.want) || (tt.not != "" && strings.Contains(got, tt.not)) {
			t.Errorf("hint for %q = %q; want %q without %q", tt.db, got, tt.want, tt.not)
		}
	}
	e.lookupEnv = func(k string) (string, bool) { return "postgres://cs:s3cret@db/cs", k == "CREDSHIELD_DB" }
	if got := addUserHint(e, "postgres://cs:s3cret@db/cs"); strings.Contains(got, "s3cret") || !strings.Contains(got, "CREDSHIELD_DB") {
		t.Errorf("hint with CREDSHIELD_DB = %q", got)
	}
}
