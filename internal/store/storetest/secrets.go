package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

func testSecretGetOrCreate(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	first := []byte("sealed-one\x00\xff")
	got, err := s.GetOrCreateSecret(ctx, "device.key", first, t0)
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first GetOrCreateSecret = %q, %v; want the blob passed", got, err)
	}
	got, err = s.GetOrCreateSecret(ctx, "device.key", []byte("sealed-two"), t0.Add(time.Hour))
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("second GetOrCreateSecret = %q, %v; want the stored blob, not the new one", got, err)
	}
	other, err := s.GetOrCreateSecret(ctx, "challenge.key", []byte("sealed-three"), t0)
	if err != nil || string(other) != "sealed-three" {
		t.Fatalf("another name = %q, %v", other, err)
	}
	for _, tt := range []struct {
		name string
		blob []byte
	}{{"", first}, {"x", nil}} {
		if _, err := s.GetOrCreateSecret(ctx, tt.name, tt.blob, t0); err == nil {
			t.Errorf("GetOrCreateSecret(%q, %q) accepted", tt.name, tt.blob)
		}
	}
}

// testSecretGetOrCreateRace starts many "replicas" creating one secret at
// once: all must end up with the same blob.
func testSecretGetOrCreateRace(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const n = 8
	var wg sync.WaitGroup
	got := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.GetOrCreateSecret(t.Context(), "challenge.key", fmt.Appendf(nil, "blob-%d", i), t0)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("caller %d got %q, caller 0 %q: replicas would not share the secret", i, got[i], got[0])
		}
	}
}

func testReplaceSecret(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.GetOrCreateSecret(ctx, "k", []byte("old"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceSecret(ctx, "k", []byte("old"), []byte("new")); err != nil {
		t.Fatalf("ReplaceSecret: %v", err)
	}
	if got, _ := s.GetOrCreateSecret(ctx, "k", []byte("other"), t0); string(got) != "new" {
		t.Errorf("after replace: %q, want new", got)
	}
	if err := s.ReplaceSecret(ctx, "k", []byte("old"), []byte("newer")); !errors.Is(err, store.ErrStale) {
		t.Errorf("replace from a stale blob: %v, want ErrStale", err)
	}
	if err := s.ReplaceSecret(ctx, "missing", []byte("old"), []byte("new")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replace a missing secret: %v, want ErrNotFound", err)
	}
}

func signingKey(kid string, created time.Time) store.SigningKey {
	return store.SigningKey{ID: kid, Alg: "EdDSA", Created: created, NotBefore: created.Add(time.Minute), Sealed: []byte("sealed " + kid)}
}

func testSigningKeys(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx)
	if err != nil || keys == nil || len(keys) != 0 {
		t.Fatalf("empty store: %v, %v; want an empty, non-nil slice", keys, err)
	}
	add := func(change store.KeyChange) error {
		return s.UpdateSigningKeys(ctx, func([]store.SigningKey) (store.KeyChange, error) { return change, nil })
	}
	b, a, c := signingKey("b", t0), signingKey("a", t0), signingKey("c", t0.Add(-time.Hour))
	if err := add(store.KeyChange{Add: []store.SigningKey{b, a, c}}); err != nil {
		t.Fatalf("add: %v", err)
	}
	trunc := func(k store.SigningKey) store.SigningKey {
		k.Created, k.NotBefore = k.Created.Truncate(time.Millisecond), k.NotBefore.Truncate(time.Millisecond)
		return k
	}
	keys, err = s.SigningKeys(ctx)
	if want := []store.SigningKey{trunc(c), trunc(a), trunc(b)}; err != nil || fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("SigningKeys = %v, %v\nwant (created, then kid) %v", keys, err, want)
	}

	if err := add(store.KeyChange{Add: []store.SigningKey{a}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("adding an existing kid: %v, want ErrConflict", err)
	}
	// The callback sees the keys; a failing callback changes nothing.
	boom := errors.New("boom")
	var seen int
	err = s.UpdateSigningKeys(ctx, func(keys []store.SigningKey) (store.KeyChange, error) {
		seen = len(keys)
		return store.KeyChange{Delete: []string{"a", "b", "c"}}, boom
	})
	if !errors.Is(err, boom) || seen != 3 {
		t.Errorf("failing callback: %v, saw %d keys", err, seen)
	}
	// A failing insert rolls back the deletes before it.
	if err := add(store.KeyChange{Delete: []string{"c"}, Add: []store.SigningKey{{ID: "d"}}}); err == nil {
		t.Error("key without alg or blob accepted")
	}
	if keys, _ := s.SigningKeys(ctx); len(keys) != 3 {
		t.Errorf("after failed updates: %d keys, want 3 (all or nothing)", len(keys))
	}
	// Delete and re-add one kid (a re-seal) in one change.
	resealed := trunc(a)
	resealed.Sealed = []byte("resealed a")
	if err := add(store.KeyChange{Delete: []string{"a", "c", "nope"}, Add: []store.SigningKey{resealed}}); err != nil {
		t.Fatalf("replace: %v", err)
	}
	keys, _ = s.SigningKeys(ctx)
	if want := []store.SigningKey{resealed, trunc(b)}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("after replace: %v, want %v", keys, want)
	}
}

// testSigningKeysSerialised runs many "replicas" that each add a key only
// when the newest stored key is not the one they saw being added by
// nobody: exactly one must add, the rest must see its key inside their
// own update, as rotation under the lock relies on.
func testSigningKeysSerialised(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const n = 6
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
	)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.UpdateSigningKeys(t.Context(), func(keys []store.SigningKey) (store.KeyChange, error) {
				if len(keys) > 0 {
					return store.KeyChange{}, nil // rotated already, by someone else
				}
				time.Sleep(20 * time.Millisecond) // widen the window a race would need
				mu.Lock()
				added++
				mu.Unlock()
				return store.KeyChange{Add: []store.SigningKey{signingKey(fmt.Sprintf("k%d", i), t0)}}, nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	keys, err := s.SigningKeys(t.Context())
	if err != nil || len(keys) != 1 || added != 1 {
		t.Errorf("%d keys stored, %d callbacks added one (%v); want exactly one rotation", len(keys), added, err)
	}
}
