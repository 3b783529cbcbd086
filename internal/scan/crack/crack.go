// Package crack recovers weak HMAC secrets of HS256, HS384 and HS512 JSON
// Web Tokens (RFC 7518 §3.2) offline, from one token the target issued.
//
// A token signed with a secret from a tutorial, a framework default or a
// dictionary is forgeable by anyone who holds one token: the attacker tries
// candidate secrets locally, at millions per second, without sending a
// single request. This package is that attacker, so that the scanner can
// prove the weakness before someone else does.
//
// HMAC(k, m) = H((k ⊕ opad) ‖ H((k ⊕ ipad) ‖ m)) (RFC 2104). With a fixed
// message and a changing key nothing hash-dependent can be carried from one
// guess to the next, because the key block is hashed first; what can be
// saved is everything else. Each worker owns two buffers, ipad‖m and
// opad‖inner, built once; a guess rewrites the key blocks in place and hashes
// both with the one-shot sha256.Sum256 (or Sum384/Sum512), so a guess costs
// the compression function calls and nothing else: no hmac.New, no
// allocation, no interface calls.
package crack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnsupported is returned for a token whose alg is not HS256, HS384 or
// HS512: only HMAC secrets can be guessed.
var ErrUnsupported = errors.New("crack: not an HMAC-signed token")

// ErrMalformed is returned for a string that is not a compact JWS.
var ErrMalformed = errors.New("crack: malformed token")

// Target is the part of one token the cracker needs: the algorithm, the
// signing input and the signature. It is immutable once built and safe for
// concurrent use.
type Target struct {
	alg   string
	block int    // hash block size in bytes
	msg   []byte // the JWS signing input, header.payload
	sig   []byte
}

// NewTarget parses a compact JWS signed with HS256, HS384 or HS512.
func NewTarget(token string) (*Target, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	t := &Target{alg: h.Alg, msg: []byte(parts[0] + "." + parts[1]), sig: sig}
	switch h.Alg {
	case "HS256":
		t.block = sha256.BlockSize
		if len(sig) != sha256.Size {
			return nil, fmt.Errorf("%w: HS256 signature of %d bytes", ErrMalformed, len(sig))
		}
	case "HS384":
		t.block = sha512.BlockSize
		if len(sig) != sha512.Size384 {
			return nil, fmt.Errorf("%w: HS384 signature of %d bytes", ErrMalformed, len(sig))
		}
	case "HS512":
		t.block = sha512.BlockSize
		if len(sig) != sha512.Size {
			return nil, fmt.Errorf("%w: HS512 signature of %d bytes", ErrMalformed, len(sig))
		}
	default:
		return nil, fmt.Errorf("%w: alg %q", ErrUnsupported, h.Alg)
	}
	return t, nil
}

// Alg returns the token's algorithm: HS256, HS384 or HS512.
func (t *Target) Alg() string { return t.alg }

// Check reports whether key is the token's secret. It is the plain
// hmac.New form, kept as the reference the fast path is tested against.
func (t *Target) Check(key []byte) bool {
	var mac = hmac.New(sha256.New, key)
	switch t.alg {
	case "HS384":
		mac = hmac.New(sha512.New384, key)
	case "HS512":
		mac = hmac.New(sha512.New, key)
	}
	mac.Write(t.msg)
	return hmac.Equal(mac.Sum(nil), t.sig)
}

// ipad and opad are RFC 2104's pads for the largest block size.
var (
	ipad = [sha512.BlockSize]byte(bytes.Repeat([]byte{0x36}, sha512.BlockSize))
	opad = [sha512.BlockSize]byte(bytes.Repeat([]byte{0x5c}, sha512.BlockSize))
)

// guesser is one worker's reusable HMAC state for a Target. Not safe for
// concurrent use: each worker has its own.
type guesser struct {
	t     *Target
	inner []byte // (k ⊕ ipad) ‖ msg
	outer []byte // (k ⊕ opad) ‖ H(inner)
	long  [sha512.Size]byte
}

func newGuesser(t *Target) *guesser {
	size := len(t.sig)
	g := &guesser{t: t, inner: make([]byte, t.block+len(t.msg)), outer: make([]byte, t.block+size)}
	copy(g.inner[t.block:], t.msg)
	return g
}

// try reports whether key signs the target's message.
func (g *guesser) try(key []byte) bool {
	b := g.t.block
	if len(key) > b { // RFC 2104: longer keys are hashed first
		switch g.t.alg {
		case "HS256":
			s := sha256.Sum256(key)
			key = append(g.long[:0], s[:]...)
		case "HS384":
			s := sha512.Sum384(key)
			key = append(g.long[:0], s[:]...)
		default:
			s := sha512.Sum512(key)
			key = append(g.long[:0], s[:]...)
		}
	}
	// Start from the bare pads (one memmove each) and mix in only the
	// key's bytes: a typical key is far shorter than the block.
	in, out := g.inner[:b], g.outer[:b]
	copy(in, ipad[:b])
	copy(out, opad[:b])
	for i, c := range key {
		in[i] ^= c
		out[i] ^= c
	}
	switch g.t.alg {
	case "HS256":
		s := sha256.Sum256(g.inner)
		copy(g.outer[b:], s[:])
		mac := sha256.Sum256(g.outer)
		return g.match(mac[:])
	case "HS384":
		s := sha512.Sum384(g.inner)
		copy(g.outer[b:], s[:])
		mac := sha512.Sum384(g.outer)
		return g.match(mac[:])
	default:
		s := sha512.Sum512(g.inner)
		copy(g.outer[b:], s[:])
		mac := sha512.Sum512(g.outer)
		return g.match(mac[:])
	}
}

// match compares a computed MAC with the token's signature. Neither is a
// secret (the signature is public, the key is a guess), so the first eight
// bytes settle almost every miss before the full comparison.
func (g *guesser) match(mac []byte) bool {
	if binary.LittleEndian.Uint64(mac) != binary.LittleEndian.Uint64(g.t.sig) {
		return false
	}
	return hmac.Equal(mac, g.t.sig)
}

// Result is the outcome of a Crack run.
type Result struct {
	// Found says Secret signs the token. Secret is a copy the caller owns;
	// it is a live credential of the target and must not be logged.
	Found  bool
	Secret []byte
	// Tried is how many candidates were hashed (all of them when not
	// found; a run stops early once one worker finds the secret).
	Tried   int64
	Elapsed time.Duration
}

// Rate is the number of guesses per second the run reached.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Tried) / r.Elapsed.Seconds()
}

// chunkSize is how many bytes of candidates a worker takes at a time: large
// enough that the channel hand-off is noise, small enough that the work
// spreads over the cores for a short list.
const chunkSize = 64 << 10

// Crack tries every newline-separated candidate read from src (a trailing
// "\r" is removed, empty lines are skipped) on workers goroutines (all CPUs
// when workers < 1). The empty secret is always tried first. It returns when
// the secret is found, src is exhausted, or ctx is done (then with ctx's
// error and the partial count).
func Crack(ctx context.Context, t *Target, src io.Reader, workers int) (Result, error) {
	start := time.Now()
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	if newGuesser(t).try(nil) {
		return Result{Found: true, Secret: []byte{}, Tried: 1, Elapsed: time.Since(start)}, nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	chunks := make(chan []byte, workers*2)
	var tried atomic.Int64
	var once sync.Once
	var secret []byte
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGuesser(t)
			for chunk := range chunks {
				var n int64
				rest := chunk
				for len(rest) > 0 {
					line := rest
					if i := bytes.IndexByte(rest, '\n'); i >= 0 {
						line, rest = rest[:i], rest[i+1:]
					} else {
						rest = nil
					}
					if k := len(line); k > 0 && line[k-1] == '\r' {
						line = line[:k-1]
					}
					if len(line) == 0 {
						continue
					}
					n++
					if g.try(line) {
						once.Do(func() { secret = bytes.Clone(line) })
						cancel()
						break
					}
				}
				tried.Add(n)
			}
		}()
	}

	readErr := feed(ctx, src, chunks)
	close(chunks)
	wg.Wait()
	res := Result{Tried: tried.Load() + 1, Elapsed: time.Since(start)}
	if secret != nil {
		res.Found, res.Secret = true, secret
		return res, nil
	}
	if readErr != nil {
		return res, readErr
	}
	return res, parent.Err()
}

// maxLine is the longest candidate considered; a longer line is skipped
// rather than buffered without limit.
const maxLine = 1 << 20

// feed reads src in chunks that end on a line boundary and hands them to
// the workers until src ends or ctx is done.
func feed(ctx context.Context, src io.Reader, chunks chan<- []byte) error {
	var carry []byte
	for {
		if len(carry) > maxLine {
			carry = nil
		}
		buf := make([]byte, len(carry), chunkSize+len(carry))
		copy(buf, carry)
		n, err := io.ReadFull(src, buf[len(carry):cap(buf)])
		buf = buf[:len(carry)+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return fmt.Errorf("crack: read candidates: %w", err)
		}
		carry = nil
		if !eof {
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
				carry, buf = buf[i+1:], buf[:i+1]
			} else {
				carry, buf = buf, nil // one very long line: keep reading
			}
		}
		if len(buf) > 0 {
			select {
			case chunks <- buf:
			case <-ctx.Done():
				return nil
			}
		}
		if eof || ctx.Err() != nil {
			return nil
		}
	}
}
