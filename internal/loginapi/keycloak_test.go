package loginapi

import (
	"net/http"
	"strings"
	"testing"
)

const form = "application/x-www-form-urlencoded"

// attemptCase is one row of a ReadAttempt table.
type attemptCase struct {
	name, ct, body, query string
	want                  Attempt // ignored when wantErr is set
	wantErr               string
}

func runAttempts(t *testing.T, p *Profile, tests []attemptCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ReadAttempt(tt.ct, []byte(tt.body), tt.query)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadAttempt = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadAttempt: %v", err)
			}
			if got.Identifier != tt.want.Identifier || got.Method != tt.want.Method || got.Guess != tt.want.Guess || got.Earns != tt.want.Earns {
				t.Fatalf("ReadAttempt = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestKeycloakRoutes(t *testing.T) {
	p := mustProfile(t, "keycloak", Options{Realms: []string{"acme", "two words"}, PathPrefix: "/auth"})
	tests := []struct {
		method, path string
		want         bool
	}{
		{"POST", "/auth/realms/acme/protocol/openid-connect/token", true},
		{"POST", "/auth/realms/acme/login-actions/authenticate", true},
		{"POST", "/auth/realms/two%20words/protocol/openid-connect/token", true},
		{"GET", "/auth/realms/acme/login-actions/authenticate", false},
		{"POST", "/auth/realms/master/protocol/openid-connect/token", false},
		{"POST", "/realms/acme/protocol/openid-connect/token", false},
		{"POST", "/auth/realms/acme/protocol/openid-connect/token/", false},
		{"POST", "/auth/realms/acme/login-actions/required-action", false},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, tt.path); got != tt.want {
			t.Errorf("Match(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a/b", "a?b"} {
		if _, err := New("keycloak", Options{Realms: []string{bad}}); err == nil {
			t.Errorf("realm %q accepted", bad)
		}
	}
}

func TestKeycloakReadAttempt(t *testing.T) {
	const kcQuery = "session_code=s&execution=e&client_id=app&tab_id=t"
	runAttempts(t, mustProfile(t, "keycloak", testOptions), []attemptCase{
		{"direct grant", form, "grant_type=password&client_id=app&username=alice&password=x", "", Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"direct grant with otp", form, "grant_type=password&client_id=app&username=alice&password=x&otp=123456", "", Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"login form", form, "username=alice&password=x&credentialId=", kcQuery, Attempt{Identifier: "alice", Guess: true, Earns: true}, ""},
		{"otp form", form, "otp=123456&login=Sign+In", kcQuery, Attempt{Guess: true}, ""},
		{"totp field", form, "grant_type=password&username=alice&totp=123456", "", Attempt{Identifier: "alice", Guess: true}, ""},
		{"identity-first password form", form, "password=x", kcQuery, Attempt{Guess: true}, ""},
		{"identity-first username form", form, "username=alice", kcQuery, Attempt{Identifier: "alice", Guess: true}, ""},
		{"recovery code form", form, "recoveryCodeInput=abcd-efgh", kcQuery, Attempt{Guess: true}, ""},
		{"webauthn form", form, "clientDataJSON=x&authenticatorData=y&signature=z&credentialId=c&userHandle=u", kcQuery, Attempt{Guess: true}, ""},
		{"refresh grant is no guess", form, "grant_type=refresh_token&refresh_token=r&client_id=app", "", Attempt{}, ""},
		{"code exchange is no guess", form, "grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Fapp%2Fcb&client_id=app&client_secret=s&code_verifier=v", "", Attempt{}, ""},
		{"client credentials is no guess", form, "grant_type=client_credentials&client_id=app&client_secret=s", "", Attempt{}, ""},
		// The login form ignores grant_type and judges whatever secret
		// the body carries.
		{"another grant with a password is still a guess", form, "grant_type=refresh_token&username=alice&password=x", kcQuery, Attempt{Identifier: "alice", Guess: true}, ""},
		{"another grant with a recovery code is still a guess", form, "grant_type=refresh_token&refresh_token=r&recoveryCodeInput=abcd", kcQuery, Attempt{Guess: true}, ""},
		{"another grant with an otp is still a guess", form, "grant_type=authorization_code&code=c&otp=123456", kcQuery, Attempt{Guess: true}, ""},
		{"repeated username", form, "username=alice&username=bob&password=x", "", Attempt{}, "repeated"},
		{"case variant", form, "username=alice&Username=bob&password=x", "", Attempt{}, "only in case"},
		{"username in the query", form, "password=x", kcQuery + "&username=bob", Attempt{}, "not the query"},
		{"semicolon", form, "username=alice;username=bob&password=x", "", Attempt{}, "ambiguous"},
	})
}

func TestKeycloakClassify(t *testing.T) {
	p := mustProfile(t, "keycloak", testOptions)
	tests := []struct {
		name string
		a    Answer
		want Outcome
	}{
		{"direct grant token", answer(200, `{"access_token":"eyJ","expires_in":300,"token_type":"Bearer"}`), Success},
		{"login redirect", answer(302, ``, "KEYCLOAK_IDENTITY=eyJ; Version=1; Path=/realms/test/; HttpOnly", "KEYCLOAK_SESSION=test/u/s; Path=/realms/test/", "AUTH_SESSION_ID=; Max-Age=0"), Success},
		{"login form_post", answer(200, `<form method="post">`, "KEYCLOAK_IDENTITY=eyJ; Path=/realms/test/"), Success},
		{"login 303", answer(303, ``, "KEYCLOAK_IDENTITY=eyJ"), Success},
		{"wrong password", answer(401, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`), Failure},
		{"form re-rendered", answer(200, `<html>`, "AUTH_SESSION_ID=abc"), Failure},
		{"503", answer(503, ``), NotJudged},
	}
	for _, tt := range tests {
		if got := p.Classify(now, tt.a); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestKeycloakRender: the direct grant is an OAuth2 token endpoint and
// gets the proxy's own RFC 6749 answers; the login form gets the page.
func TestKeycloakRender(t *testing.T) {
	p := mustProfile(t, "keycloak", testOptions)
	if _, ok := p.Render(Refusal{Kind: Throttled, RetryAfter: 5, Path: "/realms/test/protocol/openid-connect/token", ContentType: form}); ok {
		t.Error("the direct grant renders its own refusal")
	}
	resp, ok := p.Render(Refusal{Kind: Throttled, RetryAfter: 5, Path: "/realms/test/login-actions/authenticate", ContentType: form})
	if !ok || resp.Status != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("the login form's refusal: %v %d %v", ok, resp.Status, resp.Header)
	}
}

// TestKeycloakSecretWithAnotherGrantIsAGuess: the login form judges
// whatever secret its body carries — a recovery code, an OTP — and
// ignores grant_type, so neither a secret field the profile has no name
// for nor a grant_type naming a secretless grant may make a post a
// non-guess, which the gateway would refund whatever the answer (free,
// unlimited guesses at the owner's recovery codes).
func TestKeycloakSecretWithAnotherGrantIsAGuess(t *testing.T) {
	p := mustProfile(t, "keycloak", testOptions)
	for _, body := range []string{
		"recoveryCodeInput=abcd-efgh-ijkl",
		"grant_type=refresh_token&refresh_token=r&recoveryCodeInput=abcd-efgh-ijkl",
		"grant_type=authorization_code&code=c&otp=123456",
		"grant_type=client_credentials&client_id=app&username=alice&password=guess",
	} {
		a, err := p.ReadAttempt(form, []byte(body), "session_code=s&execution=e&client_id=app&tab_id=t")
		if err != nil || !a.Guess {
			t.Errorf("%s: %+v, %v; want a guess", body, a, err)
		}
	}
}
