package username

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"lower stays", "alice", "alice", nil},
		{"upper folds", "ALICE", "alice", nil},
		{"mixed folds", "AlIcE", "alice", nil},
		{"full-width folds", "Ａｌｉｃｅ", "alice", nil},
		{"german sharp s folds", "STRASSE", "strasse", nil},
		{"sharp s equals ss", "straße", "strasse", nil},
		{"ligature fi", "ﬁnn", "finn", nil},
		{"composed and decomposed e-acute agree", "e\u0301mile", "\u00e9mile", nil},
		{"kelvin sign", "\u212Aelvin", "kelvin", nil},
		{"email keeps punctuation", "Bob.Smith+x@Example.COM", "bob.smith+x@example.com", nil},
		{"inner space kept", "mary jane", "mary jane", nil},
		{"empty", "", "", ErrEmpty},
		{"invalid utf8", "a\xffb", "", ErrInvalid},
		{"control", "a\x07b", "", ErrControl},
		{"newline", "a\nb", "", ErrControl},
		{"leading space", " alice", "", ErrSpace},
		{"trailing space", "alice ", "", ErrSpace},
		{"too long", strings.Repeat("a", MaxLen+1), "", ErrTooLong},
		{"longest", strings.Repeat("a", MaxLen), strings.Repeat("a", MaxLen), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Normalize(%q) error %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzNormalize checks idempotence: a normalised name normalises to itself,
// so a stored name always finds itself again.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Alice", "ß", "ﬁ", "\u212A", "e\u0301", "İstanbul", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, err)
		}
	})
}

// FuzzASCIIFastPath checks that the ASCII fast path agrees with the full
// Unicode path on every input it takes.
func FuzzASCIIFastPath(f *testing.F) {
	for _, s := range []string{"Alice", "bob", "A B", " a", "a~Z", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		fast, ok := asciiFold(s)
		if !ok {
			return
		}
		slow := fold(s)
		for _, r := range slow {
			if unicode.IsControl(r) {
				t.Fatalf("fast path took %q with a control character", s)
			}
		}
		if fast != slow {
			t.Fatalf("asciiFold(%q) = %q, full path %q", s, fast, slow)
		}
	})
}
