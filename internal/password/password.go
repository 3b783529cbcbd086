package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Sentinel errors. Errors returned by this package wrap one of them with a
// description of the offending field; check with errors.Is.
var (
	// ErrUnsupported means the hash is of a scheme or variant this package
	// does not verify (unknown prefix, argon2d, argon2 version 0x10, $2x$).
	ErrUnsupported = errors.New("unsupported hash scheme")
	// ErrMalformed means the hash is of a known scheme but does not parse.
	ErrMalformed = errors.New("malformed hash")
	// ErrCostOutOfRange means a cost or size parameter is outside the bounds
	// this package accepts (see the package documentation for why).
	ErrCostOutOfRange = errors.New("hash parameter out of range")
)

// Bounds on argon2 parameters, for new hashes and imported ones alike.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxThreads   = 16
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64

	// bcrypt costs accepted on import: 4 is bcrypt's own minimum; 15 is
	// already ~2 s per verification here (cost 10 ≈ 60 ms), and 31 would be
	// about 1.5 years.
	minBcryptCost = 4
	maxBcryptCost = 15
)

// Params are argon2id parameters for new hashes. The zero value is not valid;
// start from DefaultParams. Params is a plain value, safe to copy and share.
type Params struct {
	MemoryKiB uint32 // m, in KiB
	Time      uint32 // t, passes over memory
	Threads   uint8  // p, lanes
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of derived key
}

// DefaultParams returns the OWASP minimum for argon2id: m=19456 KiB (19 MiB),
// t=2, p=1, a 16-byte salt and a 32-byte key. It is the floor, not a ceiling:
// raise MemoryKiB if the box has memory to spare for Pool.Workers of them.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is within the bounds this package accepts
// (memory 8·threads..1 GiB, time 1..16, threads 1..16, salt 8..64 bytes,
// key 16..64 bytes), so a bad configuration fails at start, not at login.
func (p Params) Validate() error {
	return checkArgon2(uint64(p.MemoryKiB), uint64(p.Time), uint64(p.Threads), int(p.SaltLen), int(p.KeyLen))
}

// checkArgon2 bounds-checks argon2 parameters. Values are passed widened so
// that an imported t=8589934592 is reported as out of range, not truncated.
func checkArgon2(m, t, p uint64, saltLen, keyLen int) error {
	if p < 1 || p > maxThreads {
		return fmt.Errorf("argon2 parallelism p=%d out of range 1..%d: %w", p, maxThreads, ErrCostOutOfRange)
	}
	if m < 8*p || m > maxMemoryKiB {
		return fmt.Errorf("argon2 memory m=%d KiB out of range %d..%d (8*p..1 GiB): %w", m, 8*p, maxMemoryKiB, ErrCostOutOfRange)
	}
	if t < 1 || t > maxTime {
		return fmt.Errorf("argon2 time t=%d out of range 1..%d: %w", t, maxTime, ErrCostOutOfRange)
	}
	if saltLen < minSaltLen || saltLen > maxSaltLen {
		return fmt.Errorf("argon2 salt length %d bytes out of range %d..%d: %w", saltLen, minSaltLen, maxSaltLen, ErrCostOutOfRange)
	}
	if keyLen < minKeyLen || keyLen > maxKeyLen {
		return fmt.Errorf("argon2 key length %d bytes out of range %d..%d: %w", keyLen, minKeyLen, maxKeyLen, ErrCostOutOfRange)
	}
	return nil
}

// Hash returns an argon2id PHC string of password under p, with a salt read
// from rand (pass crypto/rand.Reader). It fails if p is out of bounds or rand
// fails; it never returns a hash with a short salt.
func Hash(rand io.Reader, password []byte, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return encodeArgon2(schemeArgon2id, p.MemoryKiB, p.Time, p.Threads, salt, key), nil
}

func encodeArgon2(s scheme, m, t uint32, p uint8, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return argon2Class(s, m, t, p) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

func argon2Class(s scheme, m, t uint32, p uint8) string {
	return "$" + string(s) + "$v=19$m=" + strconv.FormatUint(uint64(m), 10) +
		",t=" + strconv.FormatUint(uint64(t), 10) + ",p=" + strconv.FormatUint(uint64(p), 10)
}

// Verify checks password against any supported encoded hash. needsRehash is
// true when the match is under a scheme or parameters other than current
// (imported bcrypt/passlib, older argon2 params), so the caller can store
// Hash(password, current) while it still has the password. A mismatch is
// (false, false, nil); err is reserved for hashes that cannot be checked
// (unsupported, malformed, out of bounds), and is checked before any work.
//
// Verify costs one full hash under the encoded parameters: run it in a Pool.
func Verify(encoded string, password []byte, current Params) (match, needsRehash bool, err error) {
	h, err := parse(encoded)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if !h.verify(password) {
		return false, false, nil
	}
	return true, h.needsRehash(current), nil
}

// Check parses and bounds-checks an encoded hash without computing anything
// (used by `user import` to reject a file before storing any of it). It
// returns the hash's Class.
func Check(encoded string) (class string, err error) {
	h, err := parse(encoded)
	if err != nil {
		return "", fmt.Errorf("check hash: %w", err)
	}
	return h.class, nil
}

// Calibrate measures one verification of a hash of the given class, as
// returned by Check: the hash without salt and digest, i.e. scheme and cost,
// such as "$2b$12$" or "$argon2id$v=19$m=19456,t=2,p=1". It builds a
// throwaway hash of that scheme and cost with a random salt (and digest) and
// times one Verify of a random password against it; a mismatch does the same
// work as a match. The server calls it at start for every class it stores
// and pads each failed login to the slowest, so the response time does not
// tell which scheme (or whether any user) was behind a username.
func Calibrate(class string) (time.Duration, error) {
	h, err := parseClass(class)
	if err != nil {
		return 0, fmt.Errorf("calibrate %q: %w", class, err)
	}
	pw := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, pw); err != nil {
		return 0, fmt.Errorf("calibrate: read password: %w", err)
	}
	enc, err := h.throwaway(rand.Reader)
	if err != nil {
		return 0, fmt.Errorf("calibrate %q: %w", class, err)
	}
	start := time.Now()
	_, _, err = Verify(enc, pw, Params{})
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("calibrate %q: %w", class, err)
	}
	return elapsed, nil
}

// Dummy returns a valid argon2id hash under p of a random password. Verify a
// login for an unknown user against it, so that the response costs the same
// work as for a real user with a wrong password.
func Dummy(rand io.Reader, p Params) (string, error) {
	pw := make([]byte, 32)
	if _, err := io.ReadFull(rand, pw); err != nil {
		return "", fmt.Errorf("dummy hash: read password: %w", err)
	}
	return Hash(rand, pw, p)
}

// verify computes the hash of password under h and compares in constant time.
// It requires h to have passed parse (bounds already checked).
func (h *hashed) verify(password []byte) bool {
	switch h.scheme {
	case schemeArgon2id, schemeArgon2i:
		var key []byte
		if h.scheme == schemeArgon2id {
			key = argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		} else {
			key = argon2.Key(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		}
		return subtle.ConstantTimeCompare(key, h.key) == 1
	case schemeBcrypt:
		return bcrypt.CompareHashAndPassword(h.bcrypt, password) == nil
	case schemeBcryptSHA256:
		return bcrypt.CompareHashAndPassword(h.bcrypt, bcryptSHA256Key(h.version, h.bsalt, password)) == nil
	}
	return false
}

// needsRehash reports whether a matched hash differs from what Hash would
// store under current.
func (h *hashed) needsRehash(current Params) bool {
	return h.scheme != schemeArgon2id ||
		h.memory != current.MemoryKiB || h.time != current.Time || h.threads != current.Threads ||
		uint32(len(h.salt)) != current.SaltLen || uint32(len(h.key)) != current.KeyLen
}

// throwaway returns a hash of h's scheme and cost with a random salt and a
// random digest. Verifying any password against it does the full work of a
// real verification (a mismatch computes the whole hash before comparing),
// without needing a bcrypt that takes a caller-chosen salt, which
// x/crypto/bcrypt does not expose and bcrypt_sha256 v2 would require.
func (h *hashed) throwaway(rnd io.Reader) (string, error) {
	switch h.scheme {
	case schemeArgon2id, schemeArgon2i:
		buf := make([]byte, 16+32)
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("read salt: %w", err)
		}
		return encodeArgon2(h.scheme, h.memory, h.time, h.threads, buf[:16], buf[16:]), nil
	case schemeBcrypt, schemeBcryptSHA256:
		salt, err := randomBcrypt64(rnd, 22)
		if err != nil {
			return "", err
		}
		digest, err := randomBcrypt64(rnd, 31)
		if err != nil {
			return "", err
		}
		if h.scheme == schemeBcrypt {
			return h.class + salt + digest, nil
		}
		return h.class + "$" + salt + "$" + digest, nil
	}
	return "", fmt.Errorf("no throwaway for scheme %s", h.scheme)
}

// randomBcrypt64 returns n random characters of bcrypt's base64 alphabet whose
// last character has its unused low bits clear (one of ".Oeu"), as bcrypt
// salts written by passlib and OpenBSD do.
func randomBcrypt64(rnd io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	for i := range b {
		b[i] = bcrypt64Alphabet[b[i]&63]
	}
	b[n-1] = ".Oeu"[b[n-1]&3]
	return string(b), nil
}
