// Package loginapi describes the login APIs of the services credshield
// guards: how a login request looks, where its identifier and secret are,
// how the service says yes and no, how to refuse in the service's own
// shape, and which header the service reads the client's address from.
//
// One Profile is everything the gateway (protect) needs to guard one
// service without knowing which service it is; the simulator and the
// scanner read the same profiles to attack and audit it. The package makes
// decisions only: it parses bytes it is given and answers values. It never
// reads a request or writes a response, so the proxy keeps the order of
// things (read, admit, forward, settle) and its undo; its one helper that
// touches a body, ReadAnswer, buffers the start of an answer for Classify
// and gives the client every byte.
//
// The client's side (NewAttempt, ReadRefusal, ServiceVersion) builds the
// logins the service's own clients send, for the simulator and the
// scanner: it sends only what a login needs first (a Kratos flow), through
// the caller's Doer, so the caller paces and counts every request.
//
// The rule all profiles keep: a success is recognised by a specific
// response field or cookie, never by status alone. A failure read as a
// success would refund the attacker's attempt and earn them a device
// credential, while a success read as a failure only costs a real user one
// attempt of budget.
package loginapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// Route is one HTTP method and one exact, percent-encoded path.
type Route struct {
	Method string
	Path   string
	// ProvesNoName marks a route whose success does not prove the secret
	// of the name the body carries (the service may judge a user it
	// already holds, as Keycloak's login form does after an identity-first
	// step or on re-authentication): attempts there are budgeted as usual
	// but never earn trust.
	ProvesNoName bool
}

// Profile describes one service's login API. Build one with New; the zero
// value is not usable. A Profile is immutable and safe for concurrent use.
type Profile struct {
	// Name is what users pass to --profile.
	Name string
	// Version is the service version the profile was written against.
	Version string
	// Sources lists the upstream files whose behaviour the profile
	// mirrors, so a reviewer can check it against a new release.
	Sources []string
	// Logins are the guarded login routes. Only these exact spellings are
	// forwarded as logins; the proxy refuses any other spelling of the
	// same paths (its path canonicalisation) and any other method on them.
	Logins []Route
	// PassThrough are routes the login needs that carry no secret (for
	// Kratos, creating a flow); the proxy forwards them like any request.
	PassThrough []Route
	// FormBodies reports that the service reads a login body sent as
	// application/x-www-form-urlencoded as a form. Without it only JSON
	// is accepted: a service that parses every body as JSON whatever its
	// Content-Type (Authelia) would read a form whose text is also a JSON
	// object as naming another account than the guard read.
	FormBodies bool
	// ClientIPHeader is the one header the proxy sets to the resolved
	// client address, replacing whatever the client sent in it.
	ClientIPHeader string
	// ClientIPHeadersRead are all the headers the service reads a client
	// address from, in the service's order; the proxy strips every one
	// but ClientIPHeader (its own list of forwarding headers is a
	// superset today, and must stay one).
	ClientIPHeadersRead []string
	// SilentUsernameBan reports that the service's own limit bans a
	// username after failures, never an address, and answers a banned
	// username exactly as a wrong password (Authelia's regulation), so a
	// client cannot see it: the scanner says so rather than "no limit".
	SilentUsernameBan bool
	// SessionTokens reports that a login is answered with an opaque
	// session (a Kratos session token, Authelia's cookie), never a JWT:
	// the scanner's JWT checks do not apply.
	SessionTokens bool

	api api
}

// api is the service-specific part of a Profile.
type api interface {
	// fields names the body fields read, for ParseBody's case rule.
	fields() []string
	// attempt reads an attempt from the strictly parsed body and query.
	attempt(fields map[string]string, query url.Values) (Attempt, error)
	// classify reads the service's answer to a forwarded attempt.
	classify(now time.Time, a Answer) Outcome
	// render answers a refusal in the service's shape; false means the
	// service speaks OAuth2 and the proxy's own RFC 6749 answers fit.
	render(r Refusal) (Response, bool)
}

// Attempt is what the guard needs to know about one login request.
type Attempt struct {
	// Identifier is the account name exactly as sent (the proxy
	// normalises it for budgets; device credentials bind the exact
	// spelling). It is "" when the body names no account, as in a second
	// factor where the session does: budget by address alone then.
	Identifier string
	// Method is the service's name for the kind of secret ("password",
	// "code"); "" when the service has one kind.
	Method string
	// Guess reports an attempt that submits a guessable secret, settled
	// by the answer. The proxy admits every attempt all the same (the
	// budgets also stop floods); one that is no guess (a Kratos request
	// to send a one-time code, a passkey assertion) is refunded whatever
	// the answer, and earns nothing.
	Guess bool
	// Earns reports that a success of this attempt proves the secret for
	// Identifier, so it may earn a device credential. A second factor
	// (no Identifier) earns nothing.
	Earns bool
	// Fields are the string-valued body fields, for the proxy's own
	// (challenge) fields.
	Fields map[string]string
}

// Outcome is how a service judged a forwarded attempt.
type Outcome int

const (
	// Failure: the secret may have been judged and no success was proven.
	// The zero value, so that an unset outcome can never be a success.
	Failure Outcome = iota
	// NotJudged: the service certainly did not judge the secret (it is
	// down, the flow expired, the request was malformed before any check):
	// the reservation is refunded.
	NotJudged
	// Success: the answer carries the service's proof of a login (a
	// session token, a session cookie, an access token).
	Success
)

func (o Outcome) String() string {
	switch o {
	case Failure:
		return "failure"
	case NotJudged:
		return "not_judged"
	case Success:
		return "success"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// MaxAnswerBytes caps the response body Classify reads. Login answers are
// small; a Kratos session with its identity is a few KiB.
const MaxAnswerBytes = 64 << 10

// Answer is the service's response to a forwarded attempt.
type Answer struct {
	Status int
	Header http.Header
	// Body holds at most MaxAnswerBytes; Truncated reports that there
	// was more (such an answer is never a success).
	Body      []byte
	Truncated bool
}

// RefusalKind says why the guard refused an attempt.
type RefusalKind int

const (
	// Throttled: too many attempts; come back after RetryAfter.
	Throttled RefusalKind = iota + 1
	// ChallengeRequired: solve the attached proof-of-work challenge and
	// retry.
	ChallengeRequired
)

// Refusal is the guard's refusal of an attempt, to be answered in the
// service's shape.
type Refusal struct {
	Kind RefusalKind
	// RetryAfter is in whole seconds, at least 1 for Throttled.
	RetryAfter int
	// Challenge is set for ChallengeRequired.
	Challenge *challenge.Challenge
	// Path and ContentType are the refused request's escaped path and
	// Content-Type. A service that answers browsers and programs on one
	// route (Kratos) or on two (Keycloak) is refused in the shape its
	// caller reads: a browser's form post gets an HTML page. Left empty,
	// the refusal takes the program's shape.
	Path, ContentType string
}

// Response is a rendered refusal: the proxy writes it as it is.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Sentinel errors of ReadAttempt; the proxy answers each with a 400.
var (
	ErrNotLogin      = errors.New("not a guarded login route")
	ErrUnknownMethod = errors.New("unknown login method")
)

// Match reports whether method and the escaped path are exactly one of
// the profile's login routes.
func (p *Profile) Match(method, escapedPath string) bool {
	for _, r := range p.Logins {
		if r.Method == method && r.Path == escapedPath {
			return true
		}
	}
	return false
}

// ReadAttempt parses a login body by the strict rules of ParseBody and
// reads the attempt from it. rawQuery is the request's raw query: a query
// that parsers could read differently, or that names a field the profile
// reads from the body, is refused, since a service that also reads the
// query would judge a name the guard never saw.
func (p *Profile) ReadAttempt(contentType string, body []byte, rawQuery string) (Attempt, error) {
	query, err := url.ParseQuery(rawQuery)
	if err != nil || strings.IndexByte(rawQuery, ';') >= 0 {
		return Attempt{}, errors.New("the query string of a login must be plain key=value pairs joined by '&'")
	}
	for k, vs := range query {
		if len(vs) > 1 {
			return Attempt{}, fmt.Errorf("query parameter %s is repeated", QuoteShort(k))
		}
		for _, f := range p.api.fields() {
			if strings.EqualFold(k, f) {
				return Attempt{}, fmt.Errorf("%s must be sent in the body, not the query", QuoteShort(f))
			}
		}
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/x-www-form-urlencoded" && !p.FormBodies {
		return Attempt{}, fmt.Errorf("%s reads only JSON login bodies: send Content-Type: application/json", p.Name)
	}
	fields, err := ParseBody(contentType, body, p.api.fields()...)
	if err != nil {
		return Attempt{}, err
	}
	a, err := p.api.attempt(fields, query)
	if err != nil {
		return Attempt{}, err
	}
	a.Fields = fields
	return a, nil
}

// Classify reads the service's answer to a forwarded attempt.
func (p *Profile) Classify(now time.Time, a Answer) Outcome {
	if a.Status >= 500 {
		// The service failed; today's rule is to refund, as the proxy
		// does when the service cannot be reached at all.
		return NotJudged
	}
	return p.api.classify(now, a)
}

// Render answers a refusal in the service's own shape, so its clients and
// front end keep working. ok is false when the proxy's RFC 6749 answers
// are the service's shape (an OAuth2 token endpoint).
func (p *Profile) Render(r Refusal) (resp Response, ok bool) {
	return p.api.render(r)
}

// cookieSet reports whether h sets the cookie name to a non-empty value
// that it does not expire at once.
func cookieSet(now time.Time, h http.Header, name string) bool {
	set := false
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name != name {
			continue
		}
		// The last Set-Cookie of a name wins in browsers.
		set = c.Value != "" && c.MaxAge >= 0 && (c.Expires.IsZero() || c.Expires.After(now))
	}
	return set
}

// jsonHeader is the header of a rendered JSON refusal; retryAfter > 0
// adds Retry-After.
func jsonHeader(retryAfter int) http.Header {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Cache-Control": {"no-store"}}
	if retryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(retryAfter))
	}
	return h
}

// retryAfter is r.RetryAfter, at least 1 second.
func (r Refusal) retryAfter() int { return max(r.RetryAfter, 1) }
