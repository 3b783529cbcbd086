package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/credshield/credshield/internal/httpapi"
)

// handlerFunc is an HTTP handler that returns its failure instead of writing
// it, so that one adapter (Server.handle) decides status, body and log line
// for every error in the service.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// oauthError, errorBody, invalidRequest, unavailable, writeJSON and
// quoteShort are package httpapi's, which the gateway shares, under the
// names this package's handlers use.
type (
	oauthError = httpapi.Error
	errorBody  = httpapi.ErrorBody
)

func invalidRequest(format string, args ...any) *oauthError {
	return httpapi.InvalidRequest(format, args...)
}

func unavailable(cause error) *oauthError { return httpapi.Unavailable(cause) }

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }

func quoteShort(s string) string { return httpapi.QuoteShort(s) }

// bearerError is an RFC 6750 §3 / RFC 9449 §7.1 error from a protected
// resource. Code is empty when the request carried no credentials at all:
// then the challenges name only the realm, as §3.1 asks. Scheme is the
// challenge the error parameters go on ("" means Bearer).
type bearerError struct {
	Status      int
	Scheme      string
	Code        string
	Description string
	Nonce       string // a DPoP-Nonce to send with use_dpop_nonce
	Cause       error
}

func (e *bearerError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("bearer %s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return "bearer " + e.Code + ": " + e.Description
}

func (e *bearerError) Unwrap() error { return e.Cause }

// handle adapts a handlerFunc to http.Handler: the one place where errors
// become responses and log lines.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		var be *bearerError
		if !errors.As(err, &be) {
			httpapi.WriteError(w, r, s.log, err)
			return
		}
		hdr := w.Header()
		if !s.cfg.RequireDPoP {
			hdr.Add("WWW-Authenticate", s.challenge(schemeBearer, be))
		}
		hdr.Add("WWW-Authenticate", s.challenge(schemeDPoP, be))
		if be.Nonce != "" {
			hdr.Set("DPoP-Nonce", be.Nonce)
		}
		writeJSON(w, be.Status, errorBody{Error: be.Code, Description: be.Description, Detail: be.Description})
	})
}

// challenge renders one WWW-Authenticate challenge for e (RFC 6750 §3, RFC
// 9449 §7.1): the error parameters go on the challenge of the scheme e
// belongs to, and the DPoP challenge always lists the proof algorithms.
// The Bearer challenge comes first unless DPoP is required, so clients that
// read one header see the scheme they know.
func (s *Server) challenge(scheme string, e *bearerError) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(` realm=`)
	b.WriteString(strconv.Quote(s.cfg.Realm))
	if e.Code != "" && cmpOr(e.Scheme, schemeBearer) == scheme {
		fmt.Fprintf(&b, `, error=%q`, e.Code)
		if e.Description != "" {
			fmt.Fprintf(&b, `, error_description=%q`, e.Description)
		}
	}
	if scheme == schemeDPoP {
		fmt.Fprintf(&b, `, algs=%q`, s.dpopAlgs)
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
