package token

import (
	"crypto/rand"
	"testing"
	"time"
)

// TestRotateSameSecondSigns rotates again and again within one second on
// the key directory (whose files keep times to the second): each new key
// must be the one that signs once its time comes. A tie on NotBefore used
// to leave the choice to the random key ID, so an emergency rotation could
// leave the old key signing for good.
func TestRotateSameSecondSigns(t *testing.T) {
	ctx := t.Context()
	src := Dir(t.TempDir())
	now := testNow.Truncate(time.Second)
	ks, err := LoadOrCreate(ctx, src, EdDSA, rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		at := now.Add(time.Duration(i+1) * 100 * time.Millisecond)
		k, _, err := Rotate(ctx, src, EdDSA, rand.Reader, at, at, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Reload(ctx, at, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := ks.ActiveAt(k.NotBefore); got == nil || got.ID != k.ID {
			var id string
			if got != nil {
				id = got.ID
			}
			t.Fatalf("rotation %d: key %q signs at %v, want the new key %s", i, id, k.NotBefore, k.ID)
		}
		if k.NotBefore.Sub(at) > 8*time.Second+time.Second {
			t.Fatalf("rotation %d signs from %v, far after %v", i, k.NotBefore, at)
		}
	}
}
