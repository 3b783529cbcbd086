package protect

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/credshield/credshield/internal/challenge/interstitial"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/httpapi"
)

// A person at a browser who posts a login form while it must be
// challenged gets the challenge page (package interstitial) in place of
// the API's challenge_required: the page solves the challenge and posts
// back to the same login URL the sealed form, the challenge and the
// solution, and nothing else. The proxy recognises that continuation by
// its fields (interstitial.ReadContinuation), opens the form (bound to
// the challenge, this client address and this login URL, once, within two
// minutes) and reads it as if the person had posted it with the solution:
// the gate checks the solution exactly as an API client's, and the app
// receives the original form, without any challenge field.
//
// Posting back to the login URL rather than to a path under the assets
// prefix keeps the browser on the app's own URL, so the app's answer
// (its redirect, its cookies, its relative links) lands where a plain
// form post would have, and no second path has to be guarded.

// challengePage is the challenge page for a login refused with err, when
// the proxy has one and the request is a browser's form navigation from a
// page of the same origin (or of a listed login form origin); ok is false
// when the refusal should be answered as usual. The caller writes it.
func (p *Proxy) challengePage(r *http.Request, ex *exchange, body []byte, err error) (resp interstitial.Response, ok bool) {
	var ref *gate.Refusal
	if p.page == nil || !errors.As(err, &ref) || ref.Challenge == nil || !interstitial.Wanted(r.Header) ||
		!p.pageOffered(r, ex) || interstitial.ContinuationSize(len(body), ref.Challenge.Token) > httpapi.MaxFormBytes {
		// A post from another site's page, or a form too large to come
		// back sealed within the login body cap, gets the usual answer.
		return interstitial.Response{}, false
	}
	resp, rerr := p.page.Render(p.cfg.Now(), *ref.Challenge, ex.ip.String(), r.URL.RequestURI(), body)
	if rerr != nil {
		// The API answer still works for the scripts a page may run.
		p.log.WarnContext(r.Context(), "challenge page not rendered", "error", rerr.Error())
		return interstitial.Response{}, false
	}
	return resp, true
}

// continuation opens the login form a continuation carries, when body is
// one: it returns the form to read and forward in body's place, or the
// continuation nil and body unchanged for any other body. A continuation
// that cannot go on (expired, replayed, not sealed for this client and
// URL) is an error that renders the page saying to sign in again.
func (p *Proxy) continuation(r *http.Request, body []byte) (*interstitial.Continuation, []byte, error) {
	if p.page == nil {
		return nil, body, nil
	}
	c, ok, err := interstitial.ReadContinuation(r.Header.Get("Content-Type"), body)
	if !ok {
		return nil, body, nil
	}
	if err != nil {
		return nil, nil, httpapi.InvalidRequest("%v", err)
	}
	ex := exchangeFrom(r.Context())
	if !interstitial.SameOrigin(r, p.inboundOrigin(r, ex)) {
		// The page posts from the login's own origin; nothing else has a
		// sealed form to send (challengePage never answers another site).
		p.log.InfoContext(r.Context(), "challenge_page.refused", "ip", ex.ip.String(), "reason", "not posted from the same origin")
		return nil, nil, &pageError{resp: p.page.Expired(), cause: errors.New("continuation not posted from the same origin")}
	}
	form, err := p.page.Open(r.Context(), p.cfg.Now(), c, ex.ip.String(), r.URL.RequestURI())
	switch {
	case errors.Is(err, interstitial.ErrMalformed), errors.Is(err, interstitial.ErrExpired), errors.Is(err, interstitial.ErrReplayed):
		p.log.InfoContext(r.Context(), "challenge_page.refused", "ip", ex.ip.String(), "reason", err.Error())
		return nil, nil, &pageError{resp: p.page.Expired(), cause: err}
	case err != nil:
		return nil, nil, httpapi.Unavailable(err)
	}
	return &c, form, nil
}

// pageError is a continuation refused with a page: an error that renders
// itself (httpapi.Responder).
type pageError struct {
	resp  interstitial.Response
	cause error
}

func (e *pageError) Error() string { return e.cause.Error() }
func (e *pageError) Unwrap() error { return e.cause }

func (e *pageError) WriteResponse(w http.ResponseWriter) { writePage(w, e.resp) }

var _ httpapi.Responder = (*pageError)(nil)

func writePage(w http.ResponseWriter, resp interstitial.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// inboundOrigin is the origin the client addressed, for
// interstitial.SameOrigin.
func (p *Proxy) inboundOrigin(r *http.Request, ex *exchange) string {
	return p.inboundProto(r, ex) + "://" + inboundHost(r, ex)
}

// pageOffered reports whether a browser's form post may get the page:
// posted from the login's own origin, or from one of the operator's login
// pages served apart from it (--login-form-origin).
func (p *Proxy) pageOffered(r *http.Request, ex *exchange) bool {
	return interstitial.SameOrigin(r, p.inboundOrigin(r, ex)) || interstitial.FromListedOrigin(r, p.cfg.LoginFormOrigins)
}
