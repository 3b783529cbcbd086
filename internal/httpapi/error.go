// Package httpapi holds the HTTP conventions the token service (package
// server) and the gateway (package protect) share, so that both answer
// alike and neither keeps a copy: RFC 6749 §5.2 JSON errors and the one
// function that writes them, the strict form parser, and the hardening
// every listener gets (timeouts, panic recovery, security headers).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Error is an RFC 6749 §5.2 error response. Code and Description are
// what the client sees; Cause is for the log only and never leaves the
// process, so a database or crypto error cannot leak through a response.
type Error struct {
	Status      int
	Code        string
	Description string
	RetryAfter  int    // seconds; 0 means no Retry-After header
	Nonce       string // a DPoP-Nonce to send (RFC 9449 §8); "" for none
	Cause       error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// InvalidRequest is the answer to a request that cannot be parsed. The
// description says precisely what was wrong with the request; it never
// mentions accounts.
func InvalidRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// Unavailable is the answer when a dependency (the hasher pool, the
// database, the guard's store) cannot serve now; Retry-After tells
// well-behaved clients when to come back.
func Unavailable(cause error) *Error {
	return &Error{
		Status:      http.StatusServiceUnavailable,
		Code:        "temporarily_unavailable",
		Description: "the service is busy; retry later",
		RetryAfter:  1,
		Cause:       cause,
	}
}

// Responder is an error that renders its own response, such as the
// gate's refusals (a challenge, a 429): WriteError hands the response to
// it, so such an answer has one shape wherever it is returned.
type Responder interface {
	error
	WriteResponse(w http.ResponseWriter)
}

// ErrorBody is the JSON body of every error. "detail" repeats the
// description because FastAPI front ends display that field. Error is
// empty only for a bare RFC 6750 challenge (no credentials sent).
type ErrorBody struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// WriteError turns a handler's error into the response and log line; nil
// writes nothing. A Responder writes itself; an *Error becomes its status
// and JSON body (logged when the fault is the server's); anything else is
// a logged 500 with a generic body.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if err == nil {
		return
	}
	if re, ok := err.(Responder); ok {
		// The common case, a refusal returned as it is, without the
		// allocation errors.As costs.
		re.WriteResponse(w)
		return
	}
	var re Responder
	if errors.As(err, &re) {
		re.WriteResponse(w)
		return
	}
	var oe *Error
	if !errors.As(err, &oe) {
		log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeInternal(w)
		return
	}
	if oe.Status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelWarn, "request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	if oe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(oe.RetryAfter))
	}
	if oe.Nonce != "" {
		w.Header().Set("DPoP-Nonce", oe.Nonce)
	}
	WriteJSON(w, oe.Status, ErrorBody{Error: oe.Code, Description: oe.Description, Detail: oe.Description})
}

func writeInternal(w http.ResponseWriter) {
	WriteJSON(w, http.StatusInternalServerError, ErrorBody{Error: "server_error", Description: "internal error", Detail: "internal error"})
}

// WriteJSON writes v as the response body. Encoding our own response
// types cannot fail, so an error here means the client went away.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
