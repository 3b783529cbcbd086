package loginapi

import (
	"bytes"
	"fmt"
	"html/template"
	"mime"
	"net/http"
)

// A person who posts a login form from a browser reads the refusal, not a
// program: they get a small HTML page that says what happened and when to
// try again, in place of the JSON a script would parse. The page loads
// nothing (no script, image, font or style sheet from anywhere), so it
// works behind any Content-Security-Policy and leaks no request to a third
// party, and it is never cached: it speaks of one moment.
//
// Until the browser solves the proof-of-work challenge itself, a
// challenge refusal on this page also only says when to come back.

// pageText is the wording of one refusal page. Every word a person reads
// is in refusalText, so the texts are reviewed (and one day translated)
// in one place.
type pageText struct {
	Title, Heading, Body string
	// Retry is the sentence that says when to try again.
	Retry string
}

// refusalText returns the words of the page for r.
func refusalText(r Refusal) pageText {
	switch r.Kind {
	case ChallengeRequired:
		retry := "Please try again in a few minutes."
		if r.RetryAfter > 0 {
			retry = "Please try again " + inAbout(r.RetryAfter) + "."
		}
		return pageText{
			Title:   "Sign-in paused",
			Heading: "We need to check this sign-in",
			Body:    "There have been unusual sign-in attempts recently, and this page cannot run the extra check we ask for right now. Nothing you entered was checked.",
			Retry:   retry,
		}
	}
	return pageText{
		Title:   "Too many sign-in attempts",
		Heading: "Too many sign-in attempts",
		Body:    "There have been too many sign-in attempts from your network or for this account. Nothing you entered was checked.",
		Retry:   "Please try again " + inAbout(r.retryAfter()) + ".",
	}
}

// inAbout says a delay in words a person reads at a glance.
func inAbout(seconds int) string {
	switch {
	case seconds <= 1:
		return "in a second"
	case seconds < 60:
		return fmt.Sprintf("in %d seconds", seconds)
	case seconds < 90:
		return "in a minute"
	case seconds < 3600:
		return fmt.Sprintf("in %d minutes", (seconds+59)/60)
	case seconds < 5400:
		return "in about an hour"
	}
	return fmt.Sprintf("in about %d hours", (seconds+3599)/3600)
}

// refusalPage is parsed once; html/template escapes every text it is
// given, though all of them are the package's own.
var refusalPage = template.Must(template.New("refusal").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}</style>
</head>
<body>
<main>
<h1>{{.Heading}}</h1>
<p>{{.Body}}</p>
<p><strong>{{.Retry}}</strong></p>
</main>
</body>
</html>
`))

// pageCSP allows the page's one inline style and nothing else: no
// script, no frame, no form, no request anywhere.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// htmlRefusal renders r as the refusal page: 429 with Retry-After when
// throttled; 403 for a challenge, with Retry-After when the guard gave
// one.
func htmlRefusal(r Refusal) Response {
	status, retry := http.StatusTooManyRequests, r.retryAfter()
	if r.Kind == ChallengeRequired {
		status, retry = http.StatusForbidden, r.RetryAfter
	}
	var b bytes.Buffer
	// The template and its data are the package's own; executing it
	// into a buffer cannot fail.
	_ = refusalPage.Execute(&b, refusalText(r))
	h := http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {pageCSP},
		"X-Content-Type-Options":  {"nosniff"},
		"Referrer-Policy":         {"no-referrer"},
	}
	if retry > 0 {
		h.Set("Retry-After", fmt.Sprint(retry))
	}
	return Response{Status: status, Header: h, Body: b.Bytes()}
}

// formPost reports whether the refused request was an HTML form's post:
// a URL-encoded or multipart body, which browsers send and programs
// rarely do.
func (r Refusal) formPost() bool {
	mt, _, err := mime.ParseMediaType(r.ContentType)
	return err == nil && (mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data")
}
