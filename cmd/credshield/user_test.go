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
		if _, err := st.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: u.ID, CreatedAt: now, AbsoluteExpiresAt: now.Add(time.Hour)}, tokenHash, now.Add(time.Hour), 0); err != nil {
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
		{"reset", "a new password\n", args("user", "reset", "alice")},
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
