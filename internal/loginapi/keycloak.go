package loginapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// newKeycloak is the profile of a Keycloak realm's two password logins,
// written against Keycloak 26.x (the Quarkus distribution; before 17 the
// routes sit under /auth, Options.PathPrefix). Sources, in
// services/src/main/java/org/keycloak/:
//
//   - the direct grant, POST /realms/{realm}/protocol/openid-connect/token
//     with grant_type=password, a form (protocol/oidc/endpoints/TokenEndpoint.java
//     reads only decoded form parameters, the first of a repeated one).
//     authentication/authenticators/directgrant/ValidateUsername.java reads
//     "username", ValidatePassword.java "password", ValidateOTP.java "otp"
//     or "totp". Success: 200 with access_token (RFC 6749 §5.1). A wrong
//     password, an unknown user and a user locked by brute-force detection
//     all answer 401 {"error":"invalid_grant","error_description":"Invalid
//     user credentials"} (the same in the javax-era releases up to 21 and
//     the jakarta ones since; a disabled account answers 400). Other grant
//     types carry no password: refresh_token, authorization_code and
//     client_credentials (and the device, token-exchange, UMA and CIBA
//     grants) are not guesses at a user's secret when they carry only
//     their own parameters;
//   - the browser login form, POST /realms/{realm}/login-actions/authenticate
//     ?session_code=…&execution=…&client_id=…&tab_id=… with the form
//     fields username and password (authentication/authenticators/browser/
//     UsernamePasswordForm.java, AbstractUsernameFormAuthenticator.java);
//     an OTP form posts "otp" with no username (the session names the
//     user), and with identity-first login a password form posts only
//     "password". Success sets a non-empty KEYCLOAK_IDENTITY cookie
//     (services/managers/AuthenticationManager.java createLoginCookie, only
//     once every step and required action is done) on a 302 to the client,
//     or on a 200 auto-submitting form (response_mode=form_post). A failure
//     re-renders the form, 200 HTML. AUTH_SESSION_ID is set on failures
//     too, so it proves nothing;
//   - brute-force detection locks a user, never an address (services/managers/
//     DefaultBruteForceProtector.java), so an attacker can lock the owner
//     out; a locked user's right password answers like a wrong one;
//   - client address: with --proxy-headers xforwarded Keycloak (Vert.x)
//     reads X-Forwarded-For, with --proxy-headers forwarded the Forwarded
//     header; the proxy sets X-Forwarded-For and strips Forwarded.
//
// A success is a 200 whose JSON holds a non-empty access_token (only the
// token endpoint answers JSON) or a 200, 302 or 303 that sets a non-empty
// KEYCLOAK_IDENTITY (only the login form sets it); every other answer but
// a 5xx is a failure. Refusals of the direct grant are the proxy's own RFC
// 6749 answers; refusals of the login form are the HTML refusal page.
func newKeycloak(o Options) (*Profile, error) {
	if len(o.Realms) == 0 {
		return nil, fmt.Errorf("the keycloak profile needs the realms to guard (--realm)")
	}
	p := &Profile{
		Name:    "keycloak",
		Version: "Keycloak 26.x",
		Sources: []string{
			"services/src/main/java/org/keycloak/protocol/oidc/endpoints/TokenEndpoint.java",
			"services/src/main/java/org/keycloak/authentication/authenticators/directgrant/ValidateUsername.java",
			"services/src/main/java/org/keycloak/authentication/authenticators/directgrant/ValidatePassword.java",
			"services/src/main/java/org/keycloak/authentication/authenticators/directgrant/ValidateOTP.java",
			"services/src/main/java/org/keycloak/authentication/authenticators/browser/UsernamePasswordForm.java",
			"services/src/main/java/org/keycloak/services/managers/AuthenticationManager.java",
			"services/src/main/java/org/keycloak/services/managers/DefaultBruteForceProtector.java",
		},
		FormBodies:          true,
		ClientIPHeader:      "X-Forwarded-For",
		ClientIPHeadersRead: []string{"X-Forwarded-For", "Forwarded"},
		SilentUsernameBan:   true,
		api:                 keycloak{},
	}
	for _, realm := range o.Realms {
		if realm == "" || strings.ContainsAny(realm, "/?#") {
			return nil, fmt.Errorf("realm %s: want a realm's name", QuoteShort(realm))
		}
		base := "/realms/" + url.PathEscape(realm)
		p.Logins = append(p.Logins,
			Route{Method: http.MethodPost, Path: base + keycloakTokenPath},
			// The login form judges the user its auth session already
			// holds, when it holds one (identity-first login,
			// re-authentication), whatever username the form posts.
			Route{Method: http.MethodPost, Path: base + keycloakFormPath, ProvesNoName: true})
	}
	return p, nil
}

const (
	keycloakTokenPath = "/protocol/openid-connect/token"
	keycloakFormPath  = "/login-actions/authenticate"
	// KeycloakIdentityCookie is the cookie Keycloak sets once a browser
	// login has succeeded.
	KeycloakIdentityCookie = "KEYCLOAK_IDENTITY"
)

type keycloak struct{}

func (keycloak) fields() []string {
	return []string{"grant_type", "username", "password", "otp", "totp"}
}

// attempt reads either login: the routes are told apart by nothing in
// the body, so the reading must hold for both. Every body is a guess but
// a grant that carries no user's secret (an app's code exchange or token
// refresh, from its own address) and nothing else: the login form ignores
// grant_type and judges whatever secret the body carries — a password,
// an OTP, a recovery code this profile has no name for — so a body with
// any other field is a guess whatever its grant_type says.
func (keycloak) attempt(f map[string]string, _ url.Values) (Attempt, error) {
	name, pw := f["username"], f["password"]
	gt := f["grant_type"]
	guess := !keycloakSecretless(gt)
	for k := range f {
		guess = guess || !keycloakGrantParam(k)
	}
	return Attempt{
		Identifier: name,
		Guess:      guess,
		// A refresh_token or client_credentials grant that succeeds
		// proves no password.
		Earns: name != "" && pw != "" && (gt == "" || gt == "password"),
	}, nil
}

// keycloakSecretless reports a grant type that carries no user's secret
// (protocol/oidc/grants in Keycloak 26).
func keycloakSecretless(grantType string) bool {
	switch grantType {
	case "authorization_code", "refresh_token", "client_credentials",
		"urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:token-exchange",
		"urn:ietf:params:oauth:grant-type:uma-ticket",
		"urn:openid:params:grant-type:ciba":
		return true
	}
	return false
}

// keycloakGrantParam reports a parameter of those grants.
func keycloakGrantParam(name string) bool {
	switch name {
	case "grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type",
		"code", "redirect_uri", "code_verifier", "refresh_token", "scope", "audience", "resource",
		"subject_token", "subject_token_type", "requested_token_type", "requested_subject", "requested_issuer",
		"actor_token", "actor_token_type", "device_code", "auth_req_id", "ticket", "permission",
		"response_mode", "claim_token", "claim_token_format", "rpt", "submit_request", "response_include_resource_name":
		return true
	}
	return false
}

func (keycloak) classify(now time.Time, a Answer) Outcome {
	switch {
	case a.Truncated:
		return Failure
	case a.Status == http.StatusOK && jsonString(a.Body, "access_token") != "":
		return Success
	case (a.Status == http.StatusOK || a.Status == http.StatusFound || a.Status == http.StatusSeeOther) &&
		cookieSet(now, a.Header, KeycloakIdentityCookie):
		return Success
	}
	return Failure
}

func (keycloak) render(r Refusal) (Response, bool) {
	if strings.HasSuffix(r.Path, keycloakFormPath) {
		return htmlRefusal(r), true
	}
	return Response{}, false
}
