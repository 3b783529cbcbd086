// Package seal encrypts the service's own secrets (signing keys, HMAC keys)
// under a key-encryption key (KEK) so they can live in a database that
// several replicas share, while the KEK itself stays outside it (an
// environment variable or a file): a copy of the database alone opens
// nothing.
//
// A sealed blob is AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce:
//
//	version (1 byte, 1) | KEK id (8 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// The KEK id is the first 8 bytes of SHA-256 of the KEK, so opening with the
// wrong KEK fails with ErrWrongKEK, naming the problem, instead of a bare
// authentication failure. The additional data binds the version, the KEK id
// and the secret's name (its row key: a secret name or a kid), so a blob
// copied onto another row does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// KeySize is the length of a KEK: 256 bits, for AES-256.
const KeySize = 32

// version is the format byte of blobs this package writes.
const version = 1

const (
	idSize    = 8
	nonceSize = 12
	tagSize   = 16
	header    = 1 + idSize + nonceSize
	// Overhead is how many bytes a sealed blob adds to its plaintext.
	Overhead = header + tagSize
)

// maxKEKFile bounds what LoadFile reads (a base64 KEK is 44 bytes).
const maxKEKFile = 1 << 10

// Errors Open returns, for errors.Is.
var (
	// ErrWrongKEK means the blob was sealed under a KEK this process does
	// not have: the deployment's replicas disagree on CREDSHIELD_KEK, or the
	// KEK was rotated without --kek-previous-file.
	ErrWrongKEK = errors.New("seal: sealed with another key-encryption key")
	// ErrMalformed means the blob is not one this package wrote: too short,
	// or of an unknown version.
	ErrMalformed = errors.New("seal: malformed sealed blob")
	// ErrAuth means the blob names this KEK but does not authenticate: it
	// was altered, or moved to another name.
	ErrAuth = errors.New("seal: sealed blob failed authentication (altered, or moved to another name)")
)

// KEK is a key-encryption key. Its bytes never leave it: String, GoString
// and LogValue print only its id, so a KEK passed to a logger or fmt by
// mistake leaks nothing. The zero value is not usable; build one with
// NewKEK, ParseKEK or LoadFile. A KEK is immutable and safe for concurrent
// use.
type KEK struct {
	aead cipher.AEAD
	id   [idSize]byte
}

// NewKEK returns the KEK with the given KeySize bytes (copied).
func NewKEK(key []byte) (*KEK, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key of %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	k := &KEK{aead: aead}
	sum := sha256.Sum256(key)
	copy(k.id[:], sum[:idSize])
	return k, nil
}

// ParseKEK decodes a KEK written as standard or URL-safe base64, padded or
// not, surrounding white space ignored (the form of CREDSHIELD_KEK; make one
// with `head -c 32 /dev/urandom | base64`). Errors never quote s.
func ParseKEK(s string) (*KEK, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("seal: key-encryption key decodes to %d bytes, want %d", len(b), KeySize)
			}
			return NewKEK(b)
		}
	}
	return nil, errors.New("seal: key-encryption key is not base64")
}

// LoadFile reads a KEK from path: exactly KeySize raw bytes, or their
// base64 (see ParseKEK). Like every secret file of the service, it must be a
// regular file that group and others can neither read nor write (0600 or
// stricter): a KEK others can read opens every sealed secret.
func LoadFile(path string) (*KEK, error) {
	info, err := os.Stat(path) // a symlink to a 0600 file is fine (mounted secrets)
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key-encryption key file %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key-encryption key file %s: readable or writable by group or others (mode %04o); use chmod 600", path, perm)
	}
	if info.Size() > maxKEKFile {
		return nil, fmt.Errorf("seal: key-encryption key file %s: larger than %d bytes", path, maxKEKFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key file: %w", err)
	}
	if len(data) == KeySize {
		return NewKEK(data)
	}
	k, err := ParseKEK(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s: want %d raw bytes or their base64)", err, path, KeySize)
	}
	return k, nil
}

// ID returns the KEK's identifier, 16 hex digits: safe to log, and what an
// operator compares across replicas.
func (k KEK) ID() string { return hex.EncodeToString(k.id[:]) }

// String prints the id only.
func (k KEK) String() string { return "seal.KEK(" + k.ID() + ")" }

// GoString prints the id only, for %#v.
func (k KEK) GoString() string { return k.String() }

// LogValue logs the id only.
func (k KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Seal encrypts plaintext under k, bound to name, with a nonce from rand.
func (k *KEK) Seal(rand io.Reader, name string, plaintext []byte) ([]byte, error) {
	out := make([]byte, header, header+len(plaintext)+tagSize)
	out[0] = version
	copy(out[1:], k.id[:])
	if _, err := io.ReadFull(rand, out[1+idSize:header]); err != nil {
		return nil, fmt.Errorf("seal %s: nonce: %w", name, err)
	}
	return k.aead.Seal(out, out[1+idSize:header], plaintext, aad(out[:1+idSize], name)), nil
}

// Open decrypts a blob that Seal wrote for name under k.
func (k *KEK) Open(name string, blob []byte) ([]byte, error) {
	id, err := BlobKEK(blob)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if id != k.ID() {
		return nil, fmt.Errorf("open %s: %w (blob: KEK %s; this process: KEK %s)", name, ErrWrongKEK, id, k.ID())
	}
	pt, err := k.aead.Open(nil, blob[1+idSize:header], blob[header:], aad(blob[:1+idSize], name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, ErrAuth)
	}
	return pt, nil
}

// BlobKEK returns the id of the KEK a blob was sealed under.
func BlobKEK(blob []byte) (string, error) {
	if len(blob) < Overhead {
		return "", fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(blob), Overhead)
	}
	if blob[0] != version {
		return "", fmt.Errorf("%w: version %d", ErrMalformed, blob[0])
	}
	return hex.EncodeToString(blob[1 : 1+idSize]), nil
}

// aad is the additional data: a context label, the version and KEK id,
// and the name the blob belongs to.
func aad(head []byte, name string) []byte {
	const label = "credshield-seal\x00"
	b := make([]byte, 0, len(label)+len(head)+len(name))
	b = append(b, label...)
	b = append(b, head...)
	return append(b, name...)
}

// Keyring is the current KEK and, during a KEK rotation, the previous one:
// it seals under the current KEK and opens under either, telling the caller
// when a blob should be re-sealed. The zero value is not usable; a Keyring
// is immutable and safe for concurrent use.
type Keyring struct {
	current  *KEK
	previous *KEK // nil when no rotation is in progress
}

// NewKeyring returns a keyring sealing under current and also opening
// blobs sealed under previous (nil for none).
func NewKeyring(current, previous *KEK) (*Keyring, error) {
	if current == nil {
		return nil, errors.New("seal: keyring without a current key-encryption key")
	}
	if previous != nil && previous.id == current.id {
		previous = nil
	}
	return &Keyring{current: current, previous: previous}, nil
}

// Current returns the KEK new blobs are sealed under.
func (r *Keyring) Current() *KEK { return r.current }

// Previous returns the KEK being rotated away from, or nil.
func (r *Keyring) Previous() *KEK { return r.previous }

// Seal seals plaintext under the current KEK.
func (r *Keyring) Seal(rand io.Reader, name string, plaintext []byte) ([]byte, error) {
	return r.current.Seal(rand, name, plaintext)
}

// Open opens a blob sealed under the current or the previous KEK; stale
// reports the latter, meaning the caller should re-seal it (Seal) and store
// it again so the previous KEK can be retired.
func (r *Keyring) Open(name string, blob []byte) (plaintext []byte, stale bool, err error) {
	id, err := BlobKEK(blob)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", name, err)
	}
	if r.previous != nil && id == r.previous.ID() {
		pt, err := r.previous.Open(name, blob)
		return pt, err == nil, err
	}
	pt, err := r.current.Open(name, blob)
	return pt, false, err
}
