package password

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// refusal mimics package breach's refusals (an error with Refusal() true).
type refusal string

func (r refusal) Error() string { return string(r) }
func (r refusal) Refusal() bool { return true }

// listScreener refuses the passwords in its map, and fails on "broken".
type listScreener map[string]bool

func (l listScreener) Screen(pw string) error {
	if pw == "broken filter!!" {
		return errors.New("shard 3 checksum mismatch")
	}
	if l[pw] {
		return refusal("it is on a list; choose another")
	}
	return nil
}

func TestPolicyCheck(t *testing.T) {
	screen := listScreener{"correct horse battery staple": true, "ﬁfteen characters": true}
	tests := []struct {
		name    string
		policy  Policy
		pw      string
		want    string // normalised password when accepted
		refused bool   // wraps ErrPolicy
		msg     string // part of the error
	}{
		{"15 characters by default", Policy{}, "fifteen chars!!", "fifteen chars!!", false, ""},
		{"14 refused by default", Policy{}, "fourteen chars", "", true, "it has 14 characters; at least 15 are required"},
		{"lowered minimum", Policy{MinLen: 8}, "eight ch", "eight ch", false, ""},
		{"below lowered minimum", Policy{MinLen: 8}, "seven c", "", true, "at least 8"},
		{"characters, not bytes", Policy{}, strings.Repeat("é", 15), strings.Repeat("é", 15), false, ""},
		{"counted after NFKC", Policy{}, strings.Repeat("e\u0301", 8), "", true, "it has 8 characters"},
		{"NFKC form returned", Policy{}, "ﬁfteen characters", "fifteen characters", false, ""},
		{"64 accepted", Policy{}, strings.Repeat("a", 64), strings.Repeat("a", 64), false, ""},
		{"1024 bytes accepted", Policy{}, strings.Repeat("a", MaxLen), strings.Repeat("a", MaxLen), false, ""},
		{"over 1024 bytes", Policy{}, strings.Repeat("a", MaxLen+1), "", true, "longer than 1024 bytes"},
		{"no composition rules", Policy{}, "alllowercaseletters", "alllowercaseletters", false, ""},
		{"not UTF-8", Policy{}, "fifteen chars!\xff", "", true, "not valid UTF-8"},
		{"NUL", Policy{}, "fifteen chars!\x00", "", true, "NUL"},
		{"screened", Policy{Screen: screen}, "correct horse battery staple", "", true, "it is on a list"},
		{"screened raw form", Policy{Screen: screen}, "ﬁfteen characters", "", true, "it is on a list"},
		{"screener broken", Policy{Screen: screen}, "broken filter!!", "", false, "checksum mismatch"},
		{"minimum below 8", Policy{MinLen: 7}, "whatever is long enough", "", false, "out of range 8..64"},
		{"minimum above 64", Policy{MinLen: 65}, "whatever is long enough", "", false, "out of range 8..64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Check(tt.pw)
			if tt.msg == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Check = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Check: %v; want an error containing %q", err, tt.msg)
			}
			if errors.Is(err, ErrPolicy) != tt.refused {
				t.Errorf("errors.Is(err, ErrPolicy) = %v; want %v", !tt.refused, tt.refused)
			}
			if len(tt.pw) > 4 && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

// TestVerifyLoginNFKCFallback: a hash made before normalisation, of a
// password whose NFKC form differs, still verifies (raw fallback) and asks
// for a rehash; the rehash (of the NFKC form) verifies without fallback,
// also when the password is typed in another composition.
func TestVerifyLoginNFKCFallback(t *testing.T) {
	p := testParams()
	raw := "Cafe\u0301 ﬁfteen chars" // decomposed é, the "ﬁ" ligature
	old, err := Hash(rand.Reader, []byte(raw), p)
	if err != nil {
		t.Fatal(err)
	}
	match, rehash, err := VerifyLogin(old, raw, p)
	if err != nil || !match || !rehash {
		t.Fatalf("old hash: match %v, rehash %v, err %v; want a match that asks for a rehash", match, rehash, err)
	}
	if match, _, _ := VerifyLogin(old, "Cafe\u0301 ﬁfteen charz", p); match {
		t.Fatal("old hash matched a wrong password")
	}
	fresh, err := Hash(rand.Reader, []byte(Normalize(raw)), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, typed := range []string{raw, "Caf\u00e9 fifteen chars", Normalize(raw)} {
		match, rehash, err := VerifyLogin(fresh, typed, p)
		if err != nil || !match || rehash {
			t.Errorf("rehashed, typed %+q: match %v, rehash %v, err %v; want a match and no rehash", typed, match, rehash, err)
		}
	}
	// An already-normalised password verifies once, as before.
	plain, err := Hash(rand.Reader, []byte("plain ascii password"), p)
	if err != nil {
		t.Fatal(err)
	}
	if match, rehash, err := VerifyLogin(plain, "plain ascii password", p); err != nil || !match || rehash {
		t.Errorf("plain: match %v, rehash %v, err %v", match, rehash, err)
	}
}
