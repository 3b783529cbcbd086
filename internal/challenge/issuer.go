package challenge

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Defaults. One evaluation at the default cost (argon2id, 1 MiB, t=1,
// p=1) took 0.7 ms on one core of the 2-core AMD EPYC where this was
// written, 1/28 of the server's own login hash (19 MiB, t=2: 19.5 ms);
// expect 3 to 10 times longer on a phone running argon2 in WebAssembly.
const (
	// DefaultMemoryKiB, DefaultTime and DefaultThreads are the argon2id
	// cost of one evaluation.
	DefaultMemoryKiB = 1024
	DefaultTime      = 1
	DefaultThreads   = 1
	// DifficultyNormal is for a client past its soft limits in quiet
	// times: 2^6 = 64 evaluations on average, 45 ms on a server core,
	// 0.1 to 0.5 s on a phone.
	DifficultyNormal = 6
	// DifficultyUnderAttack is for every untrusted client while the
	// attack detector is on: 2^10 = 1024 evaluations on average, 0.7 s on
	// a server core and 2 to 7 s on a phone; a stuffing botnet pays
	// 0.7 core-seconds per guess, 200 core-hours per million guesses.
	DifficultyUnderAttack = 10
	// DefaultTTL is how long a challenge may be solved and sent back: a
	// slow phone at DifficultyUnderAttack finishes well within it.
	DefaultTTL = 2 * time.Minute
	// DefaultClockSkew is how far in the future a challenge's issue time
	// may lie, for replicas whose clocks differ.
	DefaultClockSkew = 30 * time.Second
	// MinKeySize is the shortest HMAC key an Issuer accepts.
	MinKeySize = 32
)

// HKDF info strings that separate the two keys derived from the
// Issuer's key.
const (
	infoMAC    = "credshield challenge v1 mac"
	infoClient = "credshield challenge v1 client"
)

// Config tunes an Issuer. The zero value means the defaults above.
type Config struct {
	TTL       time.Duration // lifetime of a challenge; DefaultTTL if 0
	MemoryKiB uint32        // argon2id m; DefaultMemoryKiB if 0
	Time      uint8         // argon2id t; DefaultTime if 0
	Threads   uint8         // argon2id p; DefaultThreads if 0
	ClockSkew time.Duration // tolerated issue time in the future; DefaultClockSkew if 0
	Rand      io.Reader     // source of nonces; crypto/rand if nil
}

// withDefaults fills the zero fields of c and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MemoryKiB == 0 {
		c.MemoryKiB = DefaultMemoryKiB
	}
	if c.Time == 0 {
		c.Time = DefaultTime
	}
	if c.Threads == 0 {
		c.Threads = DefaultThreads
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.TTL < time.Second || c.ClockSkew < 0 {
		return c, fmt.Errorf("challenge config: TTL %v must be at least 1s and clock skew %v not negative", c.TTL, c.ClockSkew)
	}
	if err := checkParams(c.MemoryKiB, c.Time, c.Threads, 1); err != nil {
		return c, fmt.Errorf("challenge config: %w", err)
	}
	return c, nil
}

// ReplayCache remembers spent challenges until they expire. The Issuer
// declares what it needs; [MemoryReplay] is the in-process
// implementation, and a shared store serves several replicas.
// Implementations must be safe for concurrent use.
type ReplayCache interface {
	// Seen records nonce as spent until expires and reports whether it
	// was fresh (not spent before). An entry must not be dropped before
	// expires: when there is no room, Seen returns ErrReplayCacheFull
	// and records nothing.
	Seen(ctx context.Context, now time.Time, nonce []byte, expires time.Time) (fresh bool, err error)
	// Full reports whether Seen would find no room now, so that the
	// Issuer stops handing out challenges it could not accept.
	Full(ctx context.Context, now time.Time) (bool, error)
}

// Issuer issues and verifies challenges. It keeps no state per challenge
// beyond what its ReplayCache holds for spent ones, so replicas that
// share the key and the cache accept each other's challenges.
//
// Create one with NewIssuer; the zero value is not usable. An Issuer is
// safe for concurrent use when its ReplayCache is.
type Issuer struct {
	macKey, clientKey []byte
	cfg               Config
	replay            ReplayCache
	evaluations       atomic.Uint64 // argon2id evaluations in Verify, for tests
}

// NewIssuer returns an Issuer that signs with a key derived from key (at
// least MinKeySize random bytes, kept secret and shared by replicas) and
// remembers spent challenges in replay.
func NewIssuer(key []byte, cfg Config, replay ReplayCache) (*Issuer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("challenge key of %d bytes, want at least %d", len(key), MinKeySize)
	}
	if replay == nil {
		return nil, errors.New("challenge: no replay cache")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, infoMAC, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("derive challenge key: %w", err)
	}
	clientKey, err := hkdf.Key(sha256.New, key, nil, infoClient, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("derive challenge key: %w", err)
	}
	return &Issuer{macKey: macKey, clientKey: clientKey, cfg: cfg, replay: replay}, nil
}

// Issue returns a challenge of the given difficulty (1..MaxDifficulty
// leading zero bits; see DifficultyNormal and DifficultyUnderAttack) for
// clientKey, an opaque string the server derives from what it knows of
// the client (for example "ip:203.0.113.7|user:alice"); Verify accepts
// the solution only for the same clientKey. The challenge expires at now
// plus the TTL, rounded down to the second.
//
// When the replay cache is full Issue returns ErrReplayCacheFull: the
// caller must then deny the attempt, not let it through unchallenged.
func (is *Issuer) Issue(ctx context.Context, now time.Time, clientKey []byte, difficulty int) (Challenge, error) {
	if difficulty < 1 || difficulty > MaxDifficulty {
		return Challenge{}, fmt.Errorf("issue challenge: difficulty %d out of range 1..%d", difficulty, MaxDifficulty)
	}
	if len(clientKey) == 0 {
		return Challenge{}, errors.New("issue challenge: empty client key")
	}
	full, err := is.replay.Full(ctx, now)
	if err != nil {
		return Challenge{}, fmt.Errorf("issue challenge: %w", err)
	}
	if full {
		return Challenge{}, fmt.Errorf("issue challenge: %w", ErrReplayCacheFull)
	}
	t := &token{
		memoryKiB:  is.cfg.MemoryKiB,
		time:       is.cfg.Time,
		threads:    is.cfg.Threads,
		difficulty: uint8(difficulty),
		issuedAt:   now.Unix(),
		expiresAt:  now.Add(is.cfg.TTL).Unix(),
		binding:    is.bind(clientKey),
	}
	if _, err := io.ReadFull(is.cfg.Rand, t.nonce[:]); err != nil {
		return Challenge{}, fmt.Errorf("issue challenge: read nonce: %w", err)
	}
	t.marshal()
	copy(t.tag[:], is.sign(t.payload()))
	copy(t.raw[payloadSize:], t.tag[:])
	return t.challenge(), nil
}

// Verify accepts solution for the encoded challenge from the client
// with clientKey, and spends the challenge. It runs the cheap checks
// first and the one argon2id evaluation last (see the package doc), and
// returns the challenge's public fields on success, so the caller can
// compare its difficulty with what it demands now. Each rejection wraps
// one of the sentinel errors.
func (is *Issuer) Verify(ctx context.Context, now time.Time, clientKey []byte, encoded, solution string) (Challenge, error) {
	t, err := decode(encoded)
	if err != nil {
		return Challenge{}, err
	}
	counter, err := parseSolution(solution)
	if err != nil {
		return Challenge{}, err
	}
	if !hmac.Equal(is.sign(t.payload()), t.tag[:]) {
		return Challenge{}, ErrSignature
	}
	expires := time.Unix(t.expiresAt, 0)
	if !now.Before(expires) || now.Add(is.cfg.ClockSkew).Before(time.Unix(t.issuedAt, 0)) {
		return Challenge{}, ErrExpired
	}
	binding := is.bind(clientKey)
	if !hmac.Equal(binding[:], t.binding[:]) {
		return Challenge{}, ErrWrongClient
	}
	fresh, err := is.replay.Seen(ctx, now, t.nonce[:], expires)
	if err != nil {
		return Challenge{}, fmt.Errorf("verify challenge: %w", err)
	}
	if !fresh {
		return Challenge{}, ErrReplayed
	}
	is.evaluations.Add(1)
	if !solves(newPuzzle(t).evaluate(counter), int(t.difficulty)) {
		return Challenge{}, ErrInsufficientWork
	}
	return t.challenge(), nil
}

// sign returns the tag of payload.
func (is *Issuer) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, is.macKey)
	m.Write(payload)
	return m.Sum(nil)
}

// bind returns the client binding of clientKey.
func (is *Issuer) bind(clientKey []byte) [bindingSize]byte {
	m := hmac.New(sha256.New, is.clientKey)
	m.Write(clientKey)
	var b [bindingSize]byte
	copy(b[:], m.Sum(nil))
	return b
}
