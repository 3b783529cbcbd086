package config

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/seal"
)

// Environment variables holding a key-encryption key itself (base64 of 32
// bytes). They are read directly, never through a flag, so the KEK never
// appears on a command line (ps, shell history).
const (
	EnvKEK         = "CREDSHIELD_KEK"
	EnvKEKPrevious = "CREDSHIELD_KEK_PREVIOUS"
)

// KEK says where the key-encryption key comes from. With one, signing keys
// and HMAC secrets live sealed in the store (--db) that replicas share;
// without one they stay files in the data directory, which only a single
// node can use. The zero value configures no KEK.
type KEK struct {
	// File holds the KEK (32 raw bytes or their base64; mode 0600 or
	// stricter). Exclusive with CREDSHIELD_KEK.
	File string
	// PreviousFile holds the KEK being rotated away from: blobs sealed
	// under it still open and are re-sealed under the current one.
	// Exclusive with CREDSHIELD_KEK_PREVIOUS.
	PreviousFile string
}

// RegisterFlags binds the KEK file flags. The KEK itself has no flag: use
// CREDSHIELD_KEK or a file.
func (k *KEK) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&k.File, "kek-file", k.File, "file holding the key-encryption key (32 bytes, raw or base64; mode 0600) that seals signing keys and secrets in --db; or set "+EnvKEK+" (required with a postgres:// --db)")
	fs.StringVar(&k.PreviousFile, "kek-previous-file", k.PreviousFile, "during a key-encryption key rotation, the previous KEK (or "+EnvKEKPrevious+"): what it sealed still opens and is re-sealed under the current one")
}

// ErrNoKEK means a shared store was chosen without a key-encryption key:
// replicas cannot share data-directory files, and the store must never
// hold secrets it could open itself.
var ErrNoKEK = errors.New("--db postgres:// needs a key-encryption key to share signing keys and secrets between replicas: set " +
	EnvKEK + " (base64 of 32 random bytes, e.g. from `head -c 32 /dev/urandom | base64`) or --kek-file PATH (mode 0600); it is never stored in the database")

// Load returns the keyring k and the environment (lookup) configure, or nil
// when none is configured. Giving a KEK both as a file and in the
// environment is an error, as is a previous KEK without a current one.
// Errors never include key material.
func (k KEK) Load(lookup func(string) (string, bool)) (*seal.Keyring, error) {
	cur, err := loadKEK(k.File, "--kek-file", EnvKEK, lookup)
	if err != nil {
		return nil, err
	}
	prev, err := loadKEK(k.PreviousFile, "--kek-previous-file", EnvKEKPrevious, lookup)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		if prev != nil {
			return nil, fmt.Errorf("a previous key-encryption key is set but no current one (%s or --kek-file)", EnvKEK)
		}
		return nil, nil
	}
	return seal.NewKeyring(cur, prev)
}

// loadKEK reads one KEK from a file or an environment variable.
func loadKEK(file, flag, env string, lookup func(string) (string, bool)) (*seal.KEK, error) {
	v, inEnv := lookup(env)
	inEnv = inEnv && v != ""
	switch {
	case file != "" && inEnv:
		return nil, fmt.Errorf("%s and %s are both set: give the key-encryption key once", flag, env)
	case file != "":
		k, err := seal.LoadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return k, nil
	case inEnv:
		k, err := seal.ParseKEK(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env, err)
		}
		return k, nil
	}
	return nil, nil
}
