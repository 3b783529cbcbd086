package breach

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors of Screen: the password must not be set. Their text
// speaks to the person choosing the password and never contains it.
var (
	ErrCommon   = &Refusal{"it is on a list of commonly used passwords; choose another"}
	ErrBreached = &Refusal{"it appears in a list of passwords exposed in data breaches; choose another"}
)

// Refusal is the type of ErrCommon and ErrBreached, so a caller can tell a
// refused password from a screener that could not answer (a damaged
// filter) without knowing every sentinel.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

// Refusal reports true: the password was refused.
func (r *Refusal) Refusal() bool { return true }

//go:embed commonlist/passwords.json.gz
var commonGzip []byte

// Common is the embedded list of common passwords (see the package
// documentation for its source). The zero value is an empty list; it is
// read-only once built and safe for concurrent use.
type Common struct {
	set map[string]struct{}
}

// NewCommon decompresses the embedded list (about 49,000 passwords, a few
// milliseconds and about 3 MiB).
func NewCommon() (*Common, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonGzip))
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	c := &Common{set: make(map[string]struct{}, len(list))}
	for _, pw := range list {
		c.set[strings.ToLower(pw)] = struct{}{}
	}
	return c, nil
}

// Len is the number of distinct passwords in the list.
func (c *Common) Len() int { return len(c.set) }

// Contains reports whether pw is on the list, ignoring case: "Password"
// is as common as "password".
func (c *Common) Contains(pw string) bool {
	_, ok := c.set[strings.ToLower(pw)]
	return ok
}

// Screener refuses common and breached passwords. Common is required;
// Filter is the imported breach filter, nil when none was imported. A
// Screener is safe for concurrent use.
type Screener struct {
	Common *Common
	Filter *Filter
}

// Screen returns nil when pw may be set, ErrCommon or ErrBreached (wrapped
// or bare, check with errors.Is) when it may not, and another error when
// the breach filter cannot be read.
func (s *Screener) Screen(pw string) error {
	if s.Common != nil && s.Common.Contains(pw) {
		return ErrCommon
	}
	if s.Filter == nil {
		return nil
	}
	in, err := s.Filter.ContainsPassword(pw)
	if err != nil {
		return fmt.Errorf("screen password: %w", err)
	}
	if in {
		return ErrBreached
	}
	return nil
}
