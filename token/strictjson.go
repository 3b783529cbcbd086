package token

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in headers and claims; access tokens need two
// levels (cnf.jkt), so 16 is generous and keeps the scanner's recursion small.
const maxJSONDepth = 16

// errJSON is the cause inside ErrMalformed for JSON the strict scanner refuses.
var errJSON = errors.New("invalid json")

// scanObject parses s as exactly one JSON object (RFC 8259), optionally
// surrounded by whitespace, and calls fn with each member's decoded name and
// raw value text, in order. It is stricter than encoding/json: names match
// exactly (fn compares them with ==), a duplicate name is refused anywhere in
// the top-level object, s must be valid UTF-8, and nesting deeper than
// maxJSONDepth is refused. Values are fully validated before fn sees them.
func scanObject(s string, fn func(name, raw string) error) error {
	if !utf8.ValidString(s) {
		return errJSON
	}
	p := jsonScanner{s: s}
	p.ws()
	if !p.eat('{') {
		return errJSON
	}
	var seenBuf [16]string
	seen := seenBuf[:0]
	var many map[string]bool // replaces seen past 16 members, so duplicates cost O(n)
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			start := p.i
			if !p.str() {
				return errJSON
			}
			name, err := unquote(s[start:p.i])
			if err != nil {
				return err
			}
			if len(seen) < cap(seenBuf) { // the usual case: a few members, no map
				if slices.Contains(seen, name) {
					return errJSON
				}
				seen = append(seen, name)
			} else {
				if many == nil {
					many = make(map[string]bool, 2*len(seen))
					for _, n := range seen {
						many[n] = true
					}
				}
				if many[name] {
					return errJSON
				}
				many[name] = true
			}
			p.ws()
			if !p.eat(':') {
				return errJSON
			}
			p.ws()
			vstart := p.i
			if !p.value(1) {
				return errJSON
			}
			if err := fn(name, s[vstart:p.i]); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return errJSON
		}
	}
	p.ws()
	if p.i != len(s) {
		return errJSON
	}
	return nil
}

// scanArray calls fn with the raw text of each element of the JSON array raw,
// which scanObject has already validated.
func scanArray(raw string, fn func(elem string) error) error {
	p := jsonScanner{s: raw}
	p.ws()
	if !p.eat('[') {
		return errJSON
	}
	p.ws()
	if p.eat(']') {
		return nil
	}
	for {
		p.ws()
		start := p.i
		if !p.value(1) {
			return errJSON
		}
		if err := fn(raw[start:p.i]); err != nil {
			return err
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return nil
		}
		return errJSON
	}
}

// unquote decodes a validated JSON string literal (quotes included). Without
// escapes it returns a substring; with them it defers to encoding/json, so
// escapes decode exactly as go-jose and other Go JOSE code decode them.
func unquote(raw string) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errJSON
	}
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	var out string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return "", errJSON
	}
	return out, nil
}

// jsonScanner is a validating cursor over JSON text.
type jsonScanner struct {
	s string
	i int
}

func (p *jsonScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScanner) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonScanner) lit(word string) bool {
	if strings.HasPrefix(p.s[p.i:], word) {
		p.i += len(word)
		return true
	}
	return false
}

// value skips one JSON value at nesting depth d.
func (p *jsonScanner) value(d int) bool {
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
	case c == '{':
		return d < maxJSONDepth && p.object(d+1)
	case c == '[':
		return d < maxJSONDepth && p.array(d+1)
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	}
	return false
}

func (p *jsonScanner) object(d int) bool {
	p.i++ // {
	p.ws()
	if p.eat('}') {
		return true
	}
	for {
		p.ws()
		if !p.str() {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !p.value(d) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

func (p *jsonScanner) array(d int) bool {
	p.i++ // [
	p.ws()
	if p.eat(']') {
		return true
	}
	for {
		p.ws()
		if !p.value(d) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		return p.eat(']')
	}
}

// str skips a string literal: no raw control characters, only the escapes
// RFC 8259 §7 defines.
func (p *jsonScanner) str() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.s) {
				return false
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.s) {
					return false
				}
				for _, h := range []byte(p.s[p.i : p.i+4]) {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonScanner) number() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.s) && '1' <= p.s[p.i] && p.s[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits skips one or more decimal digits.
func (p *jsonScanner) digits() bool {
	start := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// stringValue decodes raw as a JSON string, or fails if it is another type.
func stringValue(raw string) (string, bool) {
	if raw == "" || raw[0] != '"' {
		return "", false
	}
	s, err := unquote(raw)
	return s, err == nil
}

// numberValue decodes raw as a finite JSON number, or fails if it is another
// type (a string holding digits included).
func numberValue(raw string) (float64, bool) {
	if raw == "" || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(raw, 64)
	return f, err == nil
}
