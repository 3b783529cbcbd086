package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/verify"
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

// unavailableResource is unavailable for a resource endpoint (/users/me,
// /verify), which answers through package verify: the same 503,
// temporarily_unavailable and Retry-After.
func unavailableResource(cause error) *verify.Error {
	u := unavailable(cause)
	return &verify.Error{Status: u.Status, Code: u.Code, Description: u.Description,
		RetryAfter: time.Duration(u.RetryAfter) * time.Second, Err: cause}
}

// handle adapts a handlerFunc to http.Handler: the one place where errors
// become responses and log lines. A resource endpoint's refusal
// (verify.Error) is rendered by package verify, except when it wraps a
// gate refusal: every 429 of the gate has one shape.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if _, ok := err.(httpapi.Responder); !ok && err != nil {
			var ve *verify.Error
			if errors.As(err, &ve) && !isResponder(err) {
				s.refuseResource(w, r, ve)
				return
			}
		}
		httpapi.WriteError(w, r, s.log, err)
	})
}
