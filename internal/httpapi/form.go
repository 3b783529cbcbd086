package httpapi

import "github.com/credshield/credshield/internal/loginapi"

// MaxFormBytes caps a token request body (and a login body the gateway
// reads). A password form is a few hundred bytes; anything larger is
// refused before it is read, so a client cannot make the server buffer or
// parse megabytes before the guard has spoken.
const MaxFormBytes = loginapi.MaxBodyBytes

// MaxFormParams caps the number of parameters in one form (and members in
// a JSON login).
const MaxFormParams = loginapi.MaxParams

// The strict form rules are package loginapi's, shared by serve's token
// endpoint and protect: one parser, so the two can never drift apart.

// CheckFormContentType accepts application/x-www-form-urlencoded, with at
// most a UTF-8 charset parameter.
func CheckFormContentType(ct string) error { return loginapi.CheckFormContentType(ct) }

// ParseForm parses an application/x-www-form-urlencoded body strictly: a
// repeated parameter is an error, names and values must be valid UTF-8
// without NUL bytes, and empty values are dropped (RFC 6749 §3.1).
func ParseForm(body []byte) (map[string]string, error) { return loginapi.ParseForm(body) }

// CheckFormText accepts valid UTF-8 without NUL bytes.
func CheckFormText(s string) error { return loginapi.CheckText(s) }

// QuoteShort quotes s for an error message, cut to a length that cannot
// turn an error response into an echo of the request.
func QuoteShort(s string) string { return loginapi.QuoteShort(s) }
