package loginapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// newFastAPI is the profile of an OAuth2 password-flow token endpoint as
// FastAPI's OAuth2PasswordRequestForm reads it (POST /token, a form with
// username and password; credshield also accepts the same fields as a
// JSON object, as many FastAPI apps do). Its answers are RFC 6749's, so
// refusals are the proxy's own (Render reports false).
//
// A success is a success status (default 2xx) whose JSON body holds a
// non-empty access_token (Options.SuccessField), as RFC 6749 §5.1 and
// FastAPI's tutorial answer; a success status without one is a failure.
// Only Options.InsecureSuccessByStatus reads the status alone. Failure
// statuses (default 400, 401, 403) fail; other statuses refund.
func newFastAPI(o Options) *Profile {
	f := fastapi{usernameField: o.UsernameField, success: o.Success, failure: o.Failure, successField: o.SuccessField, byStatus: o.InsecureSuccessByStatus}
	if f.usernameField == "" {
		f.usernameField = "username"
	}
	if f.success == nil {
		f.success = func(s int) bool { return s >= 200 && s < 300 }
	}
	if f.failure == nil {
		f.failure = func(s int) bool { return s == 400 || s == 401 || s == 403 }
	}
	if f.successField == "" {
		f.successField = "access_token"
	}
	paths := o.LoginPaths
	if len(paths) == 0 {
		paths = []string{"/token"}
	}
	p := &Profile{
		Name:    "fastapi",
		Version: "FastAPI 0.115 OAuth2PasswordRequestForm (RFC 6749 §4.3)",
		Sources: []string{"fastapi/security/oauth2.py (OAuth2PasswordRequestForm)", "RFC 6749 §4.3.2, §5.1, §5.2"},
		// Uvicorn and most ASGI stacks behind a proxy read the leftmost
		// X-Forwarded-For (ProxyHeadersMiddleware).
		FormBodies:          true,
		ClientIPHeader:      "X-Forwarded-For",
		ClientIPHeadersRead: []string{"X-Forwarded-For"},
		api:                 f,
	}
	for _, lp := range paths {
		p.Logins = append(p.Logins, Route{Method: http.MethodPost, Path: lp})
	}
	return p
}

type fastapi struct {
	usernameField    string
	success, failure func(int) bool
	successField     string
	byStatus         bool
}

func (f fastapi) fields() []string { return []string{f.usernameField, "password", "grant_type"} }

func (f fastapi) attempt(fields map[string]string, _ url.Values) (Attempt, error) {
	name, ok := fields[f.usernameField]
	if !ok {
		return Attempt{}, missing(f.usernameField)
	}
	// Every attempt is a guess: an app may ignore grant_type (or match
	// it loosely) and judge the password whatever it says. Only a
	// password grant's success proves a password: a refresh_token grant
	// at the same endpoint succeeds without one.
	gt := fields["grant_type"]
	return Attempt{Identifier: name, Guess: true, Earns: gt == "" || gt == "password"}, nil
}

func (f fastapi) classify(_ time.Time, a Answer) Outcome {
	switch {
	case f.success(a.Status):
		if f.byStatus || (!a.Truncated && jsonString(a.Body, f.successField) != "") {
			return Success
		}
		return Failure
	case f.failure(a.Status):
		return Failure
	}
	return NotJudged
}

func (fastapi) render(Refusal) (Response, bool) { return Response{}, false }

// jsonString returns the non-empty string member name of the JSON object
// body, or "".
func jsonString(body []byte, name string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(obj[name], &s) != nil {
		return ""
	}
	return s
}
