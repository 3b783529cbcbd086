package challenge

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"golang.org/x/crypto/argon2"
)

// Sentinel errors of [Issuer.Verify], one per reason, so the guard can
// count and log each verdict; check them with errors.Is. None of them
// carries a secret.
var (
	// ErrMalformed: the token or solution does not decode.
	ErrMalformed = errors.New("challenge: malformed")
	// ErrSignature: the tag does not match; the token was tampered with
	// or signed by another key.
	ErrSignature = errors.New("challenge: bad signature")
	// ErrExpired: the challenge is past its expiry (or issued in the
	// future beyond the allowed clock skew).
	ErrExpired = errors.New("challenge: expired")
	// ErrWrongClient: the challenge was issued for another client key.
	ErrWrongClient = errors.New("challenge: issued for another client")
	// ErrReplayed: the challenge was already spent.
	ErrReplayed = errors.New("challenge: already used")
	// ErrInsufficientWork: the solution does not meet the difficulty.
	ErrInsufficientWork = errors.New("challenge: insufficient work")
	// ErrReplayCacheFull: the replay cache has no room to remember
	// another spent challenge; the server must deny rather than accept a
	// challenge it could not stop from being replayed, and stops issuing.
	ErrReplayCacheFull = errors.New("challenge: replay cache full")
)

// Names on the wire.
const (
	// Algorithm is the value of the JSON "algorithm" field.
	Algorithm = "argon2id"
	// ErrorCode is the OAuth2 "error" code of a token response that
	// demands a challenge.
	ErrorCode = "challenge_required"
	// FormToken and FormSolution are the form fields in which a client
	// sends a solved challenge back with its retried request.
	FormToken    = "challenge"
	FormSolution = "challenge_solution"
)

// Format constants of version 1; the package doc describes the layout.
const (
	version     = 1
	NonceSize   = 16 // bytes of random nonce in a token
	bindingSize = 16
	tagSize     = sha256.Size
	payloadSize = 8 + NonceSize + 8 + 8 + bindingSize
	tokenSize   = payloadSize + tagSize
	outputSize  = 32 // argon2id output bytes
	// MaxDifficulty bounds the difficulty a token may demand: 2^32
	// evaluations is already weeks of work.
	MaxDifficulty = 32
	// maxMemoryKiB, maxTime and maxThreads bound what a token may ask of
	// a solver, so a hostile server cannot make it allocate gigabytes.
	maxMemoryKiB = 64 << 10
	maxTime      = 16
	maxThreads   = 16
)

// encodedSize is the length of a token in unpadded base64url.
var encodedSize = base64.RawURLEncoding.EncodedLen(tokenSize)

// Challenge is a challenge as the server sends it and a solver reads it:
// the token plus its public fields, with the JSON names of the token
// endpoint's answer. The fields only inform the client; the server
// trusts nothing but the signed token.
type Challenge struct {
	Token      string `json:"token"`
	Algorithm  string `json:"algorithm"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Time       uint32 `json:"time"`
	Threads    uint8  `json:"threads"`
	Difficulty int    `json:"difficulty"`
	ExpiresAt  int64  `json:"expires_at"` // Unix seconds
}

// Response is the body of the token endpoint's 400 answer that demands a
// challenge, an RFC 6749 §5.2 error with the challenge attached.
type Response struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	// Detail repeats the description for FastAPI-style front ends.
	Detail    string    `json:"detail"`
	Challenge Challenge `json:"challenge"`
}

// NewResponse wraps c in the token endpoint's "challenge_required" error
// body.
func NewResponse(c Challenge) Response {
	const desc = "solve the proof-of-work challenge and retry with the challenge and challenge_solution form fields"
	return Response{Error: ErrorCode, ErrorDescription: desc, Detail: desc, Challenge: c}
}

// token is a decoded version 1 token.
type token struct {
	raw        [tokenSize]byte // as signed, for the tag and the salt
	memoryKiB  uint32
	time       uint8
	threads    uint8
	difficulty uint8
	nonce      [NonceSize]byte
	issuedAt   int64
	expiresAt  int64
	binding    [bindingSize]byte
	tag        [tagSize]byte
}

// payload returns the signed bytes.
func (t *token) payload() []byte { return t.raw[:payloadSize] }

// marshal lays the fields out in raw, except the tag, which the issuer
// appends with seal.
func (t *token) marshal() {
	b := t.raw[:0]
	b = append(b, version)
	b = binary.BigEndian.AppendUint32(b, t.memoryKiB)
	b = append(b, t.time, t.threads, t.difficulty)
	b = append(b, t.nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.issuedAt))
	b = binary.BigEndian.AppendUint64(b, uint64(t.expiresAt))
	b = append(b, t.binding[:]...)
	b = append(b, t.tag[:]...)
	if len(b) != tokenSize {
		panic("challenge: token layout")
	}
}

// encode returns the token's wire form.
func (t *token) encode() string { return base64.RawURLEncoding.EncodeToString(t.raw[:]) }

// challenge returns the public view of t.
func (t *token) challenge() Challenge {
	return Challenge{
		Token:      t.encode(),
		Algorithm:  Algorithm,
		MemoryKiB:  t.memoryKiB,
		Time:       uint32(t.time),
		Threads:    t.threads,
		Difficulty: int(t.difficulty),
		ExpiresAt:  t.expiresAt,
	}
}

// decode parses a token without checking its tag. Every rejection wraps
// ErrMalformed.
func decode(s string) (*token, error) {
	if len(s) != encodedSize {
		return nil, fmt.Errorf("token of %d characters, want %d: %w", len(s), encodedSize, ErrMalformed)
	}
	t := new(token)
	n, err := base64.RawURLEncoding.Strict().Decode(t.raw[:], []byte(s))
	if err != nil || n != tokenSize {
		return nil, fmt.Errorf("token is not base64url: %w", ErrMalformed)
	}
	b := t.raw[:]
	if b[0] != version {
		return nil, fmt.Errorf("token version %d, want %d: %w", b[0], version, ErrMalformed)
	}
	t.memoryKiB = binary.BigEndian.Uint32(b[1:5])
	t.time, t.threads, t.difficulty = b[5], b[6], b[7]
	copy(t.nonce[:], b[8:24])
	t.issuedAt = int64(binary.BigEndian.Uint64(b[24:32]))
	t.expiresAt = int64(binary.BigEndian.Uint64(b[32:40]))
	copy(t.binding[:], b[40:56])
	copy(t.tag[:], b[56:])
	if err := checkParams(t.memoryKiB, t.time, t.threads, int(t.difficulty)); err != nil {
		return nil, fmt.Errorf("token: %w: %w", err, ErrMalformed)
	}
	return t, nil
}

// checkParams bounds what a token may ask of a solver.
func checkParams(memoryKiB uint32, passes, threads uint8, difficulty int) error {
	switch {
	case threads < 1 || threads > maxThreads:
		return fmt.Errorf("argon2 threads %d out of range 1..%d", threads, maxThreads)
	case memoryKiB < 8*uint32(threads) || memoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB out of range %d..%d", memoryKiB, 8*uint32(threads), maxMemoryKiB)
	case passes < 1 || passes > maxTime:
		return fmt.Errorf("argon2 time %d out of range 1..%d", passes, maxTime)
	case difficulty < 1 || difficulty > MaxDifficulty:
		return fmt.Errorf("difficulty %d out of range 1..%d", difficulty, MaxDifficulty)
	}
	return nil
}

// Decode reads the public fields of an encoded token, for solvers and
// tools. It does not and cannot check the signature: only the issuer can.
// Errors wrap ErrMalformed.
func Decode(encoded string) (Challenge, error) {
	t, err := decode(encoded)
	if err != nil {
		return Challenge{}, err
	}
	return t.challenge(), nil
}

// ExpiresAtTime returns c.ExpiresAt as a time, for solvers that want to
// give up on a challenge that will be refused anyway.
func (c Challenge) ExpiresAtTime() time.Time { return time.Unix(c.ExpiresAt, 0) }

// puzzle holds what an evaluation needs, computed once per token.
type puzzle struct {
	salt       [sha256.Size]byte
	password   [NonceSize + 8]byte // nonce, then the counter
	memoryKiB  uint32
	time       uint32
	threads    uint8
	difficulty int
}

func newPuzzle(t *token) puzzle {
	p := puzzle{
		salt:       sha256.Sum256(t.raw[:]),
		memoryKiB:  t.memoryKiB,
		time:       uint32(t.time),
		threads:    t.threads,
		difficulty: int(t.difficulty),
	}
	copy(p.password[:], t.nonce[:])
	return p
}

// evaluate runs one argon2id evaluation for counter and returns its
// output.
func (p puzzle) evaluate(counter uint64) []byte {
	binary.BigEndian.PutUint64(p.password[NonceSize:], counter) // p is a copy
	return argon2.IDKey(p.password[:], p.salt[:], p.time, p.memoryKiB, p.threads, outputSize)
}

// solves reports whether out has at least difficulty leading zero bits.
func solves(out []byte, difficulty int) bool { return leadingZeros(out) >= difficulty }

// leadingZeros counts the zero bits at the front of b, most significant
// bit of b[0] first.
func leadingZeros(b []byte) int {
	n := 0
	for _, x := range b {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}

// formatSolution and parseSolution convert a counter to and from its wire
// form: decimal, no sign, no leading zeros.
func formatSolution(counter uint64) string { return strconv.FormatUint(counter, 10) }

func parseSolution(s string) (uint64, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("solution is not a canonical decimal counter: %w", ErrMalformed)
	}
	c, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("solution is not a canonical decimal counter: %w", ErrMalformed)
	}
	return c, nil
}
