package interstitial

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/seal"
)

// FormSealed is the form field in which the page posts the sealed login
// form back, beside challenge.FormToken and challenge.FormSolution. A
// form post to a login path with exactly these three fields is a
// continuation: the page's, never a person's own form.
const FormSealed = "credshield_form"

// formType is the only body the page carries on: what an HTML form posts
// by default. Multipart forms (file uploads) get the usual refusal.
const formType = "application/x-www-form-urlencoded"

// Response is a page as the caller writes it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Page renders the challenge page and opens what it posts back. Build it
// with New; the zero value is not usable. It is safe for concurrent use.
type Page struct {
	assets string // the browser assets' URL prefix (package browser)
	sealer *Sealer
	text   Text
	rand   io.Reader
}

// New returns a Page that loads the solver from the assets prefix (served
// on the same origin; see browser.Handler), seals with sealer and speaks
// text.
func New(assetsPrefix string, sealer *Sealer, text Text) (*Page, error) {
	if !strings.HasPrefix(assetsPrefix, "/") || !strings.HasSuffix(assetsPrefix, "/") {
		return nil, fmt.Errorf("interstitial: assets prefix %q is not an absolute path ending in /", assetsPrefix)
	}
	if sealer == nil {
		return nil, errors.New("interstitial: no sealer")
	}
	return &Page{assets: assetsPrefix, sealer: sealer, text: text, rand: rand.Reader}, nil
}

// SameOrigin reports whether a browser's form post r came from a page of
// the origin it was posted to, origin ("https://app.example", as the
// browser addressed the request: the caller knows the scheme and host a
// trusted proxy in front saw). Modern browsers say it outright over HTTPS
// and on localhost (Sec-Fetch-Site: same-origin); other browsers, and any
// browser on plain HTTP elsewhere, send only an Origin, which must then
// name origin exactly (default ports and a trailing dot aside).
//
// Only such a post may get the page: the page posts the form again from
// the app's own origin, so the app would receive a post that another
// site's page made as a same-origin one, with the SameSite cookies the
// browser withholds from other sites (the device cookie among them) — a
// login forgery that the app's own defences (an Origin check, SameSite
// cookies) stop without the page.
func SameOrigin(r *http.Request, origin string) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "":
		o, ok := CanonicalOrigin(r.Header.Get("Origin"))
		want, wok := CanonicalOrigin(origin)
		return ok && wok && o == want
	}
	return false
}

// FromListedOrigin reports whether the browser's form post r came from a
// page at one of origins (each as CanonicalOrigin gives it): login pages
// of the operator's own served apart from the login URL, such as a Kratos
// self-service UI on its own host. Only the Origin header says so: such a
// post is same-site or cross-site by nature. The operator vouches for
// these origins: the page turns their posts into same-origin ones.
func FromListedOrigin(r *http.Request, origins []string) bool {
	if len(origins) == 0 {
		return false
	}
	o, ok := CanonicalOrigin(r.Header.Get("Origin"))
	return ok && slices.Contains(origins, o)
}

// CanonicalOrigin is s, a serialised origin (scheme://host[:port]), with
// the host in lower case, without a trailing dot and without the scheme's
// default port; ok is false for anything else (a path, user information,
// "null", another scheme).
func CanonicalOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	host, port := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if host == "" {
		return "", false
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host, true
}

// Wanted reports whether a refused login with header h gets the page
// rather than the API answer: only a browser's top-level navigation
// (Sec-Fetch-Mode: navigate to a document; without Fetch Metadata, an
// Accept that names text/html) that posted a URL-encoded form. A script
// (fetch, XHR) and an API client posting the same form keep the JSON
// challenge_required they know how to solve.
func Wanted(h http.Header) bool {
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != formType {
		return false
	}
	switch h.Get("Sec-Fetch-Mode") {
	case "navigate":
		d := h.Get("Sec-Fetch-Dest")
		return d == "" || d == "document"
	case "":
		return acceptsHTML(h.Values("Accept"))
	}
	return false
}

// acceptsHTML reports whether an Accept header names text/html with a
// quality above zero.
func acceptsHTML(lines []string) bool {
	for _, line := range lines {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/html" {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// Render returns the page for a login form body refused with c: body,
// stripped of any challenge field, is sealed for c, the client and
// target (the login URL as the request named it: the page posts back to
// its own URL, which is that one).
func (p *Page) Render(now time.Time, c challenge.Challenge, client, target string, body []byte) (Response, error) {
	sealed, err := p.sealer.Seal(p.rand, now, Binding{Challenge: c.Token, Client: client, Target: target}, StripFields(body))
	if err != nil {
		return Response{}, err
	}
	nonce, err := newNonce(p.rand)
	if err != nil {
		return Response{}, err
	}
	var b bytes.Buffer
	err = challengePage.Execute(&b, pageData{T: p.text, Title: p.text.Title, Nonce: nonce, Script: p.assets + "credshield.js",
		Sealed: sealed, Challenge: c.Token, Difficulty: c.Difficulty,
		FormSealed: FormSealed, FormToken: challenge.FormToken, FormSolution: challenge.FormSolution})
	if err != nil {
		return Response{}, fmt.Errorf("render challenge page: %w", err)
	}
	// 403: the sign-in was not let through (yet); the page carries it on.
	return Response{Status: http.StatusForbidden, Header: pageHeader(nonce), Body: b.Bytes()}, nil
}

// ContinuationSize is the size of the continuation the page posts back
// for a form of formLen bytes refused with the encoded challenge token,
// with the longest solution: a caller that caps login bodies offers the
// page only when it fits.
func ContinuationSize(formLen int, token string) int {
	sealed := base64.RawURLEncoding.EncodedLen(headerSize + seal.Overhead + formLen)
	const maxSolution = 20 // a uint64 in decimal
	return len(FormSealed+"=&"+challenge.FormToken+"=&"+challenge.FormSolution+"=") + sealed + len(url.QueryEscape(token)) + maxSolution
}

// Continuation is what the page posts back.
type Continuation struct {
	Sealed, Challenge, Solution string
}

// ReadContinuation reads a login body as the page's continuation: ok is
// false for any other body (a person's own form, JSON), and err is set
// for a body that names FormSealed but is not exactly the page's three
// fields, once each.
func ReadContinuation(contentType string, body []byte) (c Continuation, ok bool, err error) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != formType {
		return c, false, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form[FormSealed] == nil {
		return c, false, nil
	}
	for _, k := range []string{FormSealed, challenge.FormToken, challenge.FormSolution} {
		if len(form[k]) != 1 || form[k][0] == "" {
			return c, true, fmt.Errorf("a continuation carries %s, %s and %s once each", FormSealed, challenge.FormToken, challenge.FormSolution)
		}
	}
	if len(form) != 3 {
		return c, true, fmt.Errorf("a continuation carries only %s, %s and %s", FormSealed, challenge.FormToken, challenge.FormSolution)
	}
	return Continuation{Sealed: form.Get(FormSealed), Challenge: form.Get(challenge.FormToken), Solution: form.Get(challenge.FormSolution)}, true, nil
}

// Open returns the login form c carries, sealed for this client and
// target, and spends it (Sealer.Open). The form's content type is
// formType.
func (p *Page) Open(ctx context.Context, now time.Time, c Continuation, client, target string) ([]byte, error) {
	return p.sealer.Open(ctx, now, Binding{Challenge: c.Challenge, Client: client, Target: target}, c.Sealed)
}

// ContentType is the content type of every form Open returns.
const ContentType = formType

// Expired returns the page for a continuation that cannot go on: expired,
// replayed, or not one of ours. It says to sign in again.
func (p *Page) Expired() Response {
	nonce, err := newNonce(p.rand)
	if err != nil {
		nonce = "" // the page has no script; its style is simply not applied
	}
	var b bytes.Buffer
	// The template and its data are the package's own.
	_ = expiredPage.Execute(&b, pageData{T: p.text, Title: p.text.ExpiredTitle, Nonce: nonce})
	return Response{Status: http.StatusBadRequest, Header: pageHeader(nonce), Body: b.Bytes()}
}

// StripFields returns a URL-encoded form without the fields the page and
// API clients add for the gate (the challenge, its solution, the sealed
// form), each pair otherwise kept byte for byte: the app behind the
// proxy never sees them, and may reject fields it does not know.
func StripFields(body []byte) []byte {
	var out []byte
	for _, pair := range bytes.Split(body, []byte("&")) {
		k, _, _ := bytes.Cut(pair, []byte("="))
		name, err := url.QueryUnescape(string(k))
		if err == nil && (name == challenge.FormToken || name == challenge.FormSolution || name == FormSealed) {
			continue
		}
		if len(out) > 0 {
			out = append(out, '&')
		}
		out = append(out, pair...)
	}
	return out
}

// CSP returns the pages' Content-Security-Policy for nonce: the inline
// module and style carry the nonce, the solver and its WebAssembly come
// from this origin, and the page may post only to this origin.
func CSP(nonce string) string {
	n := "'nonce-" + nonce + "'"
	return "default-src 'none'; script-src " + n + " 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; style-src " + n +
		"; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

func pageHeader(nonce string) http.Header {
	return http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {CSP(nonce)},
		"X-Content-Type-Options":  {"nosniff"},
		// same-origin, not no-referrer: under no-referrer a browser
		// sends the page's post with Origin: null, which the CSRF checks
		// of many apps (Django, Rails) refuse; same-origin still sends
		// nothing to another site.
		"Referrer-Policy": {"same-origin"},
	}
}

// newNonce returns a CSP nonce: 16 random bytes in base64url.
func newNonce(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("csp nonce: %w", err)
	}
	// base64url: CSP accepts its alphabet, and html/template leaves it
	// unescaped in an attribute (it would escape "+").
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

type pageData struct {
	T                                   Text
	Title                               string
	Nonce, Script                       string
	Sealed, Challenge                   string
	Difficulty                          int
	FormSealed, FormToken, FormSolution string
}

// pageHead is the head both pages share; Title names the page.
var pageHead = template.Must(template.New("page").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="{{.T.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style nonce="{{.Nonce}}">` + pageStyle + `</style>
</head>
{{end}}`))

const pageStyle = `body{font:16px/1.5 system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}progress{width:100%;height:1em}`

// challengePage's form has no action, so the browser posts it to the
// page's own URL: the login URL exactly as the browser sent it, which the
// form was sealed for. Writing the URL into an action attribute would let
// html/template respell it (it percent-encodes "|", "{", "}" and others
// that browsers send raw in a query) and the continuation would miss its
// binding.
//
// challengePage solves the challenge with credshield.js (its Web Workers
// run argon2id in WebAssembly) and submits the continuation form by itself.
// Every value reaches the script through the DOM: the script holds no
// template action, so html/template never has to escape into JavaScript.
var challengePage = template.Must(template.Must(pageHead.Clone()).Parse(`{{template "head" .}}
<body>
<main id="credshield" data-script="{{.Script}}" data-difficulty="{{.Difficulty}}" data-progress="{{.T.Progress}}" data-done="{{.T.Done}}" data-failed="{{.T.Failed}}">
<h1>{{.T.Heading}}</h1>
<p>{{.T.Intro}}</p>
<p id="credshield-status" role="status" aria-live="polite" hidden>{{.T.Starting}}</p>
<progress id="credshield-progress" max="100" value="0" hidden></progress>
<noscript><p><strong>{{.T.NoScript}}</strong></p></noscript>
<form id="credshield-continue" method="post">
<input type="hidden" name="{{.FormSealed}}" value="{{.Sealed}}">
<input type="hidden" id="credshield-token" name="{{.FormToken}}" value="{{.Challenge}}">
<input type="hidden" id="credshield-solution" name="{{.FormSolution}}" value="">
</form>
</main>
<script type="module" nonce="{{.Nonce}}">
const main = document.getElementById("credshield");
const form = document.getElementById("credshield-continue");
const status = document.getElementById("credshield-status");
const bar = document.getElementById("credshield-progress");
status.hidden = false;
bar.hidden = false;
try {
  const { Credshield } = await import(main.dataset.script);
  const cs = new Credshield();
  cs.addEventListener("progress", (e) => {
    const percent = Math.min(99, Math.floor(100 * e.detail.evaluations / e.detail.expected));
    bar.value = percent;
    status.textContent = main.dataset.progress.replace("{percent}", String(percent));
  });
  const token = document.getElementById("credshield-token").value;
  const solution = await cs.solve({ token, difficulty: Number(main.dataset.difficulty) });
  document.getElementById("credshield-solution").value = solution;
  bar.value = 100;
  status.textContent = main.dataset.done;
  form.submit();
} catch (err) {
  status.textContent = main.dataset.failed;
  bar.hidden = true;
}
</script>
</body>
</html>
`))

var expiredPage = template.Must(template.Must(pageHead.Clone()).Parse(`{{template "head" .}}
<body>
<main>
<h1>{{.T.ExpiredTitle}}</h1>
<p>{{.T.Expired}}</p>
</main>
</body>
</html>
`))
