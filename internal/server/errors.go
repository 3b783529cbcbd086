package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/verify"
)

// handlerFunc is an HTTP handler that returns its failure instead of writing
// it, so that one adapter (Server.handle) decides status, body and log line
// for every error in the service.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// oauthError is an RFC 6749 §5.2 error response. Code and Description are
// what the client sees; Cause is for the log only and never leaves the
// process, so a database or crypto error cannot leak through a response.
type oauthError struct {
	Status      int
	Code        string
	Description string
	RetryAfter  int    // seconds; 0 means no Retry-After header
	Nonce       string // a DPoP-Nonce to send (RFC 9449 §8); "" for none
	Cause       error
}

func (e *oauthError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *oauthError) Unwrap() error { return e.Cause }

// invalidRequest is the answer to a request the server cannot parse. The
// description says precisely what was wrong with the request; it never
// mentions accounts.
func invalidRequest(format string, args ...any) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// unavailable is the answer when a dependency (the hasher pool, the
// database) cannot serve now; Retry-After tells well-behaved clients when to
// come back.
func unavailable(cause error) *oauthError {
	return &oauthError{
		Status:      http.StatusServiceUnavailable,
		Code:        "temporarily_unavailable",
		Description: "the service is busy; retry later",
		RetryAfter:  1,
		Cause:       cause,
	}
}

// deniedError is a request the guard refused with a 429; writeError
// renders it as every guard 429 is rendered (tooManyAttempts), so they
// all have one shape.
type deniedError struct{ verdict guard.Verdict }

func (e *deniedError) Error() string { return "too many attempts: " + string(e.verdict.Reason) }

// unavailableResource is unavailable for a resource endpoint (/users/me,
// /verify), which answers through package verify: the same 503,
// temporarily_unavailable and Retry-After.
func unavailableResource(cause error) *verify.Error {
	u := unavailable(cause)
	return &verify.Error{Status: u.Status, Code: u.Code, Description: u.Description,
		RetryAfter: time.Duration(u.RetryAfter) * time.Second, Err: cause}
}

// errorBody is the JSON body of every error. "detail" repeats the
// description because FastAPI front ends display that field. Error is empty
// only for a bare RFC 6750 challenge (no credentials sent).
type errorBody struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// handle adapts a handlerFunc to http.Handler: the one place where errors
// become responses and log lines.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		var ve *verify.Error
		var de *deniedError // the guard's 429 has one shape everywhere
		if errors.As(err, &ve) && !errors.As(err, &de) {
			s.refuseResource(w, r, ve)
			return
		}
		s.writeError(w, r, err)
	})
}

// writeError turns a handler's error (other than a verify.Error, which
// only Server answers) into the response and log line; nil writes
// nothing. The proxy answers its own errors through it too.
func (g *loginGate) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	var de *deniedError
	if errors.As(err, &de) {
		_ = g.tooManyAttempts(w, de.verdict)
		return
	}
	var oe *oauthError
	if !errors.As(err, &oe) {
		g.log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error", Description: "internal error", Detail: "internal error"})
		return
	}
	if oe.Status >= 500 {
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	if oe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(oe.RetryAfter))
	}
	if oe.Nonce != "" {
		w.Header().Set("DPoP-Nonce", oe.Nonce)
	}
	writeJSON(w, oe.Status, errorBody{Error: oe.Code, Description: oe.Description, Detail: oe.Description})
}

// writeJSON writes v as the response body. Encoding our own response types
// cannot fail, so an error here means the client went away.
func writeJSON(w http.ResponseWriter, status int, v any) {
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
