package loginapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// newAuthelia is the profile of Authelia's first factor, written against
// Authelia 4.37.5 (the 4.38 handler keeps the same body and answers):
//
//   - POST /api/firstfactor, a JSON object {"username", "password",
//     "keepMeLoggedIn", "targetURL", ...} decoded with encoding/json
//     whatever the Content-Type says (internal/handlers/handler_firstfactor.go,
//     bodyFirstFactorRequest in internal/handlers/types.go,
//     AutheliaCtx.ParseBody in internal/middlewares/authelia_context.go),
//     so only JSON bodies are accepted (FormBodies is false);
//   - success: 200 {"status":"OK"} or {"status":"OK","data":{"redirect":…}}
//     (ReplyOK, SetJSONBody, Handle1FAResponse in response.go), with the
//     session cookie regenerated, so the answer sets authelia_session
//     (Options.SessionCookie for another session.name);
//   - failure, bad body and its own ban alike: 401 {"status":"KO",
//     "message":"Authentication failed. Check your credentials."}
//     (respondUnauthorized, SetJSONError; messageAuthenticationFailed in
//     handlers/const.go). Its regulation bans a username, never an address
//     (internal/regulation/regulator.go), and checks the ban before the
//     password and marks the failure after it, so parallel attempts each
//     get a hash before the ban;
//   - client address: AutheliaCtx.RemoteIP reads the leftmost entry of
//     X-Forwarded-For, and the connection's address only without one, so
//     the proxy must replace that header entirely.
//
// Success needs all three: status 200, "status":"OK" and the session
// cookie set to a value.
func newAuthelia(o Options) *Profile {
	cookie := o.SessionCookie
	if cookie == "" {
		cookie = "authelia_session"
	}
	return &Profile{
		Name:    "authelia",
		Version: "Authelia 4.37.5 (4.38 compatible)",
		Sources: []string{
			"internal/handlers/handler_firstfactor.go", "internal/handlers/types.go",
			"internal/handlers/response.go", "internal/handlers/const.go",
			"internal/middlewares/authelia_context.go", "internal/middlewares/const.go",
			"internal/regulation/regulator.go",
		},
		Logins:              []Route{{Method: http.MethodPost, Path: "/api/firstfactor"}},
		ClientIPHeader:      "X-Forwarded-For",
		ClientIPHeadersRead: []string{"X-Forwarded-For"},
		SilentUsernameBan:   true,
		SessionTokens:       true,
		api:                 authelia{cookie: cookie},
	}
}

type authelia struct{ cookie string }

// autheliaMessage is Authelia's own answer to every failed first factor.
const autheliaMessage = "Authentication failed. Check your credentials."

func (authelia) fields() []string { return []string{"username", "password"} }

func (authelia) attempt(fields map[string]string, _ url.Values) (Attempt, error) {
	name, ok := fields["username"]
	if !ok {
		return Attempt{}, missing("username")
	}
	// Authelia refuses an empty password itself (valid:"required")
	// before any hash, but budgeting it costs a real user nothing.
	return Attempt{Identifier: name, Guess: true, Earns: true}, nil
}

func (a authelia) classify(now time.Time, ans Answer) Outcome {
	if ans.Status != http.StatusOK || ans.Truncated {
		return Failure
	}
	if jsonString(ans.Body, "status") != "OK" || !cookieSet(now, ans.Header, a.cookie) {
		return Failure
	}
	return Success
}

// autheliaError is Authelia's ErrorResponse (middlewares/types.go), with
// the challenge for clients that can solve one; Authelia's front end reads
// only status and message.
type autheliaError struct {
	Status    string               `json:"status"`
	Message   string               `json:"message"`
	Challenge *challenge.Challenge `json:"challenge,omitempty"`
}

func (authelia) render(r Refusal) (Response, bool) {
	switch r.Kind {
	case Throttled:
		return jsonResponse(http.StatusTooManyRequests, r.retryAfter(), autheliaError{Status: "KO", Message: "Too many login attempts. Try again later."}), true
	case ChallengeRequired:
		return jsonResponse(http.StatusUnauthorized, 0, autheliaError{Status: "KO", Message: "Additional verification is required. Try again later.", Challenge: r.Challenge}), true
	}
	return jsonResponse(http.StatusUnauthorized, 0, autheliaError{Status: "KO", Message: autheliaMessage}), true
}

// jsonResponse renders v as a JSON refusal.
func jsonResponse(status, retryAfter int, v any) Response {
	// Only the package's own types of strings and numbers are rendered,
	// which always marshal.
	b, _ := json.Marshal(v)
	return Response{Status: status, Header: jsonHeader(retryAfter), Body: b}
}

// missing is the error for an attempt without its identifier.
func missing(field string) error {
	return fmt.Errorf("%w: missing %s", errMissing, QuoteShort(field))
}

var errMissing = errors.New("not a login attempt")
