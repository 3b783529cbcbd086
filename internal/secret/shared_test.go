package secret

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/seal"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/postgres"
	"github.com/credshield/credshield/internal/store/sqlite"
	"github.com/credshield/credshield/internal/store/storetest"
	"github.com/credshield/credshield/token"
)

var now0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// sharedStore is what the tests need: both adapters' store sides.
type sharedStore interface {
	SecretStore
	KeyStore
}

// backends opens a fresh store of each kind; PostgreSQL is skipped
// without CREDSHIELD_TEST_POSTGRES (failed under CI=true).
var backends = []struct {
	name string
	open func(t *testing.T) sharedStore
}{
	{"sqlite", func(t *testing.T) sharedStore {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) sharedStore {
		st, err := postgres.Open(t.Context(), storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

func ring(t *testing.T, cur, prev byte) *seal.Keyring {
	t.Helper()
	kek := func(b byte) *seal.KEK {
		if b == 0 {
			return nil
		}
		k, err := seal.NewKEK(bytes.Repeat([]byte{b}, seal.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	r, err := seal.NewKeyring(kek(cur), kek(prev))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestShared(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ctx := t.Context()
			// Replicas starting together share one key.
			var wg sync.WaitGroup
			keys := make([][]byte, 4)
			for i := range keys {
				wg.Go(func() {
					k, err := NewShared(st, ring(t, 1, 0), rand.Reader).LoadOrCreate(ctx, "device.key", nil, now0)
					if err != nil {
						t.Error(err)
					}
					keys[i] = k
				})
			}
			wg.Wait()
			for i, k := range keys {
				if len(k) != Size || !bytes.Equal(k, keys[0]) {
					t.Fatalf("replica %d got %x, replica 0 %x", i, k, keys[0])
				}
			}
			// An import offers the data directory's key; only an empty
			// slot takes it.
			file := bytes.Repeat([]byte{9}, Size)
			got, err := NewShared(st, ring(t, 1, 0), rand.Reader).LoadOrCreate(ctx, "challenge.key", file, now0)
			if err != nil || !bytes.Equal(got, file) {
				t.Fatalf("import: %x, %v", got, err)
			}
			if got, _ := NewShared(st, ring(t, 1, 0), rand.Reader).LoadOrCreate(ctx, "device.key", file, now0); !bytes.Equal(got, keys[0]) {
				t.Error("an import replaced a stored key")
			}
			if _, err := NewShared(st, ring(t, 1, 0), rand.Reader).LoadOrCreate(ctx, "x", file[:5], now0); err == nil {
				t.Error("short import accepted")
			}
			// Another KEK cannot open it, and says why.
			if _, err := NewShared(st, ring(t, 2, 0), rand.Reader).LoadOrCreate(ctx, "device.key", nil, now0); !errors.Is(err, seal.ErrWrongKEK) {
				t.Errorf("wrong KEK: %v, want ErrWrongKEK", err)
			}
			// KEK rotation: with the previous KEK it opens and is
			// re-sealed, after which the new KEK alone suffices.
			if got, err := NewShared(st, ring(t, 2, 1), rand.Reader).LoadOrCreate(ctx, "device.key", nil, now0); err != nil || !bytes.Equal(got, keys[0]) {
				t.Fatalf("rotation: %x, %v", got, err)
			}
			if got, err := NewShared(st, ring(t, 2, 0), rand.Reader).LoadOrCreate(ctx, "device.key", nil, now0); err != nil || !bytes.Equal(got, keys[0]) {
				t.Fatalf("after rotation, new KEK alone: %x, %v", got, err)
			}
		})
	}
}

func TestSealedKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ctx := t.Context()
			src := NewSealedKeys(st, ring(t, 1, 0), rand.Reader)
			ks, err := token.LoadOrCreate(ctx, src, token.EdDSA, rand.Reader, now0)
			if err != nil {
				t.Fatal(err)
			}
			k0 := ks.ActiveAt(now0)
			// Another replica with the same KEK sees the same key, able to sign.
			other, err := token.LoadOrCreate(ctx, NewSealedKeys(st, ring(t, 1, 0), rand.Reader), token.EdDSA, rand.Reader, now0)
			if err != nil || other.ActiveAt(now0).ID != k0.ID || other.ActiveAt(now0).Signer == nil {
				t.Fatalf("second replica: %v", err)
			}
			rows, err := st.SigningKeys(ctx)
			if err != nil || len(rows) != 1 || bytes.Contains(rows[0].Sealed, []byte("PRIVATE KEY")) {
				t.Fatalf("stored rows %v, %v: want one sealed key", len(rows), err)
			}
			// A rotation staged by one is loaded by the other.
			k1, _, err := token.Rotate(ctx, src, token.EdDSA, rand.Reader, now0, now0.Add(time.Minute), time.Hour, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Reload(ctx, now0, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, _, ok := other.PublicKey(k1.ID); !ok {
				t.Error("rotated key not seen by the other replica")
			}
			// A wrong KEK fails clearly.
			if _, err := NewSealedKeys(st, ring(t, 2, 0), rand.Reader).LoadKeys(ctx); !errors.Is(err, seal.ErrWrongKEK) {
				t.Errorf("wrong KEK: %v", err)
			}
			// KEK rotation re-seals every key.
			n, err := NewSealedKeys(st, ring(t, 2, 1), rand.Reader).Reseal(ctx)
			if err != nil || n != 2 {
				t.Fatalf("Reseal = %d, %v; want 2", n, err)
			}
			if keys, err := NewSealedKeys(st, ring(t, 2, 0), rand.Reader).LoadKeys(ctx); err != nil || len(keys) != 2 {
				t.Fatalf("new KEK alone after reseal: %d keys, %v", len(keys), err)
			}
			// A blob moved onto another kid's row does not open.
			rows, _ = st.SigningKeys(ctx)
			err = st.UpdateSigningKeys(ctx, func([]store.SigningKey) (store.KeyChange, error) {
				swapped := rows[0]
				swapped.Sealed = rows[1].Sealed
				return store.KeyChange{Delete: []string{rows[0].ID}, Add: []store.SigningKey{swapped}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewSealedKeys(st, ring(t, 2, 0), rand.Reader).LoadKeys(ctx); !errors.Is(err, seal.ErrAuth) {
				t.Errorf("swapped blob: %v, want ErrAuth", err)
			}
		})
	}
}
