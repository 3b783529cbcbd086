package password

import (
	"context"
	"crypto/rand"
	"runtime"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkIDKeyRaw is the baseline: x/crypto's argon2id alone under
// DefaultParams, without salt generation or encoding.
func BenchmarkIDKeyRaw(b *testing.B) {
	p := DefaultParams()
	salt := make([]byte, p.SaltLen)
	b.ReportAllocs()
	for b.Loop() {
		argon2.IDKey([]byte("correct horse"), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	}
}

// BenchmarkHashDefault is one new hash under DefaultParams (what a password
// change or rehash costs).
func BenchmarkHashDefault(b *testing.B) {
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash(rand.Reader, []byte("correct horse"), p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyDefault is one login against a current hash.
func BenchmarkVerifyDefault(b *testing.B) {
	p := DefaultParams()
	enc, err := Hash(rand.Reader, []byte("correct horse"), p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Verify(enc, []byte("wrong"), p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBcrypt10 is one login against an imported bcrypt cost-10
// hash, the common default of other frameworks.
func BenchmarkVerifyBcrypt10(b *testing.B) {
	enc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), 10)
	if err != nil {
		b.Fatal(err)
	}
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Verify(string(enc), []byte("wrong"), p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck is parsing and bounds-checking alone (what `user import`
// pays per row).
func BenchmarkCheck(b *testing.B) {
	enc, err := Hash(rand.Reader, []byte("pw"), testParams())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolDo is the pool's overhead on an uncontended call, and
// BenchmarkPoolOverloaded what rejecting costs when it is full.
func BenchmarkPoolDo(b *testing.B) {
	p := NewPool(0, 16)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Do(ctx, func() {})
		}
	})
}

func BenchmarkPoolOverloaded(b *testing.B) {
	p := NewPool(1, 0)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		_ = p.Do(context.Background(), func() { <-release })
		close(done)
	}()
	for p.Running() == 0 {
		runtime.Gosched()
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Do(ctx, func() {}); err != ErrOverloaded {
			b.Fatal(err)
		}
	}
	close(release)
	<-done
}
