package challenge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// BenchmarkEvaluation is the unit of work of the proof of work: one
// argon2id evaluation at the default cost. The simulator prices an
// attacker as evaluations × this.
func BenchmarkEvaluation(b *testing.B) {
	is := newBenchIssuer(b, Config{})
	c, err := is.Issue(context.Background(), t0, alice, 8)
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := decode(c.Token)
	p := newPuzzle(tok)
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		p.evaluate(n)
		n++
	}
}

// BenchmarkPasswordHashBaseline is the server's own login hash
// (password.Default: argon2id 19 MiB, t=2), the baseline the
// evaluation is compared with.
func BenchmarkPasswordHashBaseline(b *testing.B) {
	salt := make([]byte, 16)
	for b.Loop() {
		argon2.IDKey([]byte("correct horse battery"), salt, 2, 19456, 1, 32)
	}
}

// BenchmarkSolve is the client's cost at a difficulty, over many
// challenges (the number of evaluations varies, 2^d on average).
func BenchmarkSolve(b *testing.B) {
	for _, d := range []int{4, 8} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("d=%d/workers=%d", d, workers), func(b *testing.B) {
				is := newBenchIssuer(b, Config{})
				var evals int
				now := t0
				for b.Loop() {
					now = now.Add(time.Second)
					c, err := is.Issue(context.Background(), now, alice, d)
					if err != nil {
						b.Fatal(err)
					}
					_, n, err := Solve(context.Background(), c.Token, workers)
					if err != nil {
						b.Fatal(err)
					}
					evals += n
				}
				b.ReportMetric(float64(evals)/float64(b.N), "evals/op")
			})
		}
	}
}

// BenchmarkVerify is the server's cost: the accepting path (one
// evaluation) against a rejection that never reaches argon2id.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	b.Run("reject-signature", func(b *testing.B) {
		is := newBenchIssuer(b, Config{})
		c, _ := is.Issue(ctx, t0, alice, 1)
		bad := c.Token[:100] + "AAAA" + c.Token[104:]
		b.ReportAllocs()
		for b.Loop() {
			if _, err := is.Verify(ctx, t0, alice, bad, "0"); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("accept", func(b *testing.B) {
		is := newBenchIssuer(b, Config{TTL: time.Hour})
		c, _ := is.Issue(ctx, t0, alice, 1)
		sol, _, _ := Solve(ctx, c.Token, 1)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			is.replay, _ = NewMemoryReplay(1) // fresh, so the nonce is unspent
			b.StartTimer()
			if _, err := is.Verify(ctx, t0, alice, c.Token, sol); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemoryReplay measures the replay cache at its default
// capacity, and its memory per entry.
func BenchmarkMemoryReplay(b *testing.B) {
	r, _ := NewMemoryReplay(DefaultReplayCapacity)
	ctx := context.Background()
	n := make([]byte, NonceSize)
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i++
		for k := range 8 {
			n[k] = byte(i >> (8 * k))
		}
		now := t0.Add(time.Duration(i) * DefaultTTL / DefaultReplayCapacity)
		if _, err := r.Seen(ctx, now, n, now.Add(DefaultTTL)); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchIssuer(b *testing.B, cfg Config) *Issuer {
	r, err := NewMemoryReplay(1 << 20)
	if err != nil {
		b.Fatal(err)
	}
	is, err := NewIssuer(testKey, cfg, r)
	if err != nil {
		b.Fatal(err)
	}
	return is
}
