package crack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// The benchmarks compare guesses per second on one realistic HS256 token
// (the FastAPI seed's claims): the naive loop a script would write
// (hmac.New per guess, one core) against Crack on all cores. Run with
//
//	go test ./internal/scan/crack -run '^$' -bench . -count 5
const benchGuesses = 1 << 18

func benchTarget(b *testing.B) *Target {
	tok := sign(b, "HS256", []byte("a secret that is not in the list"))
	t, err := NewTarget(tok)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)*benchGuesses/b.Elapsed().Seconds(), "guesses/s")
}

// BenchmarkNaive is the baseline: hmac.New, Write, Sum and a comparison
// with the token's decoded signature per guess, on one goroutine — the
// loop a careful script writes (decoding the signature once, not encoding
// every MAC to compare strings).
func BenchmarkNaive(b *testing.B) {
	t := benchTarget(b)
	list := bytes.Split(bytes.TrimSuffix(candidates(benchGuesses), []byte("\n")), []byte("\n"))
	b.ResetTimer()
	for b.Loop() {
		for _, key := range list {
			mac := hmac.New(sha256.New, key)
			mac.Write(t.msg)
			if hmac.Equal(mac.Sum(nil), t.sig) {
				b.Fatal("found")
			}
		}
	}
	reportRate(b)
}

// BenchmarkNaiveParallel is the naive loop spread over every core.
func BenchmarkNaiveParallel(b *testing.B) {
	t := benchTarget(b)
	list := bytes.Split(bytes.TrimSuffix(candidates(benchGuesses), []byte("\n")), []byte("\n"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, key := range list[:len(list)/8] {
				mac := hmac.New(sha256.New, key)
				mac.Write(t.msg)
				if hmac.Equal(mac.Sum(nil), t.sig) {
					panic("found")
				}
			}
		}
	})
	b.ReportMetric(float64(b.N)*float64(benchGuesses/8)/b.Elapsed().Seconds(), "guesses/s")
}

// BenchmarkGuesserOneCore is the reused-buffer path on one goroutine.
func BenchmarkGuesserOneCore(b *testing.B) {
	t := benchTarget(b)
	list := bytes.Split(bytes.TrimSuffix(candidates(benchGuesses), []byte("\n")), []byte("\n"))
	g := newGuesser(t)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, key := range list {
			if g.try(key) {
				b.Fatal("found")
			}
		}
	}
	reportRate(b)
}

// BenchmarkCrack is the whole cracker: streaming candidates, all cores.
func BenchmarkCrack(b *testing.B) {
	t := benchTarget(b)
	src := candidates(benchGuesses)
	b.ResetTimer()
	for b.Loop() {
		res, err := Crack(context.Background(), t, bytes.NewReader(src), 0)
		if err != nil || res.Found {
			b.Fatal(err, res.Found)
		}
	}
	reportRate(b)
}
