package loginapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// newGoTrue is the profile of Supabase Auth (GoTrue)'s password grant,
// written against supabase/auth v2.196.0 (internal/api/token.go,
// helpers.go, middleware.go, errors.go, apierrors/, phone.go,
// utilities/request.go, sbff/sbff.go):
//
//   - POST /token?grant_type=password, and /auth/v1/token behind
//     Supabase's API gateway (both are guarded; Options.PathPrefix for
//     another mount). Token reads grant_type with r.FormValue — the query,
//     or a form body — and dispatches on it; only "password" judges a
//     password (refresh_token, id_token, pkce, web3 do not);
//   - the password grant decodes the body with encoding/json whatever its
//     Content-Type (retrieveRequestParams), into {"email","phone",
//     "password"}, so only JSON bodies are accepted here (a form's
//     grant_type would be read by FormValue while the JSON is not a form);
//     GoTrue refuses email and phone together, and so does the profile,
//     before the service is asked;
//   - a phone number is looked up as formatPhoneNumber leaves it (no
//     leading "+", no spaces), and budgeted in that form, so spacing a
//     number differently is the same account;
//   - success: 200 with access_token (AccessTokenResponse);
//   - failure: 400 with error_code invalid_credentials, as
//     {"code":400,"error_code":"invalid_credentials","msg":"Invalid login
//     credentials"}, or {"code":"invalid_credentials","message":…} for
//     clients that send X-Supabase-Api-Version 2024-01-01; releases before
//     the error codes (v2.99 and older) answered {"error":"invalid_grant",
//     "error_description":"Invalid login credentials"}. Email not
//     confirmed and a banned user are 400s too. A 429 is GoTrue's own rate
//     limit, checked before the password: the attempt is refunded;
//   - client address: Sb-Forwarded-For when GOTRUE_SECURITY_SB_FORWARDED_FOR_ENABLED,
//     else the first entry of GOTRUE_RATE_LIMIT_HEADER for its rate limits
//     (none at all without that header) and the first valid X-Forwarded-For
//     entry for its audit log. The proxy sets the rate-limit header
//     (Options.RateLimitHeader, default X-Forwarded-For) and strips the
//     others.
//
// Refusals have GoTrue's error shape, which supabase-js reads as an
// AuthApiError with the code in error_code.
func newGoTrue(o Options) (*Profile, error) {
	h := http.CanonicalHeaderKey(o.RateLimitHeader)
	if h == "" {
		h = "X-Forwarded-For"
	}
	if !validHeaderName(h) {
		return nil, fmt.Errorf("rate-limit header %s is not a header name", QuoteShort(o.RateLimitHeader))
	}
	read := []string{"Sb-Forwarded-For", h}
	if h != "X-Forwarded-For" {
		read = append(read, "X-Forwarded-For")
	}
	return &Profile{
		Name:    "gotrue",
		Version: "Supabase Auth (GoTrue) v2.196.0",
		Sources: []string{
			"internal/api/token.go", "internal/api/helpers.go", "internal/api/middleware.go",
			"internal/api/errors.go", "internal/api/apierrors/errorcode.go", "internal/api/phone.go",
			"internal/utilities/request.go", "internal/sbff/sbff.go",
		},
		Logins: []Route{
			{Method: http.MethodPost, Path: "/token"},
			{Method: http.MethodPost, Path: "/auth/v1/token"},
		},
		ClientIPHeader:      h,
		ClientIPHeadersRead: read,
		api:                 gotrue{},
	}, nil
}

type gotrue struct{}

func (gotrue) fields() []string { return []string{"email", "phone", "password"} }

func (gotrue) attempt(f map[string]string, query url.Values) (Attempt, error) {
	email, phone := f["email"], f["phone"]
	if email != "" && phone != "" {
		return Attempt{}, errors.New("a login names an email address or a phone number, not both")
	}
	if query.Get("grant_type") != "password" {
		// GoTrue judges no password under any other grant.
		return Attempt{}, nil
	}
	a := Attempt{Identifier: email, Guess: true, Earns: true}
	if phone != "" {
		a.Identifier = formatPhone(phone)
	}
	if a.Identifier == "" {
		return Attempt{}, missing("email")
	}
	return a, nil
}

// formatPhone is GoTrue's formatPhoneNumber (internal/api/phone.go).
func formatPhone(phone string) string {
	return strings.ReplaceAll(strings.TrimPrefix(phone, "+"), " ", "")
}

func (gotrue) classify(_ time.Time, a Answer) Outcome {
	switch {
	case a.Status == http.StatusTooManyRequests:
		return NotJudged
	case a.Status == http.StatusOK && !a.Truncated && jsonString(a.Body, "access_token") != "":
		return Success
	}
	return Failure
}

// gotrueError is GoTrue's HTTPError (internal/api/apierrors), with the
// challenge for clients that can solve one.
type gotrueError struct {
	Code      int                  `json:"code"`
	ErrorCode string               `json:"error_code"`
	Msg       string               `json:"msg"`
	Challenge *challenge.Challenge `json:"challenge,omitempty"`
}

func (gotrue) render(r Refusal) (Response, bool) {
	status, retry := http.StatusTooManyRequests, r.retryAfter()
	e := gotrueError{Code: status, ErrorCode: "over_request_rate_limit", Msg: "Too many login attempts. Try again later."}
	if r.Kind == ChallengeRequired && r.Challenge != nil {
		status, retry = http.StatusBadRequest, 0
		e = gotrueError{Code: status, ErrorCode: challenge.ErrorCode, Challenge: r.Challenge,
			Msg: "Additional verification is required: solve the challenge and retry with challenge and challenge_solution."}
	}
	resp := jsonResponse(status, retry, e)
	// GoTrue names the code in a header too (handleResponseErrorHTTP).
	resp.Header.Set("X-Sb-Error-Code", e.ErrorCode)
	return resp, true
}
