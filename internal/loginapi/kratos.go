package loginapi

import (
	"cmp"

	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// newKratos is the profile of Ory Kratos's login flows, written against
// Kratos v1.3.1 (and its ory/x v0.0.660):
//
//   - GET /self-service/login/api (and /browser, /flows) create and read
//     a flow; they carry no secret and pass through
//     (selfservice/flow/login/handler.go, RegisterPublicRoutes);
//   - POST /self-service/login?flow=ID submits it, a JSON object or a
//     form (ory/x decoderx; multipart is refused here). The handler also
//     answers GET on that path, but every login strategy decodes its
//     secret with decoderx's default methods (POST, PUT, PATCH), so a GET
//     judges no secret and may pass through as on any login path; the
//     proxy answers PUT and PATCH there with 405;
//   - method "password" (selfservice/strategy/password/login.go, types.go):
//     the identifier is "identifier", or the legacy "password_identifier"
//     when that is empty (stringsx.Coalesce), the secret "password";
//   - method "code" (selfservice/strategy/code/strategy_login.go): a body
//     without "code" asks Kratos to send one to cmp.Or(identifier,
//     address) and guesses nothing; a body with "code" is a guess at the
//     code sent to cmp.Or(address, identifier) — note the other order;
//   - methods "totp" and "lookup_secret" are second factors of a session:
//     guesses with no identifier in the body, budgeted by address;
//   - methods "oidc", "saml", "webauthn", "passkey" and "identifier_first"
//     carry no guessable secret, but with MFA by code enabled the code
//     strategy verifies a "code" sent to an "address" whatever the method
//     names ("In this special case we only expect `address` to be set"),
//     so any body with a secret field is a guess, and a body with two
//     (a password and a code) is refused; any other method is refused,
//     since it may be a secret this profile does not know how to budget;
//   - success of an API flow: 200 {"session_token": …, "session": …}; of a
//     browser flow: the ory_kratos_session cookie set (Options.SessionCookie),
//     on a 303 to return_to (a form post) or a 200 with the session (a
//     JSON post from a single-page app). A browser flow answers a wrong
//     password with a 303 too — back to the login UI, with the flow's
//     error — so the status proves nothing: only a non-empty session
//     cookie does (selfservice/flow/login/hook.go PostLoginHook,
//     session/manager_http.go IssueCookie; the 303 back to the UI in
//     selfservice/flow/login/error.go WriteFlowError);
//   - browser flows post a form with csrf_token (checked by Kratos against
//     its csrf cookie, before any strategy); a refused form post gets
//     the HTML refusal page, a refused JSON post the error below;
//   - failure: 400 with the flow, whose ui.messages carry id 4000006
//     (text.ErrorValidationInvalidCredentials in text/id.go,
//     message_validation.go); everything but a success is a failure except
//     410 (the flow expired, checked before any strategy) and 5xx;
//   - no rate limit of its own: the open-source server has none;
//   - client address: ory/x httpx.ClientIP (httpx/client_info.go) reads
//     True-Client-IP, Cf-Connecting-IP, X-Real-IP, then X-Forwarded-For,
//     so the proxy sets True-Client-IP and strips the others;
//   - errors have herodot's shape {"error":{"id","code","status","reason",
//     "message","details"}}, which ory/client-go decodes as ErrorGeneric on
//     every status but 400 (a flow) and 422; refusals use it: 429 with
//     Retry-After, and 403 for a challenge, carried in error.details.
func newKratos(o Options) *Profile {
	cookie := o.SessionCookie
	if cookie == "" {
		cookie = "ory_kratos_session"
	}
	return &Profile{
		Name:    "kratos",
		Version: "Ory Kratos v1.3.1",
		Sources: []string{
			"selfservice/flow/login/handler.go", "selfservice/flow/request.go",
			"selfservice/strategy/password/login.go", "selfservice/strategy/password/types.go",
			"selfservice/strategy/code/strategy_login.go", "text/id.go", "text/message_validation.go",
			"ory/x@v0.0.660 httpx/client_info.go", "ory/x@v0.0.660 decoderx/http.go",
			"selfservice/flow/login/hook.go", "selfservice/flow/login/error.go", "session/manager_http.go",
		},
		Logins: []Route{{Method: http.MethodPost, Path: "/self-service/login"}},
		PassThrough: []Route{
			{Method: http.MethodGet, Path: "/self-service/login/api"},
			{Method: http.MethodGet, Path: "/self-service/login/browser"},
			{Method: http.MethodGet, Path: "/self-service/login/flows"},
		},
		FormBodies:          true,
		ClientIPHeader:      "True-Client-Ip",
		ClientIPHeadersRead: []string{"True-Client-Ip", "Cf-Connecting-Ip", "X-Real-Ip", "X-Forwarded-For"},
		SessionTokens:       true,
		api:                 kratos{cookie: cookie},
	}
}

type kratos struct{ cookie string }

// KratosInvalidCredentials is the id of Kratos's "The provided
// credentials are invalid" message.
const KratosInvalidCredentials = 4000006

func (kratos) fields() []string {
	return []string{"method", "identifier", "password_identifier", "password", "code", "address", "totp_code", "lookup_secret"}
}

// kratosSecrets are the body fields that carry a guessable secret.
var kratosSecrets = []string{"password", "code", "totp_code", "lookup_secret"}

func (kratos) attempt(f map[string]string, query url.Values) (Attempt, error) {
	if query.Get("flow") == "" {
		return Attempt{}, missing("flow")
	}
	var secrets []string
	for _, k := range kratosSecrets {
		if f[k] != "" {
			secrets = append(secrets, k)
		}
	}
	if len(secrets) > 1 {
		// Two strategies could each judge one of them.
		return Attempt{}, fmt.Errorf("a login carries one secret, not %s", strings.Join(secrets, " and "))
	}
	m := f["method"]
	a := Attempt{Method: m}
	switch m {
	case "password":
		a.Identifier = cmp.Or(f["identifier"], f["password_identifier"])
		a.Guess, a.Earns = true, true
	case "code":
		if f["code"] == "" {
			a.Identifier = cmp.Or(f["identifier"], f["address"])
			break
		}
		a.Identifier = cmp.Or(f["address"], f["identifier"])
		// A guess at the code sent to address, but its success proves
		// nothing about address: in a second-factor (AAL2) flow Kratos
		// checks the code of the session's own identity and ignores the
		// address the body names, and the body cannot tell the two flows
		// apart. So a code login never earns a device credential.
		a.Guess = true
	case "totp", "lookup_secret":
		a.Guess = true
		return a, nil
	case "oidc", "saml", "webauthn", "passkey", "identifier_first":
		if f["code"] != "" {
			// With MFA by code enabled, the code strategy verifies a
			// code sent to "address" whatever the method names.
			a.Identifier = cmp.Or(f["address"], f["identifier"])
			a.Guess = true
			break
		}
		// A stray password, TOTP or lookup secret is judged by no
		// strategy under another method, but costs its budget anyway.
		a.Guess = len(secrets) > 0
		return a, nil
	case "":
		return Attempt{}, missing("method")
	default:
		return Attempt{}, fmt.Errorf("%w %s", ErrUnknownMethod, QuoteShort(m))
	}
	if a.Identifier == "" {
		return Attempt{}, missing("identifier")
	}
	return a, nil
}

func (k kratos) classify(now time.Time, a Answer) Outcome {
	switch {
	case a.Status == http.StatusGone:
		return NotJudged
	case a.Truncated:
		return Failure
	case a.Status == http.StatusOK && jsonString(a.Body, "session_token") != "":
		return Success
	case (a.Status == http.StatusOK || a.Status == http.StatusSeeOther) && cookieSet(now, a.Header, k.cookie):
		return Success
	}
	return Failure
}

// kratosError is herodot's error body as Kratos sends it and ory/client-go
// decodes it (ErrorGeneric, GenericError).
type kratosError struct {
	Error kratosGeneric `json:"error"`
}

type kratosGeneric struct {
	ID      string         `json:"id"`
	Code    int            `json:"code"`
	Status  string         `json:"status"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (kratos) render(r Refusal) (Response, bool) {
	if r.formPost() {
		// A browser flow's form post: Kratos would answer it with a
		// redirect to its UI, which a person reads; so do we.
		return htmlRefusal(r), true
	}
	switch r.Kind {
	case ChallengeRequired:
		if r.Challenge == nil {
			break
		}
		return jsonResponse(http.StatusForbidden, 0, kratosError{kratosGeneric{
			ID: challenge.ErrorCode, Code: http.StatusForbidden, Status: http.StatusText(http.StatusForbidden),
			Reason:  "Solve the proof-of-work challenge in details.challenge and submit the flow again with the challenge and challenge_solution fields.",
			Message: "additional verification is required",
			Details: map[string]any{"challenge": r.Challenge},
		}}), true
	}
	return jsonResponse(http.StatusTooManyRequests, r.retryAfter(), kratosError{kratosGeneric{
		ID: "too_many_requests", Code: http.StatusTooManyRequests, Status: http.StatusText(http.StatusTooManyRequests),
		Reason:  "Too many login attempts. Try again later.",
		Message: "too many requests",
	}}), true
}
