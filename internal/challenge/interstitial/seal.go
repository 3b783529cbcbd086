// Package interstitial is the page a person at a browser gets when the
// login form they posted must first pass the proof-of-work challenge
// (package challenge): the page solves it in the browser's Web Workers
// (package browser's solver), shows progress, and posts the login on by
// itself. The form the person sent never sits in the page in clear: it is
// sealed here with AES-256-GCM (package seal) under a key of the proxy's, bound to the
// challenge, the client address and the login URL, valid for Lifetime,
// and opened once when the page posts it back with the solution.
package interstitial

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/seal"
)

// Lifetime is how long a sealed form may be posted back: a slow phone at
// challenge.DifficultyUnderAttack solves well within it, and a page left
// in a browser's history is useless soon after.
const Lifetime = 2 * time.Minute

// KeySize is the size of the sealing key: AES-256.
const KeySize = seal.KeySize

// Errors of Open; none carries anything of the sealed form.
var (
	// ErrMalformed: the blob does not decode, or was sealed for another
	// challenge, client or login URL, or under another key.
	ErrMalformed = errors.New("interstitial: sealed form not valid")
	// ErrExpired: the blob is past its Lifetime.
	ErrExpired = errors.New("interstitial: sealed form expired")
	// ErrReplayed: the blob was opened before.
	ErrReplayed = errors.New("interstitial: sealed form already used")
)

// Binding is what a sealed form is bound to: it opens only with the same
// three values (they are the GCM additional data, never stored in the
// blob).
type Binding struct {
	// Challenge is the encoded challenge the page solves.
	Challenge string
	// Client is the client address as the proxy resolved it.
	Client string
	// Target is the login URL (path and query) the form was posted to
	// and the page posts back to.
	Target string
}

// Blob layout, before base64url: version (1) | expires, Unix seconds
// (8) | id (16) | the form sealed by package seal, whose name (its
// additional data) is this header and the Binding.
const (
	blobVersion = 1
	idSize      = challenge.NonceSize // the replay cache's key size
	headerSize  = 1 + 8 + idSize
)

// Sealer seals and opens login forms. Build it with NewSealer; the zero
// value is not usable. It is safe for concurrent use when its replay
// cache is.
type Sealer struct {
	key    *seal.KEK
	replay challenge.ReplayCache
}

// NewSealer returns a Sealer under key (KeySize random bytes, shared by
// replicas) that records opened blobs in replay (the challenges' own
// replay cache: blob ids are random and never meet a challenge nonce).
func NewSealer(key []byte, replay challenge.ReplayCache) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("interstitial key of %d bytes, want %d", len(key), KeySize)
	}
	if replay == nil {
		return nil, errors.New("interstitial: no replay cache")
	}
	k, err := seal.NewKEK(key)
	if err != nil {
		return nil, fmt.Errorf("interstitial key: %w", err)
	}
	return &Sealer{key: k, replay: replay}, nil
}

// Seal returns body sealed for b, valid until now plus Lifetime, in
// base64url; rand supplies the id and the GCM nonce.
func (s *Sealer) Seal(rand io.Reader, now time.Time, b Binding, body []byte) (string, error) {
	head := make([]byte, headerSize)
	head[0] = blobVersion
	binary.BigEndian.PutUint64(head[1:9], uint64(now.Add(Lifetime).Unix()))
	if _, err := io.ReadFull(rand, head[9:]); err != nil {
		return "", fmt.Errorf("seal login form: %w", err)
	}
	sealed, err := s.key.Seal(rand, additionalData(head, b), body)
	if err != nil {
		return "", fmt.Errorf("seal login form: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(append(head, sealed...)), nil
}

// Open returns the form sealed in blob for b, and spends the blob: a
// second Open of it answers ErrReplayed until it expires. The checks that
// cost nothing run first; the replay cache is written only for a blob
// that authenticates.
func (s *Sealer) Open(ctx context.Context, now time.Time, b Binding, blob string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(blob)
	if err != nil || len(raw) < headerSize+seal.Overhead || raw[0] != blobVersion {
		return nil, ErrMalformed
	}
	body, err := s.key.Open(additionalData(raw[:headerSize], b), raw[headerSize:])
	if err != nil {
		return nil, ErrMalformed
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(raw[1:9])), 0)
	if !now.Before(expires) {
		return nil, ErrExpired
	}
	fresh, err := s.replay.Seen(ctx, now, raw[9:headerSize], expires)
	if err != nil {
		return nil, fmt.Errorf("open login form: %w", err)
	}
	if !fresh {
		return nil, ErrReplayed
	}
	return body, nil
}

// additionalData is the header followed by the binding's three values,
// each preceded by its length, so no two bindings share a byte string:
// the name the form is sealed under.
func additionalData(header []byte, b Binding) string {
	var ad bytes.Buffer
	ad.Write(header)
	for _, v := range []string{b.Challenge, b.Client, b.Target} {
		_ = binary.Write(&ad, binary.BigEndian, uint32(len(v)))
		ad.WriteString(v)
	}
	return ad.String()
}
