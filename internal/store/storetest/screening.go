package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// testPasswordScreening: created accounts are screened, imported ones
// marked Unscreened are pending, in the same all-or-nothing batch; states
// are stored, replaced and cleared per account.
func testPasswordScreening(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice := MustCreate(t, s, "alice")
	if sc, err := s.PasswordScreening(ctx, alice.ID); err != nil || sc != (store.Screening{}) {
		t.Fatalf("new account: %+v, %v; want the zero state", sc, err)
	}
	imported := NewUser("bob")
	imported.Unscreened = true
	plain := NewUser("carol")
	if err := s.CreateUsers(ctx, []store.NewUser{imported, plain}, t0); err != nil {
		t.Fatal(err)
	}
	// A failed batch stores no mark either.
	dave := NewUser("dave")
	dave.Unscreened = true
	if err := s.CreateUsers(ctx, []store.NewUser{dave, NewUser("alice")}, t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting batch: %v", err)
	}
	for name, want := range map[string]store.Screening{"bob": {Pending: true}, "carol": {}} {
		u, err := s.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if sc, err := s.PasswordScreening(ctx, u.ID); err != nil || sc != want {
			t.Errorf("%s: %+v, %v; want %+v", name, sc, err, want)
		}
	}
	if _, err := s.UserByName(ctx, "dave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dave after a failed batch: %v", err)
	}
	bob, _ := s.UserByName(ctx, "bob")
	for _, sc := range []store.Screening{{ChangeRequired: true}, {Pending: true, ChangeRequired: true}, {}, {}} {
		if err := s.SetPasswordScreening(ctx, bob.ID, sc, t0.Add(time.Minute)); err != nil {
			t.Fatalf("set %+v: %v", sc, err)
		}
		if got, err := s.PasswordScreening(ctx, bob.ID); err != nil || got != sc {
			t.Fatalf("after set %+v: %+v, %v", sc, got, err)
		}
	}
	if sc, err := s.PasswordScreening(ctx, "no-such-id"); err != nil || sc != (store.Screening{}) {
		t.Errorf("unknown id: %+v, %v; want the zero state", sc, err)
	}
}

func testBreachFilter(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.BreachFilter(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before any import: %v; want ErrNotFound", err)
	}
	if err := s.SetBreachFilter(ctx, store.BreachFilter{}); err == nil {
		t.Fatal("empty digest stored")
	}
	for _, f := range []store.BreachFilter{
		{Digest: "aa", Entries: 1 << 33, MinCount: 1, ImportedAt: t0.Truncate(time.Millisecond)},
		{Digest: "bb", Entries: 7, MinCount: 10, ImportedAt: t0.Add(time.Hour).Truncate(time.Millisecond)},
	} {
		if err := s.SetBreachFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
		if got, err := s.BreachFilter(ctx); err != nil || got != f {
			t.Fatalf("BreachFilter = %+v, %v; want %+v", got, err, f)
		}
	}
}
