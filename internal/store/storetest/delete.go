package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// testDeleteUser: deleting an account removes it with its refresh
// families (a held refresh token no longer rotates) and its pending
// screening, leaves other accounts alone, and a second delete is
// ErrNotFound.
func testDeleteUser(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice := MustCreate(t, s, "alice")
	bob := MustCreate(t, s, "bob")
	newFamily(t, s, alice.ID, "alice-tok")
	newFamily(t, s, bob.ID, "bob-tok")
	if err := s.SetPasswordScreening(ctx, alice.ID, store.Screening{Pending: true}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.UserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByName after delete: %v, want ErrNotFound", err)
	}
	now := t0.Add(time.Hour)
	if _, err := s.RotateRefreshToken(ctx, hashOf("alice-tok"), hashOf("alice-tok-2"), now, now.Add(time.Hour)); err == nil {
		t.Fatal("a deleted account's refresh token still rotates")
	}
	if _, err := s.RotateRefreshToken(ctx, hashOf("bob-tok"), hashOf("bob-tok-2"), now, now.Add(time.Hour)); err != nil {
		t.Fatalf("another account's refresh token: %v", err)
	}
	if err := s.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteUser: %v, want ErrNotFound", err)
	}
}
