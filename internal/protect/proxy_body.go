package protect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/credshield/credshield/internal/httpapi"
)

var errLoginContentType = errors.New("Content-Type must be application/x-www-form-urlencoded or application/json")

// parseLoginBody reads a login body the way the app behind the proxy will,
// or refuses it: a form (parsed as strictly as serve's token endpoint) or
// a JSON object. It returns the string-valued fields. Anything two parsers
// could read differently — a repeated field, a JSON member whose name
// differs from the username field only in case (Go's encoding/json would
// fill the field from it), a raw ';' in a form, invalid UTF-8, trailing
// data — is an error, so
// the guard and the app always agree on whose account is being tried.
func parseLoginBody(contentType string, body []byte, usernameField string) (map[string]string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errLoginContentType
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		if err := httpapi.CheckFormContentType(contentType); err != nil {
			return nil, err
		}
		if bytes.IndexByte(body, ';') >= 0 {
			// Some parsers split on ';' as well as '&' (older Python,
			// python-multipart): "username=a;username=b" would name
			// another account to the app than to the guard.
			return nil, errors.New("a raw ';' is ambiguous in a form; percent-encode it")
		}
		return httpapi.ParseForm(body)
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		for k, v := range params {
			if k != "charset" || !strings.EqualFold(v, "utf-8") {
				return nil, fmt.Errorf("unsupported Content-Type parameter %s=%s; only charset=utf-8 is accepted", httpapi.QuoteShort(k), httpapi.QuoteShort(v))
			}
		}
		return parseJSONLogin(body, usernameField)
	}
	return nil, errLoginContentType
}

var errJSONObject = errors.New("the body must be one JSON object")

// parseJSONLogin reads the top-level members of a JSON object, keeping
// those whose values are strings.
func parseJSONLogin(body []byte, usernameField string) (map[string]string, error) {
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
			return nil, fmt.Errorf("member %s is repeated", httpapi.QuoteShort(key))
		case len(seen) >= httpapi.MaxFormParams:
			return nil, fmt.Errorf("more than %d members", httpapi.MaxFormParams)
		case key != usernameField && strings.EqualFold(key, usernameField):
			return nil, fmt.Errorf("member %s differs from %s only in case", httpapi.QuoteShort(key), httpapi.QuoteShort(usernameField))
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errJSONObject
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			if key == usernameField {
				return nil, fmt.Errorf("member %s must be a string", httpapi.QuoteShort(key))
			}
			continue
		}
		if err := httpapi.CheckFormText(s); err != nil {
			return nil, fmt.Errorf("member %s %w", httpapi.QuoteShort(key), err)
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
