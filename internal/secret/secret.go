// Package secret keeps the service's own keys. On one node the HMAC keys
// behind device credentials, challenges and DPoP nonces live in files of
// the data directory only the service user can read (LoadOrCreate). With a
// key-encryption key configured they live sealed (package seal) in the
// store every replica shares (Shared), and so do the signing keys
// (SealedKeys, a token.KeySource), so every replica accepts what any of
// them issued.
package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/credshield/credshield/internal/privdir"
)

// Size is the length of every key: 256 bits, the HMAC-SHA256 block's worth
// of entropy that RFC 2104 recommends as a minimum.
const Size = 32

// LoadOrCreate returns the key in dir/name, creating dir (0700) and the
// file (0600, written atomically) with Size bytes from rand when it does
// not exist. A file readable by group or others, or of the wrong size, is
// refused: a leaked HMAC key lets anyone mint device credentials. So is a
// directory group or others may write to or another user owns (the check
// the signing keys' directory gets): whoever can write there can plant a
// key of their own.
func LoadOrCreate(dir, name string, rand io.Reader) ([]byte, error) {
	if err := privdir.Ensure(dir); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	key, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, Size)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	// Link, not rename: if another process created the file meanwhile,
	// its key wins and both processes use the same one.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return load(path)
}

func load(path string) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("secret %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret %s: readable or writable by group or others (mode %04o); use chmod 600", path, perm)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", path, err)
	}
	if len(key) != Size {
		return nil, fmt.Errorf("secret %s: %d bytes, want %d", path, len(key), Size)
	}
	return key, nil
}
