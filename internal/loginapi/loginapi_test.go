package loginapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/loginapi/standin"
)

// testOptions are what every profile needs to be built.
var testOptions = Options{Realms: []string{"test"}}

func mustProfile(t *testing.T, name string, o Options) *Profile {
	t.Helper()
	p, err := New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew(t *testing.T) {
	for _, name := range Names() {
		p := mustProfile(t, name, Options{PathPrefix: "/auth/", Realms: []string{"test"}})
		if p.Name != name || p.Version == "" || len(p.Sources) == 0 || len(p.Logins) == 0 {
			t.Errorf("%s: incomplete profile %+v", name, p)
		}
		for _, r := range p.Logins {
			if !strings.HasPrefix(r.Path, "/auth/") || r.Method != http.MethodPost {
				t.Errorf("%s: login route %+v, want POST under /auth/", name, r)
			}
		}
	}
	if _, err := New("okta", Options{}); err == nil || !strings.Contains(err.Error(), "fastapi, authelia, kratos, keycloak, gotrue") {
		t.Errorf("New(okta) = %v, want an error naming the profiles", err)
	}
	// A realm left out would pass unguarded: there is no default.
	if _, err := New("keycloak", Options{}); err == nil || !strings.Contains(err.Error(), "realm") {
		t.Errorf("New(keycloak) without a realm = %v, want an error", err)
	}
	if _, err := New(CustomName, Options{}); err == nil || !strings.Contains(err.Error(), "file") {
		t.Errorf("New(custom) = %v, want an error pointing to the file", err)
	}
	if _, err := New("kratos", Options{PathPrefix: "auth"}); err == nil {
		t.Error("a relative path prefix was accepted")
	}
}

// TestClientIPHeader pins the header each service reads first: the proxy
// sets that one and strips the rest.
func TestClientIPHeader(t *testing.T) {
	for name, want := range map[string]string{"fastapi": "X-Forwarded-For", "authelia": "X-Forwarded-For", "kratos": "True-Client-Ip"} {
		p := mustProfile(t, name, Options{})
		if p.ClientIPHeader != want || p.ClientIPHeadersRead[0] != want {
			t.Errorf("%s: sets %s (reads %v), want %s first", name, p.ClientIPHeader, p.ClientIPHeadersRead, want)
		}
		for _, h := range p.ClientIPHeadersRead {
			if http.CanonicalHeaderKey(h) != h {
				t.Errorf("%s: %s is not in canonical form", name, h)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		profile, method, path string
		want                  bool
	}{
		{"fastapi", "POST", "/token", true},
		{"fastapi", "GET", "/token", false},
		{"fastapi", "POST", "/Token", false},
		{"authelia", "POST", "/api/firstfactor", true},
		{"authelia", "POST", "/api/firstfactor/", false},
		{"authelia", "POST", "/api/secondfactor/totp", false},
		{"kratos", "POST", "/self-service/login", true},
		{"kratos", "GET", "/self-service/login", false},
		{"kratos", "GET", "/self-service/login/api", false},
		{"kratos", "POST", "/self-service/login/api", false},
	}
	for _, tt := range tests {
		if got := mustProfile(t, tt.profile, Options{}).Match(tt.method, tt.path); got != tt.want {
			t.Errorf("%s.Match(%s %s) = %v, want %v", tt.profile, tt.method, tt.path, got, tt.want)
		}
	}
}

func TestReadAttempt(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name, profile, ct, body, query string
		want                           Attempt // ignored when wantErr is set
		wantErr                        string
	}{
		{"fastapi form", "fastapi", "application/x-www-form-urlencoded", "username=alice&password=x", "", Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"fastapi json", "fastapi", js, `{"username":"alice","password":"x"}`, "", Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"fastapi refresh grant proves nothing", "fastapi", "application/x-www-form-urlencoded", "username=alice&grant_type=refresh_token&refresh_token=r", "", Attempt{Identifier: "alice", Guess: true}, ""},
		{"fastapi other grant is still a guess", "fastapi", "application/x-www-form-urlencoded", "username=alice&password=x&grant_type=passwordX", "", Attempt{Identifier: "alice", Guess: true}, ""},
		{"fastapi no username", "fastapi", js, `{"password":"x"}`, "", Attempt{}, "missing"},
		{"fastapi username in query", "fastapi", js, `{"username":"alice"}`, "Username=bob", Attempt{}, "not the query"},
		{"fastapi case variant", "fastapi", js, `{"username":"alice","USERNAME":"bob"}`, "", Attempt{}, "only in case"},

		{"authelia", "authelia", js, `{"username":"alice","password":"x","keepMeLoggedIn":true}`, "", Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"authelia case variant", "authelia", js, `{"username":"alice","Username":"bob","password":"x"}`, "", Attempt{}, "only in case"},
		{"authelia password case variant", "authelia", js, `{"username":"alice","password":"x","PASSWORD":"y"}`, "", Attempt{}, "only in case"},
		{"authelia repeated", "authelia", js, `{"username":"alice","username":"bob"}`, "", Attempt{}, "repeated"},
		{"authelia username not a string", "authelia", js, `{"username":1}`, "", Attempt{}, "must be a string"},
		{"authelia no username", "authelia", js, `{"password":"x"}`, "", Attempt{}, "missing"},

		{"kratos password", "kratos", js, `{"method":"password","identifier":"a@example.com","password":"x"}`, "flow=f1", Attempt{Identifier: "a@example.com", Method: "password", Guess: true, Earns: true}, ""},
		{"kratos legacy identifier", "kratos", js, `{"method":"password","password_identifier":"a@example.com","password":"x"}`, "flow=f1", Attempt{Identifier: "a@example.com", Method: "password", Guess: true, Earns: true}, ""},
		{"kratos identifier wins over legacy", "kratos", js, `{"method":"password","identifier":"a","password_identifier":"b","password":"x"}`, "flow=f1", Attempt{Identifier: "a", Method: "password", Guess: true, Earns: true}, ""},
		{"kratos form", "kratos", "application/x-www-form-urlencoded", "method=password&identifier=a&password=x&csrf_token=t", "flow=f1", Attempt{Identifier: "a", Method: "password", Guess: true, Earns: true}, ""},
		{"kratos code guess", "kratos", js, `{"method":"code","identifier":"a","address":"b","code":"123456"}`, "flow=f1", Attempt{Identifier: "b", Method: "code", Guess: true}, ""}, // a code proves nothing about the address (second-factor flows judge the session's identity)
		{"kratos code send", "kratos", js, `{"method":"code","identifier":"a","address":"b"}`, "flow=f1", Attempt{Identifier: "a", Method: "code"}, ""},
		{"kratos totp", "kratos", js, `{"method":"totp","totp_code":"123456"}`, "flow=f1", Attempt{Method: "totp", Guess: true}, ""},
		{"kratos lookup secret", "kratos", js, `{"method":"lookup_secret","lookup_secret":"abcd"}`, "flow=f1", Attempt{Method: "lookup_secret", Guess: true}, ""},
		{"kratos passkey", "kratos", js, `{"method":"passkey","passkey_login":"{}"}`, "flow=f1", Attempt{Method: "passkey"}, ""},
		{"kratos unknown method", "kratos", js, `{"method":"magic","identifier":"a","magic":"x"}`, "flow=f1", Attempt{}, "unknown login method"},
		{"kratos no method", "kratos", js, `{"identifier":"a","password":"x"}`, "flow=f1", Attempt{}, "missing"},
		{"kratos no flow", "kratos", js, `{"method":"password","identifier":"a","password":"x"}`, "", Attempt{}, "flow"},
		{"kratos repeated flow", "kratos", js, `{"method":"password","identifier":"a","password":"x"}`, "flow=f1&flow=f2", Attempt{}, "repeated"},
		{"kratos identifier in query", "kratos", js, `{"method":"password","identifier":"a","password":"x"}`, "flow=f1&identifier=b", Attempt{}, "not the query"},
		{"kratos no identifier", "kratos", js, `{"method":"password","password":"x"}`, "flow=f1", Attempt{}, "missing"},
		{"kratos identifier case variant", "kratos", js, `{"method":"password","identifier":"a","Identifier":"b","password":"x"}`, "flow=f1", Attempt{}, "only in case"},
		{"kratos legacy case variant", "kratos", js, `{"method":"password","Password_Identifier":"b","password":"x"}`, "flow=f1", Attempt{}, "only in case"},
		{"kratos method case variant", "kratos", js, `{"method":"passkey","Method":"password","identifier":"a","password":"x"}`, "flow=f1", Attempt{}, "only in case"},
		{"kratos number password", "kratos", js, `{"method":"password","identifier":"a","password":12345}`, "flow=f1", Attempt{}, "must be a string"},
		{"kratos semicolon query", "kratos", js, `{}`, "flow=f1;identifier=b", Attempt{}, "plain key=value"},
	}
	for _, tt := range tests {
		runAttempts(t, mustProfile(t, tt.profile, Options{}), []attemptCase{{tt.name, tt.ct, tt.body, tt.query, tt.want, tt.wantErr}})
	}
	_, err := mustProfile(t, "kratos", Options{}).ReadAttempt(js, []byte(`{"method":"magic"}`), "flow=f")
	if !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("an unknown method gave %v, want ErrUnknownMethod", err)
	}
}

// answer builds an Answer; cookies are Set-Cookie lines.
func answer(status int, body string, cookies ...string) Answer {
	h := http.Header{"Content-Type": {"application/json"}}
	for _, c := range cookies {
		h.Add("Set-Cookie", c)
	}
	return Answer{Status: status, Header: h, Body: []byte(body)}
}

var now = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// TestClassifySuccess lists the answers each service gives to a right
// secret.
func TestClassifySuccess(t *testing.T) {
	tests := []struct {
		name, profile string
		a             Answer
	}{
		{"fastapi token", "fastapi", answer(200, `{"access_token":"t","token_type":"bearer"}`)},
		{"authelia ok", "authelia", answer(200, `{"status":"OK"}`, "authelia_session=abc; Path=/; HttpOnly")},
		{"authelia redirect", "authelia", answer(200, `{"status":"OK","data":{"redirect":"https://app.example.com/"}}`, "authelia_session=abc; Path=/")},
		{"kratos api flow", "kratos", answer(200, `{"session_token":"ory_st_x","session":{"id":"s"}}`)},
		{"kratos browser flow", "kratos", answer(200, `{"session":{"id":"s"}}`, "ory_kratos_session=abc; Path=/; HttpOnly")},
		{"kratos browser redirect", "kratos", answer(303, ``, "ory_kratos_session=abc; Path=/; HttpOnly")},
	}
	for _, tt := range tests {
		if got := mustProfile(t, tt.profile, Options{}).Classify(now, tt.a); got != Success {
			t.Errorf("%s: Classify = %v, want success", tt.name, got)
		}
	}
}

// TestFailureNeverSuccess runs the table of failure answers, per profile,
// that must never classify as a success (standin.Failures, which the
// gateway's tests run too): a failure read as a success refunds the
// attacker's attempt and earns them a device credential. Each answer goes
// through ReadAnswer as the proxy reads it.
func TestFailureNeverSuccess(t *testing.T) {
	seen := map[string]int{}
	for _, c := range standin.Failures {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, nil)
		a, err := ReadAnswer(rec.Result())
		if err != nil {
			t.Fatal(err)
		}
		if got := mustProfile(t, c.Profile, testOptions).Classify(now, a); got == Success {
			t.Errorf("%s %s: Classify = success", c.Profile, c.Name)
		}
		seen[c.Profile]++
	}
	for _, name := range Names() {
		if seen[name] < 10 {
			t.Errorf("only %d failure answers for %s", seen[name], name)
		}
	}
}

// TestClassifyRefunds pins which non-successes refund the attempt: only
// answers given before the secret was judged, and 5xx.
func TestClassifyRefunds(t *testing.T) {
	tests := []struct {
		name, profile string
		a             Answer
		want          Outcome
	}{
		{"fastapi 401", "fastapi", answer(401, `{}`), Failure},
		{"fastapi 422", "fastapi", answer(422, `{}`), NotJudged},
		{"fastapi 503", "fastapi", answer(503, `{}`), NotJudged},
		{"authelia 401", "authelia", answer(401, `{"status":"KO"}`), Failure},
		{"authelia 400", "authelia", answer(400, `{}`), Failure},
		{"authelia 502", "authelia", answer(502, ``), NotJudged},
		{"kratos 400", "kratos", answer(400, `{}`), Failure},
		{"kratos 303", "kratos", answer(303, ``), Failure},
		{"kratos 410", "kratos", answer(410, `{}`), NotJudged},
		{"kratos 500", "kratos", answer(500, ``), NotJudged},
	}
	for _, tt := range tests {
		if got := mustProfile(t, tt.profile, Options{}).Classify(now, tt.a); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFastAPIOptions(t *testing.T) {
	byStatus := mustProfile(t, "fastapi", Options{InsecureSuccessByStatus: true})
	if got := byStatus.Classify(now, answer(200, `{}`)); got != Success {
		t.Errorf("InsecureSuccessByStatus: Classify = %v", got)
	}
	field := mustProfile(t, "fastapi", Options{SuccessField: "token", Success: func(s int) bool { return s == 201 }, Failure: func(s int) bool { return s == 403 }})
	for _, tt := range []struct {
		a    Answer
		want Outcome
	}{
		{answer(201, `{"token":"t"}`), Success},
		{answer(201, `{"access_token":"t"}`), Failure},
		{answer(200, `{"token":"t"}`), NotJudged},
		{answer(403, `{}`), Failure},
	} {
		if got := field.Classify(now, tt.a); got != tt.want {
			t.Errorf("Classify(%d %s) = %v, want %v", tt.a.Status, tt.a.Body, got, tt.want)
		}
	}
}

// TestAutheliaFormBodyNamesAnotherUser: Authelia parses every body as
// JSON whatever its Content-Type, so a body sent as a form that is also
// a JSON object would name one user to the guard (the form's) and
// another to Authelia (the JSON's): it must be refused.
func TestAutheliaFormBodyNamesAnotherUser(t *testing.T) {
	body := `{"username":"victim","password":"guess","x":"=1&username=decoy"}`
	a, err := mustProfile(t, "authelia", Options{}).ReadAttempt("application/x-www-form-urlencoded", []byte(body), "")
	if err == nil {
		t.Fatalf("a form body was read as an attempt on %q; Authelia would judge \"victim\"", a.Identifier)
	}
}

// TestKratosCodeWithAnotherMethodIsAGuess: with MFA by code enabled,
// Kratos's code strategy verifies a "code" sent to an "address" even when
// "method" names another strategy (strategy_login.go: "In this special
// case we only expect `address` to be set"), so such a body is a guess at
// the code whatever its method says, and must be budgeted.
func TestKratosCodeWithAnotherMethodIsAGuess(t *testing.T) {
	p := mustProfile(t, "kratos", Options{})
	for _, method := range []string{"passkey", "webauthn", "oidc", "saml", "identifier_first"} {
		body := `{"method":"` + method + `","address":"victim@example.com","code":"123456"}`
		a, err := p.ReadAttempt("application/json", []byte(body), "flow=f")
		if err == nil && (!a.Guess || a.Identifier != "victim@example.com") {
			t.Errorf("method %s with a code: %+v, want a guess at victim@example.com's code", method, a)
		}
	}
	// Two secrets in one body could be judged by two strategies.
	if _, err := p.ReadAttempt("application/json", []byte(`{"method":"password","identifier":"a","password":"x","address":"b","code":"1"}`), "flow=f"); err == nil {
		t.Error("a body with a password and a code was accepted")
	}
}
