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

// loadKeyring returns the key-encryption keyring that --kek-file or
// CREDSHIELD_KEK configure, or nil for none. A PostgreSQL store without
// one is refused: replicas cannot share data-directory files, and
// secure by default means no unsealed secret in a shared database.
func (e *env) loadKeyring() (*seal.Keyring, error) {
	ring, err := e.kek.Load(e.lookupEnv)
	if err != nil {
		return nil, usageError{err}
	}
	if ring == nil {
		target, err := config.ParseDB(e.db)
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
// files of the data directory (one node, as always); with one, sealed in
// st. An upgrade keeps its keys: when the store holds no key yet, the data
// directory's key files are imported (sealed) once, in the same locked
// update that would otherwise create the first key, and the files are left
// in place (delete them once every replica runs with the KEK). Keys still
// sealed under --kek-previous-file are re-sealed under the current KEK.
func (e *env) keySource(ctx context.Context, st sealedStore, ring *seal.Keyring, log *slog.Logger) (token.KeySource, error) {
	if ring == nil {
		return token.Dir(e.keysDir()), nil
	}
	src := secret.NewSealedKeys(st, ring, rand.Reader)
	files, err := token.Load(e.keysDir(), config.Default().SigningAlg)
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
			log.Info("key.import", slog.Int("keys", imported), slog.String("from", e.keysDir()), slog.String("kek", ring.Current().ID()))
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

// useSharedSecrets makes the HMAC keys (device credentials, challenges,
// DPoP nonces) come from st, sealed under ring; a nil ring keeps them in
// the data directory.
func (e *env) useSharedSecrets(st sealedStore, ring *seal.Keyring) {
	if ring == nil {
		e.shared = nil
		return
	}
	e.shared = secret.NewShared(st, ring, rand.Reader)
}

// loadSecret returns the HMAC key called name: from the shared store when
// useSharedSecrets gave one (importing the data directory's file of that
// name the first time, so credentials issued before an upgrade stay
// valid), else from the data directory's file, created on first use.
func (e *env) loadSecret(name string) ([]byte, error) {
	dir := filepath.Join(e.dataDir, "secrets")
	if e.shared == nil {
		return secret.LoadOrCreate(dir, name, rand.Reader)
	}
	initial, err := secret.Load(dir, name)
	if err != nil {
		return nil, fmt.Errorf("import %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	defer cancel()
	return e.shared.LoadOrCreate(ctx, name, initial, time.Now())
}
