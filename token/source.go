package token

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/credshield/credshield/internal/privdir"
)

// KeySource is where a KeySet's keys live: a directory of key files (Dir),
// the default on one node, or a store that replicas share, keys sealed
// under a key-encryption key (package secret provides that one; package
// token knows no database). Implementations are safe for concurrent use.
type KeySource interface {
	// LoadKeys returns every key the source holds.
	LoadKeys(ctx context.Context) ([]*Key, error)
	// UpdateKeys calls fn with every key the source holds and then adds
	// the keys fn returns and deletes the kids it names (deleting a key
	// that is gone already is not an error). A shared source runs it
	// exclusively: no other UpdateKeys of any process sharing the source
	// runs between fn's read and the write, so a decision fn takes on what
	// it saw (rotate, or not) holds. fn may be called again if the source
	// retries; an error from fn is returned (wrapped or not) and nothing
	// changes.
	UpdateKeys(ctx context.Context, fn func(keys []*Key) (add []*Key, del []string, err error)) error
}

// Dir is the KeySource of a directory of key files: the single-node
// default. Key files are PKCS#8 PEM, one key per file named <kid>.pem,
// with PEM headers "Alg", "Created" and "NotBefore" (RFC 3339). A file
// that is readable or writable by group or others, is not a regular file,
// or whose name is not its key's thumbprint is refused with an error
// naming it (ErrKeyFile), and so is a directory that group or others may
// write to or another user owns, since a signing key others can read or
// replace is a key others can sign with. Files whose names do not end in
// ".pem" or start with "." are ignored.
//
// UpdateKeys creates the directory (0700) if needed and writes keys 0600,
// atomically (temporary file, sync, rename); it serialises nothing across
// processes, which a single node with one writer at a time does not need
// (use a shared store for replicas).
type Dir string

// LoadKeys checks the directory and reads every key file in it; a missing
// directory is an error wrapping fs.ErrNotExist.
func (d Dir) LoadKeys(_ context.Context) ([]*Key, error) {
	dir := string(d)
	if err := privdir.Check(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return loadKeys(dir)
}

// UpdateKeys reads the directory, calls fn, writes each added key
// (atomically, 0600) and removes each deleted key's file.
func (d Dir) UpdateKeys(_ context.Context, fn func([]*Key) ([]*Key, []string, error)) error {
	dir := string(d)
	if err := checkDir(dir); err != nil {
		return err
	}
	keys, err := loadKeys(dir)
	if err != nil {
		return err
	}
	add, del, err := fn(keys)
	if err != nil {
		return err
	}
	for _, k := range add {
		if err := writeKeyFile(dir, k); err != nil {
			return err
		}
	}
	for _, id := range del {
		if err := os.Remove(filepath.Join(dir, id+".pem")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove retired key: %w", err)
		}
	}
	return nil
}

// MarshalKey encodes k, private key included, as the PEM a key file holds
// (PKCS#8 with Alg, Created and NotBefore headers), for sources that keep
// keys elsewhere, sealed. Handle the result as the secret it is.
func MarshalKey(k *Key) ([]byte, error) { return marshalKeyFile(k) }

// ParseKey decodes what MarshalKey wrote, with every check a key file gets
// (the key suits its algorithm; the kid is recomputed from the key).
func ParseKey(data []byte) (*Key, error) {
	k, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return k, nil
}

var _ KeySource = Dir("")
