package token

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// memSource is a KeySource in memory whose UpdateKeys is exclusive, as a
// shared store's is; updates counts the updates that changed something.
type memSource struct {
	mu      sync.Mutex
	keys    []*Key
	updates int
	failAdd error
}

func (m *memSource) LoadKeys(context.Context) ([]*Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys), nil
}

func (m *memSource) UpdateKeys(_ context.Context, fn func([]*Key) ([]*Key, []string, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	add, del, err := fn(slices.Clone(m.keys))
	if err != nil {
		return err
	}
	if len(add) > 0 && m.failAdd != nil {
		return m.failAdd
	}
	if len(add)+len(del) > 0 {
		m.updates++
	}
	m.keys = slices.DeleteFunc(m.keys, func(k *Key) bool { return slices.Contains(del, k.ID) })
	m.keys = append(m.keys, add...)
	return nil
}

func TestLoadOrCreateSource(t *testing.T) {
	ctx := t.Context()
	src := &memSource{}
	// Replicas starting together on an empty shared source create one key.
	var wg sync.WaitGroup
	sets := make([]*KeySet, 6)
	for i := range sets {
		wg.Go(func() {
			ks, err := LoadOrCreate(ctx, src, EdDSA, rand.Reader, testNow)
			if err != nil {
				t.Error(err)
			}
			sets[i] = ks
		})
	}
	wg.Wait()
	if len(src.keys) != 1 || src.updates != 1 {
		t.Fatalf("%d keys after %d updates, want one key created once", len(src.keys), src.updates)
	}
	for i, ks := range sets {
		if ks == nil || ks.ActiveAt(testNow) == nil || ks.ActiveAt(testNow).ID != src.keys[0].ID {
			t.Fatalf("replica %d does not sign with the shared key", i)
		}
	}
	// Another algorithm gets its own key; the first stays published.
	es, err := LoadOrCreate(ctx, src, ES256, rand.Reader, testNow.Add(time.Hour))
	if err != nil || es.ActiveAt(testNow.Add(time.Hour)).Alg != ES256 || len(es.Keys()) != 2 {
		t.Fatalf("ES256 set: %v", err)
	}
	if _, err := LoadOrCreate(ctx, src, "HS256", rand.Reader, testNow); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("HS256: %v, want ErrUnsupportedAlg", err)
	}
	failing := &memSource{failAdd: errors.New("store down")}
	if _, err := LoadOrCreate(ctx, failing, EdDSA, rand.Reader, testNow); err == nil {
		t.Error("a failing source gave a key set")
	}
}

// TestRotateOnce steps replicas whose rotation interval expires at the
// same moment: each decides in its own locked update, so only the first
// rotates and every replica's reload then publishes that one key.
func TestRotateOnce(t *testing.T) {
	ctx := t.Context()
	src := &memSource{}
	ks, err := LoadOrCreate(ctx, src, EdDSA, rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	k0 := ks.ActiveAt(testNow)
	const interval, lead = 24 * time.Hour, 10 * time.Minute
	now := testNow.Add(interval)
	due := func(keys []*Key) bool {
		var newest time.Time
		for _, k := range keys {
			if k.NotBefore.After(newest) {
				newest = k.NotBefore
			}
		}
		return !now.Before(newest.Add(interval))
	}
	before := src.updates
	var wg sync.WaitGroup
	var mu sync.Mutex
	var rotated []*Key
	for range 5 {
		wg.Go(func() {
			k, _, err := Rotate(ctx, src, EdDSA, rand.Reader, now, now.Add(lead), time.Hour, due)
			if err != nil {
				t.Error(err)
			}
			if k != nil {
				mu.Lock()
				rotated = append(rotated, k)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(rotated) != 1 || src.updates-before != 1 || len(src.keys) != 2 {
		t.Fatalf("%d rotations, %d updates, %d keys; want exactly one", len(rotated), src.updates-before, len(src.keys))
	}
	if err := ks.Reload(ctx, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ks.PublicKey(rotated[0].ID); !ok || ks.ActiveAt(now).ID != k0.ID {
		t.Error("staged key not published by reload, or switched before its lead")
	}
	if ks.ActiveAt(now.Add(lead)).ID != rotated[0].ID {
		t.Error("staged key does not sign after its lead")
	}
	// Without due, Rotate always rotates, and deletes retired keys.
	later := now.Add(lead + 2*time.Hour)
	k2, removed, err := Rotate(ctx, src, EdDSA, rand.Reader, later, later, time.Hour, nil)
	if err != nil || k2 == nil {
		t.Fatalf("forced rotation: %v", err)
	}
	if !slices.Equal(removed, []string{k0.ID}) {
		t.Errorf("removed %v, want the retired first key %s", removed, k0.ID)
	}
	if _, _, err := Rotate(ctx, src, "none", rand.Reader, later, later, time.Hour, nil); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("alg none: %v", err)
	}
}

func TestDirSource(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := Dir(dir).LoadKeys(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v, want ErrNotExist", err)
	}
	k, err := GenerateKey(rand.Reader, EdDSA, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := Dir(dir).UpdateKeys(ctx, func([]*Key) ([]*Key, []string, error) { return []*Key{k}, []string{"gone"}, nil }); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, k.ID+".pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v", err)
	}
	ks, err := Load(ctx, Dir(dir), EdDSA)
	if err != nil || ks.ActiveAt(testNow).ID != k.ID {
		t.Fatalf("LoadFrom: %v", err)
	}
	if err := Dir(dir).UpdateKeys(ctx, func([]*Key) ([]*Key, []string, error) { return nil, []string{k.ID}, nil }); err != nil {
		t.Fatal(err)
	}
	if keys, _ := Dir(dir).LoadKeys(ctx); len(keys) != 0 {
		t.Errorf("%d keys after delete", len(keys))
	}
	boom := errors.New("boom")
	if err := Dir(dir).UpdateKeys(ctx, func([]*Key) ([]*Key, []string, error) { return []*Key{k}, nil, boom }); !errors.Is(err, boom) {
		t.Errorf("callback error: %v", err)
	}
	if keys, _ := Dir(dir).LoadKeys(ctx); len(keys) != 0 {
		t.Error("a failing callback wrote a key")
	}
}

func TestMarshalParseKey(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		k, err := GenerateKey(rand.Reader, alg, testNow)
		if err != nil {
			t.Fatal(err)
		}
		k.NotBefore = testNow.Add(time.Hour)
		data, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseKey(data)
		if err != nil || back.ID != k.ID || back.Alg != alg || !back.Created.Equal(k.Created) || !back.NotBefore.Equal(k.NotBefore) {
			t.Errorf("%s round trip: %+v, %v", alg, back, err)
		}
	}
	if _, err := ParseKey([]byte("not a key")); !errors.Is(err, ErrKeyFile) {
		t.Errorf("garbage: %v, want ErrKeyFile", err)
	}
}

// TestDirNotYetCreated: one API over every KeySource still treats a key
// directory that does not exist yet as Dir always did: Load sees an empty
// set and creates nothing; LoadOrCreate creates it (0700) with a key.
func TestDirNotYetCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := Load(t.Context(), Dir(dir), EdDSA)
	if err != nil || len(ks.Keys()) != 0 || ks.Active() != nil {
		t.Fatalf("Load of a missing dir: %v, %d keys", err, len(ks.Keys()))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load created the directory: %v", err)
	}
	ks, err = LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow)
	if err != nil || ks.ActiveAt(testNow) == nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v", err)
	}
}
