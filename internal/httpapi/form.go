package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxFormBytes caps a token request body (and a login body the gateway
// reads). A password form is a few hundred
// bytes; anything larger is refused before it is read, so a client cannot
// make the server buffer or parse megabytes before the guard has spoken.
const MaxFormBytes = 8 << 10

// MaxFormParams caps the number of parameters in one form (and members
// in a JSON login).
const MaxFormParams = 32

var errContentType = errors.New("Content-Type must be application/x-www-form-urlencoded")

// CheckFormContentType accepts application/x-www-form-urlencoded, with at
// most a UTF-8 charset parameter.
func CheckFormContentType(ct string) error {
	if ct == "" {
		return errContentType
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errContentType
	}
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
		if seen > MaxFormParams {
			return nil, fmt.Errorf("more than %d form parameters", MaxFormParams)
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, errors.New("malformed percent-encoding in a parameter name")
		}
		if err := CheckFormText(key); err != nil {
			return nil, fmt.Errorf("parameter name %w", err)
		}
		if key == "" {
			return nil, errors.New("a parameter has an empty name")
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("malformed percent-encoding in parameter %s", QuoteShort(key))
		}
		if err := CheckFormText(val); err != nil {
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

// CheckFormText accepts valid UTF-8 without NUL bytes.
func CheckFormText(s string) error {
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
