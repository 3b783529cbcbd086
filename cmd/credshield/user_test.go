package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/sqlite"
)

// TestUserCommandsRevokeSessions: `user reset` and `user disable` revoke
// the user's refresh-token families.
func TestUserCommandsRevokeSessions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	args := func(a ...string) []string { return append(append(a, "--data-dir", dir), cheapHash...) }
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, args("user", "add", "alice")...); code != 0 {
		t.Fatalf("user add: %d %s", code, stderr)
	}
	ctx := context.Background()
	startFamily := func(tokenHash string) {
		t.Helper()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "credshield.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := st.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: u.ID, AccountEpoch: u.DeviceEpoch, CreatedAt: now, AbsoluteExpiresAt: now.Add(time.Hour)}, tokenHash, now.Add(time.Hour), 0); err != nil {
			t.Fatal(err)
		}
	}
	redeem := func(tokenHash string) error {
		t.Helper()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "credshield.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.RotateRefreshToken(ctx, tokenHash, strings.Repeat("f", 64), time.Now(), time.Now().Add(time.Hour))
		return err
	}
	for _, tt := range []struct {
		name  string
		stdin string
		cmd   []string
	}{
		{"reset", "a new password for alice\n", args("user", "reset", "alice")},
		{"disable", "", []string{"user", "disable", "alice", "--data-dir", dir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := strings.Repeat(tt.name[:1], 64)
			startFamily(h)
			code, out, stderr := credshield(t, tt.stdin, nil, tt.cmd...)
			if code != 0 || !strings.Contains(out, "1 refresh-token families revoked") {
				t.Fatalf("%s: %d %q %s", tt.name, code, out, stderr)
			}
			if err := redeem(h); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("refresh after %s: %v, want ErrRevoked", tt.name, err)
			}
		})
	}
}

// TestUserScopesCommand: `user scopes` shows, grants and withdraws one
// account's scopes, refuses scopes RFC 6749 does not allow, and raises the
// account epoch when something changed.
func TestUserScopesCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dd := []string{"--data-dir", dir}
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append(append([]string{"user", "add", "bob"}, dd...), cheapHash...)...); code != 0 {
		t.Fatalf("user add: %d %s", code, stderr)
	}
	epoch := func() uint32 {
		t.Helper()
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "credshield.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.UserByName(context.Background(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		return u.DeviceEpoch
	}
	tests := []struct {
		name  string
		args  []string
		code  int
		out   string // substring of stdout (code 0) or stderr
		epoch uint32
	}{
		{"show none", nil, 0, "bob: (none)", 0},
		{"add two", []string{"--add", "read,billing:write"}, 0, "bob: read billing:write", 1},
		{"add again changes nothing", []string{"--add", "read"}, 0, "bob: read billing:write", 1},
		{"add and remove", []string{"--add", "admin", "--remove", "billing:write"}, 0, "bob: read admin", 2},
		{"invalid scope", []string{"--add", `a\b`}, 2, "RFC 6749", 2},
		{"unknown user", []string{"--add", "read"}, 1, "no user", 2},
		{"show", nil, 0, "bob: read admin", 2},
	}
	for _, tt := range tests {
		name := "bob"
		if tt.name == "unknown user" {
			name = "nobody"
		}
		code, out, stderr := credshield(t, "", nil, append(append([]string{"user", "scopes", name}, tt.args...), dd...)...)
		if code != tt.code || !strings.Contains(out+stderr, tt.out) {
			t.Errorf("%s: %d %q %q, want %d and %q", tt.name, code, out, stderr, tt.code, tt.out)
		}
		if got := epoch(); got != tt.epoch {
			t.Errorf("%s: account epoch %d, want %d", tt.name, got, tt.epoch)
		}
	}
	if _, out, _ := credshield(t, "", nil, "user", "list", "--data-dir", dir); !strings.Contains(out, "read admin") {
		t.Errorf("user list lacks the scopes: %q", out)
	}
}
