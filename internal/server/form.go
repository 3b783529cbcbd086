package server

import "github.com/credshield/credshield/internal/loginapi"

// MaxFormBytes caps a token request body. A password form is a few hundred
// bytes; anything larger is refused before it is read, so a client cannot
// make the server buffer or parse megabytes before the guard has spoken.
const MaxFormBytes = loginapi.MaxBodyBytes

// maxFormParams caps the number of parameters in one form.
const maxFormParams = loginapi.MaxParams

// The strict form rules are package loginapi's, shared by serve's token
// endpoint and protect: one parser, so the two can never drift apart.
func checkFormContentType(ct string) error             { return loginapi.CheckFormContentType(ct) }
func parseForm(body []byte) (map[string]string, error) { return loginapi.ParseForm(body) }
func checkFormText(s string) error                     { return loginapi.CheckText(s) }
func quoteShort(s string) string                       { return loginapi.QuoteShort(s) }
