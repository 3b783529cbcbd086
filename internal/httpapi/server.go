package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// NewServer is an http.Server for h with the timeouts every listener
// needs: the header phase and idle connections. Callers add the others
// their traffic allows (the token service bounds reads and writes; the
// gateway cannot, since pass-through traffic may last).
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// RecoverPanics turns a panic into a logged 500 with a generic body: a bug
// must never send a stack trace to a client or kill the process.
func RecoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic in handler", slog.String("path", r.URL.Path), slog.Any("panic", v))
				writeInternal(w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// SecurityHeaders sets headers every response should carry: nothing here
// is meant to be rendered or sniffed as HTML. The values are built once
// and shared (never modified), which keeps a throttled login's cost down.
func SecurityHeaders(next http.Handler) http.Handler {
	nosniff := []string{"nosniff"}
	noReferrer := []string{"no-referrer"}
	csp := []string{"default-src 'none'; frame-ancestors 'none'"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = noReferrer
		h["Content-Security-Policy"] = csp
		next.ServeHTTP(w, r)
	})
}
