// Package username normalises login names so that one person has one
// account however the name is typed: "Alice", "ALICE" and the full-width
// "Ａｌｉｃｅ" are the same user. Without this a per-username budget can be
// dodged by changing case, and two accounts can look identical to humans.
//
// # Why NFKC and case folding, not PRECIS
//
// RFC 8265's UsernameCaseMapped profile (golang.org/x/text/secure/precis)
// is the standard answer, and it differs from what this package does: it
// maps only full- and half-width forms (not every compatibility character,
// as NFKC does), lower-cases rather than case-folds, normalises to NFC, and
// refuses spaces inside a name, which Normalize accepts. Names differ under
// the two: "ß" is "ss" here and stays "ß" under PRECIS; "ﬁ", "ℌ", "ǅ" and
// "john smith" are "fi", "h", "dž" and "john smith" here and refused by
// PRECIS. Every stored username, and every guard key derived from one, is
// in this package's form: switching to PRECIS would re-map or refuse some
// existing accounts, and needs a migration that re-normalises the stored
// names and settles the accounts that would then collide. Until someone
// does that deliberately, the form stays as it is.
package username

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest normalised username accepted, in bytes. It keeps
// guard keys and database rows small whatever a client sends.
const MaxLen = 256

// Errors returned by Normalize. They describe the input, never an account.
var (
	ErrEmpty   = errors.New("username is empty")
	ErrTooLong = fmt.Errorf("username is longer than %d bytes", MaxLen)
	ErrInvalid = errors.New("username is not valid UTF-8")
	ErrControl = errors.New("username contains control characters")
	ErrSpace   = errors.New("username has leading or trailing white space")
)

// Normalize returns the canonical form of name: Unicode NFKC, then full case
// folding, then NFKC again (folding can produce unnormalised sequences).
// Normalize is idempotent: a stored name normalises to itself.
// It rejects names that are empty, invalid UTF-8, contain control
// characters, or carry leading or trailing space, rather than silently
// trimming, so what the user typed and what is stored never disagree.
func Normalize(name string) (string, error) {
	if name == "" {
		return "", ErrEmpty
	}
	if !utf8.ValidString(name) {
		return "", ErrInvalid
	}
	if len(name) > 4*MaxLen {
		return "", ErrTooLong
	}
	if s, ok := asciiFold(name); ok {
		return s, nil
	}
	s := fold(name)
	if again := fold(s); again != s {
		// x/text folds a few scripts (Cherokee) back and forth; pick one
		// member of the pair so the result is the same from either side.
		s = min(s, again)
	}
	if s == "" {
		return "", ErrEmpty
	}
	if len(s) > MaxLen {
		return "", ErrTooLong
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", ErrControl
		}
	}
	if strings.TrimSpace(s) != s {
		return "", ErrSpace
	}
	return s, nil
}

func fold(s string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
}

// asciiFold is Normalize's fast path for printable ASCII, which NFKC leaves
// alone and case folding only lower-cases. Most names take it, and it keeps
// normalisation off the profile of a throttled login.
func asciiFold(name string) (string, bool) {
	if len(name) > MaxLen || name[0] == ' ' || name[len(name)-1] == ' ' {
		return "", false
	}
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c > 0x7e {
			return "", false
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if !upper {
		return name, true
	}
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}
