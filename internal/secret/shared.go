package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/credshield/credshield/internal/privdir"
	"github.com/credshield/credshield/internal/seal"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/token"
)

// Names bound into sealed blobs (package seal's additional data), one
// namespace per table, so a sealed HMAC key cannot be passed off as a
// signing key of the same name or moved to another row.
const (
	secretAAD = "credshield/secret/"
	keyAAD    = "credshield/signing-key/"
)

// SecretStore is what Shared needs of a store (store/sqlite and
// store/postgres provide it).
type SecretStore interface {
	GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error)
	ReplaceSecret(ctx context.Context, name string, old, new []byte) error
}

// Shared keeps the HMAC keys in a store every replica reads, sealed under a
// key-encryption key that is never stored there, so a device credential or
// a challenge one replica issues is accepted by all of them. Build it with
// NewShared; it is safe for concurrent use.
type Shared struct {
	st   SecretStore
	ring *seal.Keyring
	rand io.Reader
}

// NewShared returns the shared secrets in st, sealed under ring, new keys
// drawn from rand.
func NewShared(st SecretStore, ring *seal.Keyring, rand io.Reader) *Shared {
	return &Shared{st: st, ring: ring, rand: rand}
}

// LoadOrCreate returns the key named name, creating it when the store has
// none: from initial when it is not nil (an upgrade importing the key of a
// data-directory file, so credentials issued before stay valid), else
// Size random bytes. Replicas starting together all get the first key
// stored. A key sealed under the previous KEK is re-sealed under the
// current one.
func (s *Shared) LoadOrCreate(ctx context.Context, name string, initial []byte, now time.Time) ([]byte, error) {
	key := initial
	if key == nil {
		key = make([]byte, Size)
		if _, err := io.ReadFull(s.rand, key); err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
	}
	if len(key) != Size {
		return nil, fmt.Errorf("secret %s: %d bytes, want %d", name, len(key), Size)
	}
	blob, err := s.ring.Seal(s.rand, secretAAD+name, key)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	stored, err := s.st.GetOrCreateSecret(ctx, name, blob, now)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	key, stale, err := s.ring.Open(secretAAD+name, stored)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if len(key) != Size {
		return nil, fmt.Errorf("secret %s: stored key of %d bytes, want %d", name, len(key), Size)
	}
	if stale {
		fresh, err := s.ring.Seal(s.rand, secretAAD+name, key)
		if err != nil {
			return nil, fmt.Errorf("secret %s: reseal: %w", name, err)
		}
		// Another replica re-sealing first (ErrStale) is as good.
		if err := s.st.ReplaceSecret(ctx, name, stored, fresh); err != nil && !errors.Is(err, store.ErrStale) {
			return nil, fmt.Errorf("secret %s: reseal: %w", name, err)
		}
	}
	return key, nil
}

// KeyStore is what SealedKeys needs of a store (store/sqlite and
// store/postgres provide it).
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (store.KeyChange, error)) error
}

// SealedKeys is a token.KeySource over a store replicas share: each
// private key sealed under the KEK, bound to its kid. UpdateKeys runs under
// the store's lock (PostgreSQL: an advisory lock; SQLite: its write
// transaction), so replicas never rotate twice, and it re-seals keys still
// sealed under the previous KEK. Build it with NewSealedKeys; it is safe
// for concurrent use.
type SealedKeys struct {
	st   KeyStore
	ring *seal.Keyring
	rand io.Reader
}

// NewSealedKeys returns the key source in st, sealed under ring, nonces
// drawn from rand.
func NewSealedKeys(st KeyStore, ring *seal.Keyring, rand io.Reader) *SealedKeys {
	return &SealedKeys{st: st, ring: ring, rand: rand}
}

// LoadKeys opens every stored key.
func (s *SealedKeys) LoadKeys(ctx context.Context) ([]*token.Key, error) {
	rows, err := s.st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys, _, err := s.open(rows)
	return keys, err
}

// UpdateKeys opens every stored key, calls fn, and stores its change
// (added keys sealed) together with the re-sealing of keys found under the
// previous KEK, in one locked store update.
func (s *SealedKeys) UpdateKeys(ctx context.Context, fn func([]*token.Key) ([]*token.Key, []string, error)) error {
	return s.st.UpdateSigningKeys(ctx, func(rows []store.SigningKey) (store.KeyChange, error) {
		keys, stale, err := s.open(rows)
		if err != nil {
			return store.KeyChange{}, err
		}
		add, del, err := fn(keys)
		if err != nil {
			return store.KeyChange{}, err
		}
		var change store.KeyChange
		deleted := map[string]bool{}
		for _, id := range del {
			deleted[id] = true
			change.Delete = append(change.Delete, id)
		}
		for _, k := range stale {
			if !deleted[k.ID] {
				change.Delete = append(change.Delete, k.ID)
				add = append(add, k)
			}
		}
		for _, k := range add {
			row, err := s.sealKey(k)
			if err != nil {
				return store.KeyChange{}, err
			}
			change.Add = append(change.Add, row)
		}
		return change, nil
	})
}

// Reseal re-seals every key still sealed under the previous KEK and
// returns how many it found.
func (s *SealedKeys) Reseal(ctx context.Context) (int, error) {
	n := 0
	err := s.st.UpdateSigningKeys(ctx, func(rows []store.SigningKey) (store.KeyChange, error) {
		n = 0
		_, stale, err := s.open(rows)
		if err != nil {
			return store.KeyChange{}, err
		}
		var change store.KeyChange
		for _, k := range stale {
			row, err := s.sealKey(k)
			if err != nil {
				return store.KeyChange{}, err
			}
			change.Delete = append(change.Delete, k.ID)
			change.Add = append(change.Add, row)
		}
		n = len(stale)
		return change, nil
	})
	return n, err
}

// open opens rows, returning the keys and those of them sealed under the
// previous KEK.
func (s *SealedKeys) open(rows []store.SigningKey) (keys, stale []*token.Key, err error) {
	for _, r := range rows {
		pem, old, err := s.ring.Open(keyAAD+r.ID, r.Sealed)
		if err != nil {
			return nil, nil, fmt.Errorf("signing key %s: %w", r.ID, err)
		}
		k, err := token.ParseKey(pem)
		if err != nil {
			return nil, nil, fmt.Errorf("signing key %s: %w", r.ID, err)
		}
		if k.ID != r.ID || k.Alg != r.Alg {
			return nil, nil, fmt.Errorf("signing key %s: row says %s, sealed key is %s %s", r.ID, r.Alg, k.Alg, k.ID)
		}
		keys = append(keys, k)
		if old {
			stale = append(stale, k)
		}
	}
	return keys, stale, nil
}

// sealKey seals k's private key, bound to its kid.
func (s *SealedKeys) sealKey(k *token.Key) (store.SigningKey, error) {
	pem, err := token.MarshalKey(k)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	blob, err := s.ring.Seal(s.rand, keyAAD+k.ID, pem)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	return store.SigningKey{ID: k.ID, Alg: k.Alg, Created: k.Created, NotBefore: k.NotBefore, Sealed: blob}, nil
}

// Load reads the key in dir/name without creating it, for importing a
// data-directory key into a shared store: nil and no error when the file
// does not exist. A directory LoadOrCreate would refuse is refused here too.
func Load(dir, name string) ([]byte, error) {
	if err := privdir.Check(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	key, err := load(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return key, err
}

var _ token.KeySource = (*SealedKeys)(nil)
