// Package scope reads OAuth 2.0 scopes (RFC 6749 §3.3): space-delimited
// lists of scope tokens, each one or more characters from %x21, %x23-5B and
// %x5D-7E (printable ASCII but space, '"' and '\'). The token endpoint, the
// serve configuration (--allowed-scopes) and the user command all read
// scopes through it, so a scope one of them accepts the others accept too.
//
// A scope list is kept as a normalised string: tokens separated by single
// spaces, each once, in the order first seen. The functions are pure and
// safe for concurrent use.
package scope

import (
	"errors"
	"slices"
	"strings"
)

// ErrSyntax means a scope token holds a character RFC 6749 §3.3 does not
// allow.
var ErrSyntax = errors.New("scope contains a character RFC 6749 §3.3 does not allow")

// ValidToken reports whether tok is one RFC 6749 scope token.
func ValidToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// Normalise validates the space-delimited list raw and returns it with
// single spaces and without repeats; "" for an empty list. An invalid token
// is an error wrapping ErrSyntax.
func Normalise(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	var out []string
	for _, tok := range strings.Split(raw, " ") {
		if tok == "" {
			continue
		}
		if !ValidToken(tok) {
			return "", ErrSyntax
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return strings.Join(out, " "), nil
}

// Within reports whether every token of req is in the list granted.
func Within(req, granted string) bool {
	have := strings.Fields(granted)
	for _, tok := range strings.Fields(req) {
		if !slices.Contains(have, tok) {
			return false
		}
	}
	return true
}

// Filter returns the tokens of req found in at least one of the lists
// sets, in req's order: req narrowed to what the sets allow. Filter(req,
// ...) == req says req is wholly allowed.
func Filter(req string, sets ...string) string {
	var out []string
	for _, tok := range strings.Fields(req) {
		if slices.ContainsFunc(sets, func(set string) bool { return Within(tok, set) }) {
			out = append(out, tok)
		}
	}
	return strings.Join(out, " ")
}
