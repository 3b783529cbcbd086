// Package device issues and checks device credentials: OWASP's "device
// cookies" (Slow Down Online Guessing Attacks with Device Cookies). A client
// that has logged in successfully as a user receives a credential for that
// user; when it comes back with it, the guard gives it a budget of its own
// instead of the per-account budget that untrusted clients share. So an
// attacker who spends an account's shared budget cannot lock out its owner,
// and a stolen credential buys only its own small budget.
//
// A credential is stateless: HMAC-SHA256 over the username it was issued
// for, a random device id, an expiry and the account's device epoch. The
// epoch is a counter stored with the account and raised by a password reset
// or a disable, which revokes every credential issued before at once,
// without a table of devices.
//
// Encoding (version 1), base64url without padding of 57 bytes:
//
//	version (1) = 1 | expires (8, big-endian unix seconds) | device id (12) |
//	epoch (4, big-endian) | MAC (32)
//
// where MAC = HMAC-SHA256(key, "credshield device v1" | 0x00 | the first 25
// bytes | username). The username is not in the token: the verifier
// supplies the normalised name the client is logging in as.
package device

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultLifetime is how long a credential is trusted: 90 days.
const DefaultLifetime = 90 * 24 * time.Hour

const (
	version     = 1
	idSize      = 12
	headerSize  = 1 + 8 + idSize + 4
	macSize     = sha256.Size
	tokenSize   = headerSize + macSize
	macContext  = "credshield device v1"
	minKeyBytes = 32
)

// Errors returned by Verify. None of them says anything about an account;
// they describe the credential.
var (
	ErrMalformed = errors.New("device credential malformed")
	ErrInvalid   = errors.New("device credential invalid") // MAC mismatch: forged, or for another user
	ErrExpired   = errors.New("device credential expired")
	ErrRevoked   = errors.New("device credential revoked") // epoch changed: password reset or account disabled
)

// Credential is a verified or freshly issued credential.
type Credential struct {
	// ID names the device; the guard keys the device's own budget on it.
	ID string
	// Token is the encoded credential for the cookie and JSON response.
	Token     string
	ExpiresAt time.Time
	Epoch     uint32
}

// Issuer signs and checks credentials. It is immutable and safe for
// concurrent use.
type Issuer struct {
	key      []byte
	lifetime time.Duration
}

// NewIssuer returns an Issuer with key (at least 32 bytes) and lifetime
// (DefaultLifetime when zero).
func NewIssuer(key []byte, lifetime time.Duration) (*Issuer, error) {
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("device: key of %d bytes; want at least %d", len(key), minKeyBytes)
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if lifetime < time.Minute {
		return nil, fmt.Errorf("device: lifetime %v too short", lifetime)
	}
	return &Issuer{key: append([]byte(nil), key...), lifetime: lifetime}, nil
}

// Lifetime is how long issued credentials last.
func (is *Issuer) Lifetime() time.Duration { return is.lifetime }

// Issue returns a new credential for username (normalised) under the
// account's current device epoch.
func (is *Issuer) Issue(rand io.Reader, now time.Time, username string, epoch uint32) (Credential, error) {
	var raw [tokenSize]byte
	raw[0] = version
	exp := now.Add(is.lifetime).Truncate(time.Second)
	binary.BigEndian.PutUint64(raw[1:9], uint64(exp.Unix()))
	if _, err := io.ReadFull(rand, raw[9:9+idSize]); err != nil {
		return Credential{}, fmt.Errorf("device: id: %w", err)
	}
	binary.BigEndian.PutUint32(raw[9+idSize:headerSize], epoch)
	copy(raw[headerSize:], is.mac(nil, raw[:headerSize], username))
	return Credential{
		ID:        hex.EncodeToString(raw[9 : 9+idSize]),
		Token:     base64.RawURLEncoding.EncodeToString(raw[:]),
		ExpiresAt: exp,
		Epoch:     epoch,
	}, nil
}

// Verify checks that token is a credential issued for username and not
// expired at now. It does not check the epoch, which needs the account:
// call CheckEpoch once the account is loaded. Verify costs one HMAC and no
// I/O, so it may run before the guard.
func (is *Issuer) Verify(now time.Time, token, username string) (Credential, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenSize) {
		return Credential{}, ErrMalformed
	}
	var raw [tokenSize]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(token))
	if err != nil || n != tokenSize || raw[0] != version {
		return Credential{}, ErrMalformed
	}
	if !hmac.Equal(raw[headerSize:], is.mac(nil, raw[:headerSize], username)) {
		return Credential{}, ErrInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[1:9])), 0)
	if !now.Before(exp) {
		return Credential{}, ErrExpired
	}
	return Credential{
		ID:        hex.EncodeToString(raw[9 : 9+idSize]),
		Token:     token,
		ExpiresAt: exp,
		Epoch:     binary.BigEndian.Uint32(raw[9+idSize : headerSize]),
	}, nil
}

// CheckEpoch reports ErrRevoked when c was issued under an older device
// epoch than the account's current one.
func CheckEpoch(c Credential, current uint32) error {
	if c.Epoch != current {
		return ErrRevoked
	}
	return nil
}

func (is *Issuer) mac(dst, header []byte, username string) []byte {
	m := hmac.New(sha256.New, is.key)
	m.Write([]byte(macContext))
	m.Write([]byte{0})
	m.Write(header)
	m.Write([]byte(username))
	return m.Sum(dst)
}
