package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// MinNonceKeyLen is the shortest HMAC key NewNonceSource accepts.
const MinNonceKeyLen = 32

// nonceLabel separates these HMACs from any other use of the same key.
const nonceLabel = "credshield dpop nonce v1\x00"

// NonceSource issues and checks stateless server nonces (RFC 9449 §8): a
// nonce is the HMAC-SHA256 of the current time window under a server key,
// so any replica holding the key can check it and nothing is stored. A
// nonce is accepted during its own window and the next one, so it lives
// between Period and twice Period; replicas' clocks must agree to well
// within Period. Nonces bound how long a proof made in advance (by an
// attacker who briefly held the key) stays usable.
//
// Create it with NewNonceSource; the zero value is not usable. It is
// immutable and safe for concurrent use.
type NonceSource struct {
	key    []byte
	period time.Duration
}

// NewNonceSource returns a NonceSource that rotates every period (at least a
// second) keyed with key (at least MinNonceKeyLen random bytes, kept secret).
func NewNonceSource(key []byte, period time.Duration) (*NonceSource, error) {
	if len(key) < MinNonceKeyLen {
		return nil, fmt.Errorf("%w: nonce key shorter than %d bytes", ErrConfig, MinNonceKeyLen)
	}
	if period < time.Second {
		return nil, fmt.Errorf("%w: nonce period under a second", ErrConfig)
	}
	return &NonceSource{key: append([]byte(nil), key...), period: period}, nil
}

// Current returns the nonce to send in a DPoP-Nonce header at now.
func (s *NonceSource) Current(now time.Time) string {
	return s.forWindow(s.window(now))
}

// Valid reports whether nonce was issued by s in the window of now or the
// one before. The comparison is constant-time.
func (s *NonceSource) Valid(now time.Time, nonce string) bool {
	w := s.window(now)
	cur := hmac.Equal([]byte(nonce), []byte(s.forWindow(w)))
	prev := hmac.Equal([]byte(nonce), []byte(s.forWindow(w-1)))
	return cur || prev
}

func (s *NonceSource) window(now time.Time) int64 {
	return now.UnixNano() / int64(s.period)
}

func (s *NonceSource) forWindow(w int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(nonceLabel))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(w))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
