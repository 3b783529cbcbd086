package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// testRefreshFamilyEpoch: a family is stored with the account epoch its
// login read, and only while that epoch is still the account's (a moved
// epoch is store.ErrStale, an unknown account store.ErrNotFound, and
// nothing is stored); a change of scopes carries the live families to the
// new epoch; a reset and a disable revoke them in the same transaction
// that raises the epoch, and say how many.
func testRefreshFamilyEpoch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice := MustCreate(t, s, "alice")
	create := func(tok string, epoch uint32, userID string) (store.RefreshFamily, error) {
		return s.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: userID, AccountEpoch: epoch, CreatedAt: t0, AbsoluteExpiresAt: t0.Add(time.Hour)},
			hashOf(tok), t0.Add(time.Hour), 10)
	}
	family := func(tok string) store.RefreshFamily {
		t.Helper()
		f, err := s.RefreshFamilyByToken(ctx, hashOf(tok))
		if err != nil {
			t.Fatalf("family of %s: %v", tok, err)
		}
		return f
	}

	if f, err := create("a0", 0, alice.ID); err != nil || f.AccountEpoch != 0 || family("a0").AccountEpoch != 0 {
		t.Fatalf("create at the current epoch: %+v, %v", f, err)
	}
	for _, tt := range []struct {
		name, tok string
		epoch     uint32
		userID    string
		want      error
	}{
		{"epoch moved", "stale", 1, alice.ID, store.ErrStale},
		{"unknown account", "nobody", 0, "no-such-id", store.ErrNotFound},
	} {
		if _, err := create(tt.tok, tt.epoch, tt.userID); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if _, err := s.RefreshFamilyByToken(ctx, hashOf(tt.tok)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the family was stored (%v)", tt.name, err)
		}
	}

	if err := s.SetScopes(ctx, "alice", "read", t0); err != nil {
		t.Fatal(err)
	}
	if f := family("a0"); f.AccountEpoch != 1 || !f.RevokedAt.IsZero() {
		t.Errorf("after a change of scopes: %+v, want live at epoch 1", f)
	}

	if err := s.SetPasswordScreening(ctx, alice.ID, store.Screening{ChangeRequired: true}, t0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SetPassword(ctx, "alice", "$reset", "c", t0); err != nil || n != 1 {
		t.Fatalf("SetPassword = %d, %v; want 1 family revoked", n, err)
	}
	if f := family("a0"); f.RevokedAt.IsZero() {
		t.Error("a reset left a family live")
	}
	if sc, err := s.PasswordScreening(ctx, alice.ID); err != nil || sc != (store.Screening{}) {
		t.Errorf("after a reset: screening %+v, %v; want cleared", sc, err)
	}

	if _, err := create("a2", 2, alice.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SetDisabled(ctx, "alice", true, t0); err != nil || n != 1 {
		t.Fatalf("SetDisabled(true) = %d, %v; want 1 family revoked", n, err)
	}
	if f := family("a2"); f.RevokedAt.IsZero() {
		t.Error("a disable left a family live")
	}
	if n, err := s.SetDisabled(ctx, "alice", false, t0); err != nil || n != 0 {
		t.Errorf("SetDisabled(false) = %d, %v; want 0", n, err)
	}
}

// testRefreshFamilyEpochRace: logins that read the epoch before a reset
// start their families while it commits. Each family is either refused or
// revoked by the reset: none stays live under an epoch that is not the
// account's.
func testRefreshFamilyEpochRace(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	bob := MustCreate(t, s, "bob")
	const logins = 8
	var (
		wg      sync.WaitGroup
		created = make([]bool, logins)
		start   = make(chan struct{})
	)
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: bob.ID, AccountEpoch: bob.DeviceEpoch, CreatedAt: t0, AbsoluteExpiresAt: t0.Add(time.Hour)},
				hashOf(fmt.Sprint("race", i)), t0.Add(time.Hour), 100)
			switch {
			case err == nil:
				created[i] = true
			case !errors.Is(err, store.ErrStale):
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	close(start)
	if _, err := s.SetPassword(ctx, "bob", "$reset", "c", t0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, ok := range created {
		if !ok {
			continue
		}
		f, err := s.RefreshFamilyByToken(ctx, hashOf(fmt.Sprint("race", i)))
		if err != nil {
			t.Fatal(err)
		}
		if f.RevokedAt.IsZero() {
			t.Errorf("login %d: family live under epoch %d after the reset", i, f.AccountEpoch)
		}
	}
}
