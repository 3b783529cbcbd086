package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length bounds for new passwords, after NFKC normalisation, in characters
// (Unicode code points). NIST SP 800-63B revision 4 (§3.1.1.2) asks for at
// least 15 characters of a password used alone, allows a verifier to go no
// lower than 8 when the password is one factor of several, and asks that at
// least 64 be accepted; MaxLen keeps the form and the hash input small.
const (
	DefaultMinLen = 15
	FloorMinLen   = 8
	MaxLen        = 1024
)

// ErrPolicy is wrapped by every refusal of Policy.Check: the password
// breaks a rule and cannot be set. The message names the rule and never
// contains the password.
var ErrPolicy = errors.New("password not accepted")

// Screener refuses known passwords (package breach): Screen returns nil
// when pw may be set, and otherwise an error saying why, worded for the
// person choosing it.
type Screener interface {
	Screen(pw string) error
}

// Policy is the NIST SP 800-63B (revision 4) rule set for a new password:
// a minimum and maximum length, no composition rules (no "one digit, one
// symbol": they make passwords harder to remember, not to guess), and
// no password found by the screener. The zero value has MinLen
// DefaultMinLen and no screening. Policy is a plain value, safe to copy
// and to use concurrently.
type Policy struct {
	// MinLen is the least number of characters, FloorMinLen..64; 0 means
	// DefaultMinLen.
	MinLen int
	// Screen refuses common and breached passwords; nil screens nothing.
	Screen Screener
}

// Validate reports whether the policy itself is allowed: a minimum below
// FloorMinLen or above 64 (NIST asks that 64 characters be accepted) is a
// configuration error, found at start.
func (p Policy) Validate() error {
	if p.MinLen != 0 && (p.MinLen < FloorMinLen || p.MinLen > 64) {
		return fmt.Errorf("password minimum length %d out of range %d..64", p.MinLen, FloorMinLen)
	}
	return nil
}

// Check reports whether pw may be set as a new password and returns the
// form to hash: its NFKC normalisation (Normalize). It applies where a
// password is set (user add, user reset, a password change), never at
// login, where any string is simply right or wrong. Refusals wrap
// ErrPolicy; a screener that cannot answer is a plain error.
func (p Policy) Check(pw string) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if !utf8.ValidString(pw) {
		return "", fmt.Errorf("%w: it is not valid UTF-8", ErrPolicy)
	}
	if strings.IndexByte(pw, 0) >= 0 {
		return "", fmt.Errorf("%w: it contains a NUL character", ErrPolicy)
	}
	if len(pw) > MaxLen {
		return "", fmt.Errorf("%w: it is longer than %d bytes", ErrPolicy, MaxLen)
	}
	n := Normalize(pw)
	minLen := p.MinLen
	if minLen == 0 {
		minLen = DefaultMinLen
	}
	if c := utf8.RuneCountInString(n); c < minLen {
		return "", fmt.Errorf("%w: it has %d characters; at least %d are required", ErrPolicy, c, minLen)
	}
	if len(n) > MaxLen {
		return "", fmt.Errorf("%w: it is longer than %d bytes", ErrPolicy, MaxLen)
	}
	if p.Screen != nil {
		if err := Screen(p.Screen, pw); err != nil {
			return "", err
		}
	}
	return n, nil
}

// Screen runs s on pw in both its NFKC and its raw form (a breach corpus
// holds what people typed, which may be either). A refusal (an error with
// a Refusal method returning true, as package breach returns) wraps
// ErrPolicy; any other error means the screener could not answer.
func Screen(s Screener, pw string) error {
	n := Normalize(pw)
	if err := screenOne(s, n); err != nil || n == pw {
		return err
	}
	return screenOne(s, pw)
}

func screenOne(s Screener, pw string) error {
	err := s.Screen(pw)
	if err == nil {
		return nil
	}
	var r interface{ Refusal() bool }
	if errors.As(err, &r) && r.Refusal() {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	return fmt.Errorf("screen password: %w", err)
}

// Normalize returns the form of pw that is hashed and verified first:
// Unicode NFKC (NIST SP 800-63B §3.1.1.2), so the same password typed on
// keyboards that produce composed or decomposed accents, full-width or
// compatibility characters, hashes the same.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// VerifyLogin checks a login password against encoded: its NFKC form
// first (how every hash is made since passwords are normalised), then, if
// that fails and the raw form differs, the raw form, which hashes made
// before normalisation hold; no existing user is locked out. A raw match
// reports needsRehash, so the caller stores Hash(Normalize(pw)).
//
// Whether the second verification runs depends only on pw, never on the
// account, so a known and an unknown user (verified against a dummy hash)
// cost the same. Run it in a Pool: it costs one or two full hashes.
func VerifyLogin(encoded, pw string, current Params) (match, needsRehash bool, err error) {
	n := Normalize(pw)
	match, needsRehash, err = Verify(encoded, []byte(n), current)
	if err != nil || match || n == pw {
		return match, needsRehash, err
	}
	match, _, err = Verify(encoded, []byte(pw), current)
	return match, match, err
}
