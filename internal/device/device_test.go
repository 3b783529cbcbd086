package device

import (
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

func newIssuer(t *testing.T) *Issuer {
	t.Helper()
	is, err := NewIssuer([]byte(strings.Repeat("k", 32)), 0)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestRoundTrip(t *testing.T) {
	is := newIssuer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := is.Issue(rand.Reader, now, "alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 24 || c.ExpiresAt != now.Add(DefaultLifetime) {
		t.Errorf("credential %+v", c)
	}
	got, err := is.Verify(now.Add(time.Hour), c.Token, "alice")
	if err != nil || got.ID != c.ID || got.Epoch != 3 {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if err := CheckEpoch(got, 3); err != nil {
		t.Errorf("same epoch: %v", err)
	}
	if err := CheckEpoch(got, 4); !errors.Is(err, ErrRevoked) {
		t.Errorf("raised epoch: %v", err)
	}
	other, _ := is.Issue(rand.Reader, now, "alice", 3)
	if other.ID == c.ID || other.Token == c.Token {
		t.Error("two credentials share an id")
	}
}

func TestVerifyRejects(t *testing.T) {
	is := newIssuer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := is.Issue(rand.Reader, now, "alice", 0)
	otherKey, _ := NewIssuer([]byte(strings.Repeat("z", 32)), 0)
	flip := func(i int) string {
		b := []byte(c.Token)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name, token, user string
		at                time.Time
		is                *Issuer
		want              error
	}{
		{"another user", c.Token, "bob", now, is, ErrInvalid},
		{"case differs (names are normalised first)", c.Token, "Alice", now, is, ErrInvalid},
		{"another key", c.Token, "alice", now, otherKey, ErrInvalid},
		{"tampered expiry", flip(3), "alice", now, is, ErrInvalid},
		{"tampered id", flip(20), "alice", now, is, ErrInvalid},
		{"tampered mac", flip(70), "alice", now, is, ErrInvalid},
		{"expired", c.Token, "alice", now.Add(DefaultLifetime), is, ErrExpired},
		{"empty", "", "alice", now, is, ErrMalformed},
		{"truncated", c.Token[:40], "alice", now, is, ErrMalformed},
		{"not base64", strings.Repeat("*", len(c.Token)), "alice", now, is, ErrMalformed},
		{"padded", c.Token[:len(c.Token)-1] + "=", "alice", now, is, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.is.Verify(tt.at, tt.token, tt.user); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewIssuer([]byte("short"), 0); err == nil {
		t.Error("short key accepted")
	}
}

// FuzzVerify checks that nothing but the one issued credential verifies.
// The credential comes from a fixed random source: fuzz workers run this
// setup again in their own processes and must all issue the same one.
func FuzzVerify(f *testing.F) {
	is, _ := NewIssuer([]byte(strings.Repeat("k", 32)), 0)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := is.Issue(mrand.NewChaCha8([32]byte{1}), now, "alice", 0)
	f.Add(c.Token, "alice")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, token, user string) {
		got, err := is.Verify(now, token, user)
		if err == nil && (token != c.Token || user != "alice" || got.ID != c.ID) {
			t.Fatalf("accepted %q for %q", token, user)
		}
	})
}
