package challenge

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testKey = bytes.Repeat([]byte{0x42}, 32)
	t0      = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	alice   = []byte("ip:203.0.113.7|user:alice")
	mallory = []byte("ip:198.51.100.9|user:alice")
)

// cheap is an argon2id cost for tests where the cost does not matter.
var cheap = Config{MemoryKiB: 8}

func newIssuer(t *testing.T, cfg Config, capacity int) *Issuer {
	t.Helper()
	r, err := NewMemoryReplay(capacity)
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewIssuer(testKey, cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func issue(t *testing.T, is *Issuer, now time.Time, clientKey []byte, difficulty int) Challenge {
	t.Helper()
	c, err := is.Issue(context.Background(), now, clientKey, difficulty)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return c
}

func solve(t *testing.T, encoded string) string {
	t.Helper()
	s, _, err := Solve(context.Background(), encoded, 2)
	if err != nil {
		t.Fatalf("Solve: %v", err)
	}
	return s
}

// tamper returns encoded with f applied to its bytes.
func tamper(t *testing.T, encoded string, f func(b []byte)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// failing returns a counter that does not solve encoded.
func failing(t *testing.T, encoded string) string {
	t.Helper()
	tok, err := decode(encoded)
	if err != nil {
		t.Fatal(err)
	}
	p := newPuzzle(tok)
	for c := uint64(0); ; c++ {
		if !solves(p.evaluate(c), p.difficulty) {
			return formatSolution(c)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	// The real argon2id cost, at a low difficulty.
	is := newIssuer(t, Config{}, 16)
	c := issue(t, is, t0, alice, 4)
	want := Challenge{Token: c.Token, Algorithm: "argon2id", MemoryKiB: 1024, Time: 1, Threads: 1, Difficulty: 4, ExpiresAt: t0.Add(DefaultTTL).Unix()}
	if c != want {
		t.Errorf("Issue = %+v, want %+v", c, want)
	}
	if len(c.Token) != 118 {
		t.Errorf("token of %d characters, want 118", len(c.Token))
	}
	if d, err := Decode(c.Token); err != nil || d != c {
		t.Errorf("Decode = %+v, %v; want %+v", d, err, c)
	}
	sol, evals, err := Solve(context.Background(), c.Token, 2)
	if err != nil || evals < 1 {
		t.Fatalf("Solve = %q, %d, %v", sol, evals, err)
	}
	got, err := is.Verify(context.Background(), t0.Add(DefaultTTL-time.Nanosecond), alice, c.Token, sol)
	if err != nil || got != c {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	if n := is.evaluations.Load(); n != 1 {
		t.Errorf("Verify ran %d evaluations, want 1", n)
	}
}

func TestSolveWorkers(t *testing.T) {
	is := newIssuer(t, cheap, 16)
	for _, workers := range []int{0, 1, 3} {
		c := issue(t, is, t0, alice, 6)
		sol, evals, err := Solve(context.Background(), c.Token, workers)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		if _, err := is.Verify(context.Background(), t0, alice, c.Token, sol); err != nil {
			t.Errorf("%d workers: Verify(%q): %v", workers, sol, err)
		}
		// One worker tries 0, 1, 2, ...: the solution is the smallest.
		if n, _ := parseSolution(sol); workers <= 1 && n+1 != uint64(evals) {
			t.Errorf("%d workers: solution %d after %d evaluations", workers, n, evals)
		}
	}
}

func TestSolveStops(t *testing.T) {
	is := newIssuer(t, cheap, 16)
	c := issue(t, is, t0, alice, MaxDifficulty)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Solve(ctx, c.Token, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("Solve with a cancelled context: %v", err)
	}
	if _, _, err := Solve(context.Background(), "nope", 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("Solve(malformed): %v", err)
	}
}

// TestVerifyRejects checks each rejection and that the cheap ones never
// reach the argon2id evaluation.
func TestVerifyRejects(t *testing.T) {
	is := newIssuer(t, cheap, 64)
	other, err := NewIssuer(bytes.Repeat([]byte{0x43}, 32), cheap, mustReplay(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	tests := []struct {
		name   string
		issuer *Issuer // nil: is
		mutate func(c *Challenge) (clientKey []byte, token, solution string, now time.Time)
		want   error
		evals  uint64 // argon2id evaluations Verify may run
	}{
		{"empty token", nil, func(c *Challenge) ([]byte, string, string, time.Time) { return alice, "", solve(t, c.Token), now }, ErrMalformed, 0},
		{"padded token", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token[:116] + "==", solve(t, c.Token), now
		}, ErrMalformed, 0},
		{"not base64url", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, "+" + c.Token[1:], solve(t, c.Token), now
		}, ErrMalformed, 0},
		{"version 2", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, tamper(t, c.Token, func(b []byte) { b[0] = 2 }), solve(t, c.Token), now
		}, ErrMalformed, 0},
		{"solution with leading zero", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, "0" + solve(t, c.Token), now
		}, ErrMalformed, 0},
		{"signed solution", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, "+" + solve(t, c.Token), now
		}, ErrMalformed, 0},
		{"empty solution", nil, func(c *Challenge) ([]byte, string, string, time.Time) { return alice, c.Token, "", now }, ErrMalformed, 0},
		{"solution overflows", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, "18446744073709551616", now
		}, ErrMalformed, 0},
		{"difficulty lowered", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			tok := tamper(t, c.Token, func(b []byte) { b[7] = 1 })
			return alice, tok, solve(t, tok), now
		}, ErrSignature, 0},
		{"memory changed", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			tok := tamper(t, c.Token, func(b []byte) { b[4] = 16 })
			return alice, tok, solve(t, tok), now
		}, ErrSignature, 0},
		{"nonce changed", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			tok := tamper(t, c.Token, func(b []byte) { b[8] ^= 1 })
			return alice, tok, solve(t, tok), now
		}, ErrSignature, 0},
		{"expiry extended", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			tok := tamper(t, c.Token, func(b []byte) { b[38]++ })
			return alice, tok, solve(t, tok), c.ExpiresAtTime().Add(time.Second)
		}, ErrSignature, 0},
		{"client binding changed", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			tok := tamper(t, c.Token, func(b []byte) { b[40] ^= 0x80 })
			return alice, tok, solve(t, tok), now
		}, ErrSignature, 0},
		{"tag changed", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, tamper(t, c.Token, func(b []byte) { b[87] ^= 1 }), solve(t, c.Token), now
		}, ErrSignature, 0},
		{"signed by another key", other, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, solve(t, c.Token), now
		}, ErrSignature, 0},
		{"expired", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, solve(t, c.Token), c.ExpiresAtTime()
		}, ErrExpired, 0},
		{"issued in the future", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, solve(t, c.Token), t0.Add(-DefaultClockSkew - time.Second)
		}, ErrExpired, 0},
		{"another client key", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return mallory, c.Token, solve(t, c.Token), now
		}, ErrWrongClient, 0},
		{"empty client key", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return nil, c.Token, solve(t, c.Token), now
		}, ErrWrongClient, 0},
		{"insufficient work", nil, func(c *Challenge) ([]byte, string, string, time.Time) {
			return alice, c.Token, failing(t, c.Token), now
		}, ErrInsufficientWork, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := is
			if tt.issuer != nil {
				iss = tt.issuer
			}
			c := issue(t, iss, t0, alice, 6)
			clientKey, tok, sol, at := tt.mutate(&c)
			before := is.evaluations.Load()
			_, err := is.Verify(context.Background(), at, clientKey, tok, sol)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify: %v, want %v", err, tt.want)
			}
			if n := is.evaluations.Load() - before; n != tt.evals {
				t.Errorf("Verify ran %d argon2id evaluations, want %d", n, tt.evals)
			}
			// A rejection before the replay check leaves the challenge
			// unspent: the genuine solution still works.
			if tt.evals == 0 && tt.issuer == nil {
				if _, err := is.Verify(context.Background(), now, alice, c.Token, solve(t, c.Token)); err != nil {
					t.Errorf("genuine solution after the rejection: %v", err)
				}
			}
		})
	}
}

func mustReplay(t *testing.T, capacity int) *MemoryReplay {
	t.Helper()
	r, err := NewMemoryReplay(capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSingleUse(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, cheap, 16)
	c := issue(t, is, t0, alice, 4)
	sol := solve(t, c.Token)
	if _, err := is.Verify(ctx, t0, alice, c.Token, sol); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	before := is.evaluations.Load()
	if _, err := is.Verify(ctx, t0.Add(time.Second), alice, c.Token, sol); !errors.Is(err, ErrReplayed) {
		t.Errorf("replayed: %v, want ErrReplayed", err)
	}
	if n := is.evaluations.Load() - before; n != 0 {
		t.Errorf("a replay ran %d evaluations", n)
	}

	// A wrong solution spends the challenge too: one evaluation per
	// challenge, however often it is sent.
	c = issue(t, is, t0, alice, 4)
	if _, err := is.Verify(ctx, t0, alice, c.Token, failing(t, c.Token)); !errors.Is(err, ErrInsufficientWork) {
		t.Fatalf("wrong solution: %v", err)
	}
	if _, err := is.Verify(ctx, t0, alice, c.Token, solve(t, c.Token)); !errors.Is(err, ErrReplayed) {
		t.Errorf("right solution after a wrong one: %v, want ErrReplayed", err)
	}
}

func TestSingleUseConcurrent(t *testing.T) {
	is := newIssuer(t, cheap, 16)
	c := issue(t, is, t0, alice, 2)
	sol := solve(t, c.Token)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range 16 {
		wg.Go(func() {
			if _, err := is.Verify(context.Background(), t0, alice, c.Token, sol); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrReplayed) {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d of 16 parallel verifications accepted, want 1", ok)
	}
}

func TestFullReplayCacheDenies(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, Config{MemoryKiB: 8, TTL: time.Minute}, 2)
	var cs []Challenge
	for i := range 3 {
		cs = append(cs, issue(t, is, t0.Add(time.Duration(i)*time.Second), alice, 2))
	}
	for _, c := range cs[:2] {
		if _, err := is.Verify(ctx, t0.Add(10*time.Second), alice, c.Token, solve(t, c.Token)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if _, err := is.Issue(ctx, t0.Add(20*time.Second), alice, 2); !errors.Is(err, ErrReplayCacheFull) {
		t.Errorf("Issue with a full cache: %v, want ErrReplayCacheFull", err)
	}
	before := is.evaluations.Load()
	if _, err := is.Verify(ctx, t0.Add(20*time.Second), alice, cs[2].Token, solve(t, cs[2].Token)); !errors.Is(err, ErrReplayCacheFull) {
		t.Errorf("Verify with a full cache: %v, want ErrReplayCacheFull", err)
	}
	if is.evaluations.Load() != before {
		t.Error("Verify with a full cache ran an evaluation")
	}
	// The spent challenges are still remembered just before they expire,
	if _, err := is.Verify(ctx, cs[0].ExpiresAtTime().Add(-time.Nanosecond), alice, cs[0].Token, solve(t, cs[0].Token)); !errors.Is(err, ErrReplayed) {
		t.Errorf("spent challenge in a full cache: %v, want ErrReplayed", err)
	}
	// and once the first expires there is room again.
	at := cs[0].ExpiresAtTime()
	if _, err := is.Verify(ctx, at, alice, cs[2].Token, solve(t, cs[2].Token)); err != nil {
		t.Errorf("Verify after an entry expired: %v", err)
	}
	if _, err := is.Issue(ctx, at, alice, 2); !errors.Is(err, ErrReplayCacheFull) {
		t.Errorf("Issue: %v, want ErrReplayCacheFull (full again)", err)
	}
	if _, err := is.Issue(ctx, cs[1].ExpiresAtTime(), alice, 2); err != nil {
		t.Errorf("Issue after another entry expired: %v", err)
	}
}

func TestIssueErrors(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, cheap, 4)
	for _, d := range []int{0, -1, MaxDifficulty + 1} {
		if _, err := is.Issue(ctx, t0, alice, d); err == nil {
			t.Errorf("Issue(difficulty %d) succeeded", d)
		}
	}
	if _, err := is.Issue(ctx, t0, nil, 4); err == nil {
		t.Error("Issue(empty client key) succeeded")
	}
	broken, err := NewIssuer(testKey, Config{Rand: strings.NewReader("short")}, mustReplay(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Issue(ctx, t0, alice, 4); err == nil {
		t.Error("Issue with a failing random source succeeded")
	}
}

func TestNewIssuerErrors(t *testing.T) {
	r := mustReplay(t, 1)
	tests := []struct {
		name   string
		key    []byte
		cfg    Config
		replay ReplayCache
	}{
		{"short key", testKey[:31], Config{}, r},
		{"no replay cache", testKey, Config{}, nil},
		{"short TTL", testKey, Config{TTL: time.Millisecond}, r},
		{"negative skew", testKey, Config{ClockSkew: -time.Second}, r},
		{"memory below 8p", testKey, Config{MemoryKiB: 15, Threads: 2}, r},
		{"memory too large", testKey, Config{MemoryKiB: maxMemoryKiB + 1}, r},
		{"too many passes", testKey, Config{Time: maxTime + 1}, r},
	}
	for _, tt := range tests {
		if _, err := NewIssuer(tt.key, tt.cfg, tt.replay); err == nil {
			t.Errorf("%s: NewIssuer succeeded", tt.name)
		}
	}
	if _, err := NewMemoryReplay(0); err == nil {
		t.Error("NewMemoryReplay(0) succeeded")
	}
}

func TestResponseJSON(t *testing.T) {
	is := newIssuer(t, Config{}, 4)
	c := issue(t, is, t0, alice, 9)
	b, err := json.Marshal(NewResponse(c))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["error"] != "challenge_required" || got["error_description"] == "" {
		t.Errorf("error fields: %s", b)
	}
	ch, _ := got["challenge"].(map[string]any)
	want := map[string]any{"token": c.Token, "algorithm": "argon2id", "memory_kib": 1024.0, "time": 1.0, "threads": 1.0, "difficulty": 9.0, "expires_at": float64(t0.Add(DefaultTTL).Unix())}
	if len(ch) != len(want) {
		t.Errorf("challenge has %d fields, want %d: %s", len(ch), len(want), b)
	}
	for k, v := range want {
		if ch[k] != v {
			t.Errorf("challenge.%s = %v, want %v", k, ch[k], v)
		}
	}
}

func TestLeadingZeros(t *testing.T) {
	tests := []struct {
		in   []byte
		want int
	}{
		{[]byte{0x80}, 0},
		{[]byte{0x7f}, 1},
		{[]byte{0x01}, 7},
		{[]byte{0x00, 0x40}, 9},
		{[]byte{0x00, 0x00}, 16},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := leadingZeros(tt.in); got != tt.want {
			t.Errorf("leadingZeros(%x) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzDecode checks that Decode never panics and accepts only canonical
// tokens whose parameters are in range.
func FuzzDecode(f *testing.F) {
	r, _ := NewMemoryReplay(1)
	is, err := NewIssuer(testKey, cheap, r)
	if err != nil {
		f.Fatal(err)
	}
	c, err := is.Issue(context.Background(), t0, alice, 8)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Token)
	f.Add(c.Token[:117] + "A")
	f.Add(c.Token[:116] + "==")
	f.Add(strings.Repeat("A", 118))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if tok.encode() != s {
			t.Fatalf("decode accepted a non-canonical token %q", s)
		}
		if err := checkParams(tok.memoryKiB, tok.time, tok.threads, int(tok.difficulty)); err != nil {
			t.Fatalf("decode accepted %q: %v", s, err)
		}
		again := &token{memoryKiB: tok.memoryKiB, time: tok.time, threads: tok.threads, difficulty: tok.difficulty,
			nonce: tok.nonce, issuedAt: tok.issuedAt, expiresAt: tok.expiresAt, binding: tok.binding, tag: tok.tag}
		again.marshal()
		if again.raw != tok.raw {
			t.Fatalf("marshal(decode(%q)) differs", s)
		}
	})
}
