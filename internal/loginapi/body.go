package loginapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes caps a login or token request body. A password form is a
// few hundred bytes; anything larger is refused before it is read, so a
// client cannot make the server buffer or parse megabytes before the
// guard has spoken.
const MaxBodyBytes = 8 << 10

// MaxParams caps the number of parameters in one form or members in one
// JSON object.
const MaxParams = 32

var (
	errFormContentType  = errors.New("Content-Type must be application/x-www-form-urlencoded")
	errLoginContentType = errors.New("Content-Type must be application/x-www-form-urlencoded or application/json")
	errJSONObject       = errors.New("the body must be one JSON object")
)

// CheckFormContentType accepts application/x-www-form-urlencoded, with at
// most a UTF-8 charset parameter.
func CheckFormContentType(ct string) error {
	switch ct {
	case "":
		return errFormContentType
	case "application/x-www-form-urlencoded":
		return nil // what mime.ParseMediaType would accept, without its map
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errFormContentType
	}
	return checkCharset(params)
}

func checkCharset(params map[string]string) error {
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Errorf("unsupported Content-Type parameter %s=%s; only charset=utf-8 is accepted", QuoteShort(k), QuoteShort(v))
		}
	}
	return nil
}

// ParseForm parses an application/x-www-form-urlencoded body more strictly
// than net/url: a repeated parameter is an error (RFC 6749 §3.1 says
// parameters MUST NOT repeat, and accepting the first or last one lets two
// parsers in a chain disagree), and every name and value must be valid UTF-8
// without NUL bytes. Parameters with empty values are dropped, as RFC 6749
// §3.1 says to treat them as omitted.
func ParseForm(body []byte) (map[string]string, error) {
	form := make(map[string]string, 8)
	seen := 0
	for rest := string(body); rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		seen++
		if seen > MaxParams {
			return nil, fmt.Errorf("more than %d form parameters", MaxParams)
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, errors.New("malformed percent-encoding in a parameter name")
		}
		if err := CheckText(key); err != nil {
			return nil, fmt.Errorf("parameter name %w", err)
		}
		if key == "" {
			return nil, errors.New("a parameter has an empty name")
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("malformed percent-encoding in parameter %s", QuoteShort(key))
		}
		if err := CheckText(val); err != nil {
			return nil, fmt.Errorf("parameter %s %w", QuoteShort(key), err)
		}
		if _, dup := form[key]; dup {
			return nil, fmt.Errorf("parameter %s is repeated", QuoteShort(key))
		}
		form[key] = val
	}
	for k, v := range form {
		if v == "" {
			delete(form, k)
		}
	}
	return form, nil
}

// ParseBody reads a login body the way the service behind the proxy will,
// or refuses it: a form (parsed by ParseForm) or a JSON object. It returns
// the string-valued fields. read names the fields the caller will act on
// (the identifier, the secret, a method); for those, a JSON member whose
// name differs only in case is an error too, since Go's encoding/json —
// which Authelia and Kratos decode with — fills a field from any case
// variant, the last one winning. Anything else two parsers could read
// differently — a repeated field, a raw ';' in a form, invalid UTF-8,
// trailing data — is an error as well, so the guard and the service always
// agree on whose account is being tried.
func ParseBody(contentType string, body []byte, read ...string) (map[string]string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errLoginContentType
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		if err := checkCharset(params); err != nil {
			return nil, err
		}
		if bytes.IndexByte(body, ';') >= 0 {
			// Some parsers split on ';' as well as '&' (older Python,
			// python-multipart): "username=a;username=b" would name
			// another account to the app than to the guard.
			return nil, errors.New("a raw ';' is ambiguous in a form; percent-encode it")
		}
		fields, err := ParseForm(body)
		if err != nil {
			return nil, err
		}
		// Form parsers match names exactly, but a case variant of a
		// field the guard reads can only be an attempt to confuse one.
		for k := range fields {
			if err := checkCaseVariant(k, read); err != nil {
				return nil, err
			}
		}
		return fields, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if err := checkCharset(params); err != nil {
			return nil, err
		}
		return parseJSON(body, read)
	}
	return nil, errLoginContentType
}

// checkCaseVariant refuses key when it differs from one of read only in
// case (strings.EqualFold folds as encoding/json does, ſ and the Kelvin
// sign included).
func checkCaseVariant(key string, read []string) error {
	for _, f := range read {
		if key != f && strings.EqualFold(key, f) {
			return fmt.Errorf("member %s differs from %s only in case", QuoteShort(key), QuoteShort(f))
		}
	}
	return nil
}

func isRead(key string, read []string) bool {
	for _, f := range read {
		if key == f {
			return true
		}
	}
	return false
}

// parseJSON reads the top-level members of a JSON object, keeping those
// whose values are non-empty strings; a member in read must be a string.
func parseJSON(body []byte, read []string) (map[string]string, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errJSONObject
	}
	fields := make(map[string]string, 8)
	seen := make(map[string]bool, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errJSONObject
		}
		key, _ := tok.(string)
		switch {
		case seen[key]:
			return nil, fmt.Errorf("member %s is repeated", QuoteShort(key))
		case len(seen) >= MaxParams:
			return nil, fmt.Errorf("more than %d members", MaxParams)
		}
		if err := checkCaseVariant(key, read); err != nil {
			return nil, err
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errJSONObject
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			if isRead(key, read) {
				return nil, fmt.Errorf("member %s must be a string", QuoteShort(key))
			}
			continue
		}
		if err := CheckText(s); err != nil {
			return nil, fmt.Errorf("member %s %w", QuoteShort(key), err)
		}
		if s != "" {
			fields[key] = s
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errJSONObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errJSONObject
	}
	return fields, nil
}

// CheckText refuses invalid UTF-8 and NUL bytes in a name or value.
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	return nil
}

// QuoteShort quotes s for an error message, cut to a length that cannot
// turn an error response into an echo of the request.
func QuoteShort(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}
