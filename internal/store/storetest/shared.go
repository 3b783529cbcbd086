package storetest

import (
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// RunShared runs the tests of several stores on one database: processes
// on one SQLite file (a server and a CLI command), replicas on one
// PostgreSQL schema. open must return a new, empty, migrated store and a
// function that opens another store on the same database; both are closed
// when t ends. Each test runs in parallel on a database of its own.
func RunShared(t *testing.T, open func(t *testing.T) (store.Store, func(t *testing.T) store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		// The cross-process contention is what locks and busy timeouts
		// must absorb: every write lands, no reader fails.
		{"ConcurrentWriters", func(t *testing.T, a, b store.Store) { concurrentWriters(t, a, b) }},
		// Exactly one of many rehashes from both stores wins.
		{"ReplaceHashRace", func(t *testing.T, a, b store.Store) { replaceHashRace(t, a, b) }},
		// A token raced from both stores is redeemed once.
		{"RefreshRotationRace", func(t *testing.T, a, b store.Store) { refreshRotationRace(t, a, b) }},
		{"SharedState", testSharedState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, another := open(t)
			tt.fn(t, a, another(t))
		})
	}
}

// testSharedState checks that what one store writes the other sees at
// once: accounts, their state and their refresh families.
func testSharedState(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	u := MustCreate(t, a, "alice")
	if got, err := b.UserByID(ctx, u.ID); err != nil || got != u {
		t.Fatalf("the other store: %+v, %v", got, err)
	}
	f := newFamily(t, a, u.ID, "shared")
	if got, err := b.RefreshFamilyByToken(ctx, hashOf("shared")); err != nil || got != f {
		t.Errorf("the other store's family: %+v, %v; want %+v", got, err, f)
	}
	if n, err := b.RevokeUserRefreshFamilies(ctx, u.ID, t0); err != nil || n != 1 {
		t.Errorf("RevokeUserRefreshFamilies on the other store = %d, %v; want 1", n, err)
	}
	if _, err := a.RotateRefreshToken(ctx, hashOf("shared"), hashOf("next"), t0.Add(time.Minute), t0.Add(time.Hour)); err == nil {
		t.Error("a family the other store revoked still rotates")
	}
	if _, err := b.SetDisabled(ctx, "alice", true, t0); err != nil {
		t.Fatal(err)
	}
	if got, err := a.UserByName(ctx, "alice"); err != nil || !got.Disabled || got.DeviceEpoch != 1 {
		t.Errorf("after the other store disabled alice: %+v, %v", got, err)
	}
}
