package crack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"
)

// sign builds a compact JWS with the given HMAC algorithm and key.
func sign(t testing.TB, alg string, key []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(`{"sub":"valid_user","exp":1893456000,"iat":1893454200}`))
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	if h == nil {
		h = sha256.New
	}
	mac := hmac.New(h, key)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestCrack(t *testing.T) {
	long := strings.Repeat("k", 200) // longer than any block: hashed first
	tests := []struct {
		name, alg, secret, list string
		found                   bool
	}{
		{"seed default", "HS256", "your-strong-secret-key-change-this", "", true},
		{"fastapi docs key", "HS256", "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7", "", true},
		{"HS384", "HS384", "secret", "", true},
		{"HS512", "HS512", "changeme", "", true},
		{"empty secret", "HS256", "", "", true},
		{"wordlist CRLF", "HS256", "hunter2", "alpha\r\nhunter2\r\n", true},
		{"wordlist no final newline", "HS512", "tail", "a\nb\ntail", true},
		{"long key", "HS256", long, long + "\n", true},
		{"long key HS512", "HS512", long, long + "\n", true},
		{"block-size key", "HS256", strings.Repeat("b", 64), strings.Repeat("b", 64), true},
		{"strong secret", "HS256", "Jx8#v2!qLr9@zT4p-not-in-any-list", "alpha\nbeta\n", false},
		{"near miss", "HS256", "secret ", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, tt.alg, []byte(tt.secret))
			target, err := NewTarget(tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 3} {
				src := Known()
				if tt.list != "" {
					src = strings.NewReader(tt.list)
				}
				res, err := Crack(context.Background(), target, src, workers)
				if err != nil {
					t.Fatal(err)
				}
				if res.Found != tt.found || (tt.found && string(res.Secret) != tt.secret) {
					t.Fatalf("workers %d: found %v (%d bytes), want %v", workers, res.Found, len(res.Secret), tt.found)
				}
				if res.Tried < 1 {
					t.Errorf("tried %d", res.Tried)
				}
			}
		})
	}
}

// TestGuesserMatchesHMAC checks the buffer-reusing path against crypto/hmac
// for keys around the block boundaries, in both directions.
func TestGuesserMatchesHMAC(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for _, n := range []int{0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 300} {
			key := bytes.Repeat([]byte{byte(n)}, n)
			target, err := NewTarget(sign(t, alg, key))
			if err != nil {
				t.Fatal(err)
			}
			g := newGuesser(target)
			// A previous longer guess must not leave bytes behind.
			g.try(bytes.Repeat([]byte{0xff}, 129))
			if !g.try(key) || !target.Check(key) {
				t.Errorf("%s key of %d bytes not recognised", alg, n)
			}
			other := append(bytes.Clone(key), 'x')
			if g.try(other) || target.Check(other) {
				t.Errorf("%s: wrong key of %d bytes accepted", alg, n+1)
			}
		}
	}
}

func TestNewTargetErrors(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		tok  string
		want error
	}{
		{"a.b", ErrMalformed},
		{"!!.e30.AA", ErrMalformed},
		{enc([]byte(`{"alg":"EdDSA"}`)) + ".e30." + enc(make([]byte, 64)), ErrUnsupported},
		{enc([]byte(`{"alg":"none"}`)) + ".e30.", ErrUnsupported},
		{enc([]byte(`{"alg":"HS256"}`)) + ".e30." + enc(make([]byte, 31)), ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := NewTarget(tt.tok); !errors.Is(err, tt.want) {
			t.Errorf("%q: %v, want %v", tt.tok, err, tt.want)
		}
	}
}

func TestCrackCancelled(t *testing.T) {
	target, err := NewTarget(sign(t, "HS256", []byte("not in the list at all")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Crack(ctx, target, strings.NewReader(strings.Repeat("x\n", 1<<20)), 2)
	if !errors.Is(err, context.Canceled) || res.Found {
		t.Errorf("cancelled run: %v %+v", err, res)
	}
}

func TestGuessAllocs(t *testing.T) {
	target, err := NewTarget(sign(t, "HS256", []byte("k")))
	if err != nil {
		t.Fatal(err)
	}
	g := newGuesser(target)
	key := []byte("candidate")
	if n := testing.AllocsPerRun(100, func() { g.try(key) }); n != 0 {
		t.Errorf("%v allocations per guess", n)
	}
}

func FuzzGuesser(f *testing.F) {
	f.Add([]byte("secret"), uint8(0))
	f.Add(bytes.Repeat([]byte("a"), 130), uint8(2))
	f.Fuzz(func(t *testing.T, key []byte, which uint8) {
		alg := []string{"HS256", "HS384", "HS512"}[int(which)%3]
		target, err := NewTarget(sign(t, alg, []byte("fixed secret")))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := newGuesser(target).try(key), target.Check(key); got != want {
			t.Fatalf("%s key %q: fast %v, hmac %v", alg, key, got, want)
		}
	})
}

// candidates returns n distinct wrong candidates of realistic length.
func candidates(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "candidate-secret-%08d\n", i)
	}
	return b.Bytes()
}
