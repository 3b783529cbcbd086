package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// testChangePassword: an account holder's password change stores the new
// hash, raises the epoch, revokes every refresh-token family of the
// account (no other's) and clears its screening state, all at once; a
// hash or epoch that changed since the request read them changes
// nothing (store.ErrStale); an unknown account is store.ErrNotFound.
func testChangePassword(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice, bob := MustCreate(t, s, "alice"), MustCreate(t, s, "bob")
	newFamily(t, s, alice.ID, "a1")
	newFamily(t, s, alice.ID, "a2")
	newFamily(t, s, bob.ID, "b1")
	if err := s.SetPasswordScreening(ctx, alice.ID, store.Screening{ChangeRequired: true}, t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)

	stale := []struct {
		name    string
		epoch   uint32
		oldHash string
		id      string
		want    error
	}{
		{"older epoch", alice.DeviceEpoch + 1, alice.PasswordHash, alice.ID, store.ErrStale},
		{"other hash", alice.DeviceEpoch, bob.PasswordHash, alice.ID, store.ErrStale},
		{"unknown account", 0, alice.PasswordHash, "no-such-id", store.ErrNotFound},
	}
	for _, tt := range stale {
		if _, err := s.ChangePassword(ctx, tt.id, tt.epoch, tt.oldHash, "$new", "c", at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.PasswordHash != alice.PasswordHash || u.DeviceEpoch != alice.DeviceEpoch {
		t.Fatalf("a refused change changed the account: %+v", u)
	}

	u, err := s.ChangePassword(ctx, alice.ID, alice.DeviceEpoch, alice.PasswordHash, "$new", "c", at)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "$new" || u.HashClass != "c" || u.DeviceEpoch != alice.DeviceEpoch+1 || !u.UpdatedAt.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("changed account %+v", u)
	}
	if got, err := s.UserByID(ctx, alice.ID); err != nil || got != u {
		t.Errorf("read after change %+v, %v; want %+v", got, err, u)
	}
	if sc, err := s.PasswordScreening(ctx, alice.ID); err != nil || sc != (store.Screening{}) {
		t.Errorf("screening after change %+v, %v; want cleared", sc, err)
	}
	for _, tt := range []struct {
		tok  string
		want error
	}{{"a1", store.ErrRevoked}, {"a2", store.ErrRevoked}, {"b1", nil}} {
		if _, err := s.RotateRefreshToken(ctx, hashOf(tt.tok), hashOf(tt.tok+"'"), at, at.Add(time.Hour)); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s after the change: %v, want %v", tt.tok, err, tt.want)
		}
	}
	// The same request replayed finds the epoch it read gone.
	if _, err := s.ChangePassword(ctx, alice.ID, alice.DeviceEpoch, "$new", "$newer", "c", at); !errors.Is(err, store.ErrStale) {
		t.Errorf("change under the old epoch: %v, want ErrStale", err)
	}
}
