package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// ErrBudget means the scan spent its --max-requests budget; the check that
// met it is reported inconclusive.
var ErrBudget = errors.New("scan: request budget spent")

// maxBody caps how much of a response the scanner reads.
const maxBody = 64 << 10

// Progress is what a progress display shows: the probe running and the
// requests spent of the budget.
type Progress struct {
	Probe  string
	Sent   int
	Budget int
}

// client sends the scan's requests within its budget and pace, and keeps a
// redacted text form of each exchange for evidence. Not safe for
// concurrent use: the scan is sequential, so that timing samples and
// rate-limit counts mean what they say.
type client struct {
	hc       *http.Client
	lim      *rate.Limiter
	budget   int // --max-requests
	reserve  int // requests kept back for the final session check
	sent     int
	probe    string
	progress func(Progress)
	secrets  []string // values never to show in evidence (the password)
}

// response is one answer, read and recorded.
type response struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	ex     Exchange
}

// errTransport wraps a failure to reach the target at all.
type errTransport struct{ err error }

func (e errTransport) Error() string { return "request failed: " + e.err.Error() }
func (e errTransport) Unwrap() error { return e.err }

func (c *client) setProbe(p string) {
	c.probe = p
	c.report()
}

func (c *client) report() {
	if c.progress != nil {
		c.progress(Progress{Probe: c.probe, Sent: c.sent, Budget: c.budget})
	}
}

// left returns how many requests the probes may still send.
func (c *client) left() int { return c.budget - c.reserve - c.sent }

// do sends req if the budget allows, waiting for the pace, and reads the
// answer.
func (c *client) do(ctx context.Context, req *http.Request, body []byte) (*response, error) {
	if c.left() <= 0 {
		return nil, ErrBudget
	}
	if err := c.lim.Wait(ctx); err != nil {
		return nil, fmt.Errorf("scan: pace: %w", err)
	}
	c.sent++
	c.report()
	req.Header.Set("User-Agent", "credshield-scan/1")
	start := time.Now()
	res, err := c.hc.Do(req.WithContext(ctx))
	if err != nil {
		return nil, errTransport{err}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		return nil, errTransport{err}
	}
	r := &response{status: res.StatusCode, header: res.Header, body: b, took: took}
	r.ex = Exchange{Request: c.renderRequest(req, body), Response: c.renderResponse(r)}
	return r, nil
}

func (c *client) get(ctx context.Context, u string, hdr map[string]string) (*response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("scan: request %s: %w", u, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(ctx, req, nil)
}

func (c *client) postForm(ctx context.Context, u string, form url.Values, hdr map[string]string) (*response, error) {
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scan: request %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(ctx, req, body)
}

func (c *client) options(ctx context.Context, u string, hdr map[string]string) (*response, error) {
	req, err := http.NewRequest(http.MethodOptions, u, nil)
	if err != nil {
		return nil, fmt.Errorf("scan: request %s: %w", u, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(ctx, req, nil)
}

// shownRequestHeaders are the request headers evidence shows.
var shownRequestHeaders = []string{"Authorization", "Origin", "Access-Control-Request-Method", "X-Forwarded-For", "X-Real-IP", "Forwarded"}

// shownResponseHeaders are the response headers evidence shows.
var shownResponseHeaders = []string{"Content-Type", "WWW-Authenticate", "Retry-After", "RateLimit", "RateLimit-Policy", "X-RateLimit-Remaining",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Set-Cookie"}

func (c *client) renderRequest(req *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", req.Method, req.URL.RequestURI())
	for _, h := range shownRequestHeaders {
		for _, v := range req.Header.Values(h) {
			if h == "Authorization" {
				v = redactAuthorization(v)
			}
			fmt.Fprintf(&b, "\n%s: %s", h, v)
		}
	}
	if len(body) > 0 {
		b.WriteString("\n\n")
		b.WriteString(c.redactForm(string(body)))
	}
	return b.String()
}

func (c *client) renderResponse(r *response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", r.status, http.StatusText(r.status))
	for _, h := range shownResponseHeaders {
		for _, v := range r.header.Values(h) {
			if h == "Set-Cookie" {
				name, _, _ := strings.Cut(v, "=")
				v = name + "=(redacted)"
			}
			fmt.Fprintf(&b, "\n%s: %s", h, v)
		}
	}
	if len(r.body) > 0 {
		body := redactTokensInBody(string(r.body))
		for _, s := range c.secrets {
			body = strings.ReplaceAll(body, s, "(redacted)")
		}
		if len(body) > 400 {
			body = body[:400] + "…"
		}
		b.WriteString("\n\n")
		b.WriteString(strings.TrimSpace(body))
	}
	return b.String()
}

// redactForm hides the password field of a login form or JSON body.
func (c *client) redactForm(body string) string {
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil {
			return "(JSON)"
		}
		if _, ok := m["password"]; ok {
			m["password"] = "(redacted)"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		return "(form)"
	}
	if form.Has("password") {
		form.Set("password", "(redacted)")
	}
	return strings.ReplaceAll(form.Encode(), "%28redacted%29", "(redacted)")
}

// redactAuthorization keeps a bearer token's header and payload (the
// scanner's own claims) and hides all but the start of its signature.
func redactAuthorization(v string) string {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok {
		return "(redacted)"
	}
	return scheme + " " + redactToken(tok)
}

func redactToken(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || strings.Count(tok, ".") != 2 {
		if len(tok) > 8 {
			return tok[:4] + "…(redacted)"
		}
		return tok
	}
	sig := tok[i+1:]
	if len(sig) <= 6 {
		return tok
	}
	return tok[:i+1] + sig[:6] + "…(redacted)"
}

var tokenField = regexp.MustCompile(`"(access_token|refresh_token|id_token|session_token)"(\s*:\s*)"([^"]*)"`)

func redactTokensInBody(s string) string {
	return tokenField.ReplaceAllStringFunc(s, func(m string) string {
		sub := tokenField.FindStringSubmatch(m)
		return `"` + sub[1] + `"` + sub[2] + `"` + redactToken(sub[3]) + `"`
	})
}

// exchanges collects the evidence of several responses, skipping nils.
func exchanges(rs ...*response) []Exchange {
	var out []Exchange
	for _, r := range rs {
		if r != nil {
			out = append(out, r.ex)
		}
	}
	return slices.Clip(out)
}
