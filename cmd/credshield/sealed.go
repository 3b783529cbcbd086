package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/seal"
	"github.com/credshield/credshield/internal/secret"
	"github.com/credshield/credshield/token"
)

// sealedStore is what shared keys and secrets need of the store: both
// backends provide it, so with a KEK they live sealed in whichever --db
// names.
type sealedStore interface {
	secret.SecretStore
	secret.KeyStore
}

// secretTimeout bounds one load of a shared secret at start.
const secretTimeout = 30 * time.Second

// loadKeyring returns the key-encryption keyring that kek (--kek-file)
// or the environment (CREDSHIELD_KEK) configure, or nil for none. A
// PostgreSQL store (db, the --db value) without one is refused: replicas
// cannot share data-directory files, and secure by default means no
// unsealed secret in a shared database.
func loadKeyring(kek config.KEK, lookupEnv func(string) (string, bool), db string) (*seal.Keyring, error) {
	ring, err := kek.Load(lookupEnv)
	if err != nil {
		return nil, usageError{err}
	}
	if ring == nil {
		target, err := config.ParseDB(db)
		if err != nil {
			return nil, usageError{err}
		}
		if target.Kind == config.DBPostgres {
			return nil, usageError{config.ErrNoKEK}
		}
	}
	return ring, nil
}

// keySource returns where signing keys live: without a keyring, the key
// files of keysDir (one node, as always; st is not used and may be nil);
// with one, sealed in st. An upgrade keeps its keys: when the store holds
// no key yet, keysDir's key files are imported (sealed) once, in the same
// locked update that would otherwise create the first key, and the files
// are left in place (delete them once every replica runs with the KEK).
// Keys still sealed under --kek-previous-file are re-sealed under the
// current KEK.
func keySource(ctx context.Context, keysDir string, st sealedStore, ring *seal.Keyring, log *slog.Logger) (token.KeySource, error) {
	if ring == nil {
		return token.Dir(keysDir), nil
	}
	src := secret.NewSealedKeys(st, ring, rand.Reader)
	files, err := token.Load(ctx, token.Dir(keysDir), config.Default().SigningAlg)
	if err != nil {
		return nil, fmt.Errorf("import key files: %w", err)
	}
	if fk := files.Keys(); len(fk) > 0 {
		imported := 0
		err := src.UpdateKeys(ctx, func(cur []*token.Key) ([]*token.Key, []string, error) {
			imported = 0
			if len(cur) > 0 {
				return nil, nil, nil // imported already, or keys of its own
			}
			imported = len(fk)
			return fk, nil, nil
		})
		if err != nil {
			return nil, fmt.Errorf("import key files: %w", err)
		}
		if imported > 0 && log != nil {
			log.Info("key.import", slog.Int("keys", imported), slog.String("from", keysDir), slog.String("kek", ring.Current().ID()))
		}
	}
	if ring.Previous() != nil {
		n, err := src.Reseal(ctx)
		if err != nil {
			return nil, fmt.Errorf("reseal signing keys: %w", err)
		}
		if n > 0 && log != nil {
			log.Info("key.reseal", slog.Int("keys", n), slog.String("kek", ring.Current().ID()), slog.String("previous_kek", ring.Previous().ID()))
		}
	}
	return src, nil
}

// secrets is where the HMAC keys of device credentials, challenges and
// DPoP nonces come from: files in the data directory's secrets/ (one
// node), or sealed in the store replicas share. Build it with newSecrets;
// the zero value is not usable.
type secrets struct {
	dir    string         // the data directory's secrets/: the keys, or what a shared store imports
	shared *secret.Shared // nil: the files are the keys
}

// newSecrets returns the HMAC keys of the data directory dataDir or,
// with a keyring, sealed under ring in st (st is not used without one and
// may be nil).
func newSecrets(dataDir string, st sealedStore, ring *seal.Keyring) secrets {
	s := secrets{dir: filepath.Join(dataDir, "secrets")}
	if ring != nil {
		s.shared = secret.NewShared(st, ring, rand.Reader)
	}
	return s
}

// load returns the HMAC key called name: from the shared store, importing
// the data directory's file of that name the first time (so credentials
// issued before an upgrade stay valid); else from the data directory's
// file, created on first use.
func (s secrets) load(ctx context.Context, name string) ([]byte, error) {
	if s.shared == nil {
		return secret.LoadOrCreate(s.dir, name, rand.Reader)
	}
	initial, err := secret.Load(s.dir, name)
	if err != nil {
		return nil, fmt.Errorf("import %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, secretTimeout)
	defer cancel()
	return s.shared.LoadOrCreate(ctx, name, initial, time.Now())
}
