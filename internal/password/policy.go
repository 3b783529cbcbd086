package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Length bounds for new passwords. NIST SP 800-63B asks for at least 8
// characters and for accepting at least 64; the upper bound keeps the form
// and the hash input small.
const (
	MinLen = 8
	MaxLen = 1024
)

// CheckPolicy reports why pw cannot be a new password, or nil. It applies
// when a password is set (user add, user reset), never at login, where any
// string is simply wrong or right.
func CheckPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return errors.New("password is not valid UTF-8")
	}
	if strings.IndexByte(pw, 0) >= 0 {
		return errors.New("password contains a NUL byte")
	}
	if n := utf8.RuneCountInString(pw); n < MinLen {
		return fmt.Errorf("password has %d characters; at least %d are required", n, MinLen)
	}
	if len(pw) > MaxLen {
		return fmt.Errorf("password is longer than %d bytes", MaxLen)
	}
	return nil
}
