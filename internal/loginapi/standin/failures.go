package standin

import (
	"net/http"
	"strings"
)

// Canned is one fixed answer of a service to a login, served as it is.
// It is safe for concurrent use.
type Canned struct {
	// Profile is the login profile the answer belongs to.
	Profile string
	Name    string
	Status  int
	// Cookies are Set-Cookie lines.
	Cookies []string
	Body    string
}

func (c Canned) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	for _, line := range c.Cookies {
		w.Header().Add("Set-Cookie", line)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.Status)
	_, _ = w.Write([]byte(c.Body))
}

// huge pads a success-looking JSON body past any cap a gateway reads.
func huge(prefix string) string {
	return prefix + `,"pad":"` + strings.Repeat("x", 80<<10) + `"}`
}

// Failures are answers of each service that are not a successful login,
// however close they look to one: a gateway that takes any of them for a
// success would give the attempt back and trust the device. Tests of the
// profiles and of the gateway both run through this one table.
var Failures = []Canned{
	{"fastapi", "200 without a token", 200, nil, `{"detail":"ok"}`},
	{"fastapi", "200 empty token", 200, nil, `{"access_token":""}`},
	{"fastapi", "200 token not a string", 200, nil, `{"access_token":{"v":"t"}}`},
	{"fastapi", "200 token nested", 200, nil, `{"data":{"access_token":"t"}}`},
	{"fastapi", "200 not JSON", 200, nil, `access_token=t`},
	{"fastapi", "200 token past the cap", 200, nil, huge(`{"access_token":"t"`)},
	{"fastapi", "204", 204, nil, ``},
	{"fastapi", "401 with a token", 401, nil, `{"access_token":"t"}`},
	{"fastapi", "400", 400, nil, `{"error":"invalid_grant"}`},
	{"fastapi", "302 with a token", 302, nil, `{"access_token":"t"}`},
	{"fastapi", "500 with a token", 500, nil, `{"access_token":"t"}`},

	{"authelia", "401 KO", 401, nil, `{"status":"KO","message":"Authentication failed. Check your credentials."}`},
	{"authelia", "401 KO with a cookie", 401, []string{"authelia_session=abc"}, `{"status":"KO"}`},
	{"authelia", "200 KO with a cookie", 200, []string{"authelia_session=abc"}, `{"status":"KO"}`},
	{"authelia", "200 OK without the cookie", 200, nil, `{"status":"OK"}`},
	{"authelia", "200 OK another cookie", 200, []string{"other_session=abc"}, `{"status":"OK"}`},
	{"authelia", "200 OK empty cookie", 200, []string{"authelia_session=; Path=/"}, `{"status":"OK"}`},
	{"authelia", "200 OK cookie deleted", 200, []string{"authelia_session=abc; Max-Age=0"}, `{"status":"OK"}`},
	{"authelia", "200 OK cookie expired", 200, []string{"authelia_session=abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}, `{"status":"OK"}`},
	{"authelia", "200 OK cookie set then deleted", 200, []string{"authelia_session=abc", "authelia_session=; Max-Age=0"}, `{"status":"OK"}`},
	{"authelia", "200 ok lower case", 200, []string{"authelia_session=abc"}, `{"status":"ok"}`},
	{"authelia", "200 not JSON", 200, []string{"authelia_session=abc"}, `OK`},
	{"authelia", "201 OK", 201, []string{"authelia_session=abc"}, `{"status":"OK"}`},
	{"authelia", "302 with a cookie", 302, []string{"authelia_session=abc"}, ``},
	{"authelia", "429", 429, nil, `{"status":"KO"}`},
	{"authelia", "500 OK", 500, []string{"authelia_session=abc"}, `{"status":"OK"}`},
	{"authelia", "200 OK past the cap", 200, []string{"authelia_session=abc"}, huge(`{"status":"OK"`)},

	{"kratos", "200 without session_token", 200, nil, `{"session":{"id":"s"}}`},
	{"kratos", "200 empty session_token", 200, nil, `{"session_token":"","session":{"id":"s"}}`},
	{"kratos", "200 session_token null", 200, nil, `{"session_token":null}`},
	{"kratos", "200 flow", 200, nil, `{"id":"f","type":"api","ui":{"messages":[]}}`},
	{"kratos", "400 flow 4000006", 400, nil, `{"id":"f","ui":{"messages":[{"id":4000006,"type":"error"}]}}`},
	{"kratos", "400 with a session_token", 400, nil, `{"session_token":"t"}`},
	{"kratos", "400 with the cookie", 400, []string{"ory_kratos_session=abc"}, `{"id":"f"}`},
	{"kratos", "303 to the login UI", 303, []string{"csrf_token_x=abc"}, ``},
	{"kratos", "303 cookie deleted", 303, []string{"ory_kratos_session=; Max-Age=0"}, ``},
	{"kratos", "422 browser location change", 422, nil, `{"error":{"id":"browser_location_change_required"},"redirect_browser_to":"/"}`},
	{"kratos", "403 csrf", 403, nil, `{"error":{"id":"security_csrf_violation"}}`},
	{"kratos", "410 expired", 410, nil, `{"error":{"id":"self_service_flow_expired"}}`},
	{"kratos", "500 with a session_token", 500, nil, `{"session_token":"t"}`},
	{"kratos", "201 with a session_token", 201, nil, `{"session_token":"t"}`},
	{"kratos", "200 session_token past the cap", 200, nil, huge(`{"session_token":"t"`)},
	// Browser flows: a wrong password is a 303 back to the login UI too.
	{"kratos", "browser 303 wrong password, csrf cookie", 303, []string{"csrf_token_806060ca5bf70dff3caa0e5c860002aade9d470a5a4dce73bcfa7ba10778f481=abc; Path=/; HttpOnly; SameSite=Lax"}, ``},
	{"kratos", "browser 303 continuity cookie", 303, []string{"ory_kratos_continuity=abc; Path=/; HttpOnly"}, ``},
	{"kratos", "browser 303 another session cookie", 303, []string{"ory_session_abc=xyz; Path=/"}, ``},
	{"kratos", "browser 303 session cookie expired", 303, []string{"ory_kratos_session=abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}, ``},
	{"kratos", "browser 200 login UI", 200, []string{"csrf_token_x=abc"}, `<!DOCTYPE html><form method="POST"><input name="csrf_token"></form>`},
	{"kratos", "browser 302 with the cookie", 302, []string{"ory_kratos_session=abc"}, ``},

	{"keycloak", "401 invalid_grant", 401, nil, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`},
	{"keycloak", "400 invalid_grant", 400, nil, `{"error":"invalid_grant","error_description":"Account disabled"}`},
	{"keycloak", "401 with an access_token", 401, nil, `{"error":"invalid_grant","access_token":"t"}`},
	{"keycloak", "401 unauthorized_client", 401, nil, `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`},
	{"keycloak", "200 without access_token", 200, nil, `{"token_type":"Bearer","expires_in":300}`},
	{"keycloak", "200 empty access_token", 200, nil, `{"access_token":"","token_type":"Bearer"}`},
	{"keycloak", "200 access_token null", 200, nil, `{"access_token":null}`},
	{"keycloak", "200 access_token in HTML", 200, nil, `<html><body>{"access_token":"t"}</body></html>`},
	{"keycloak", "201 with an access_token", 201, nil, `{"access_token":"t"}`},
	{"keycloak", "500 with an access_token", 500, nil, `{"access_token":"t"}`},
	{"keycloak", "200 access_token past the cap", 200, nil, huge(`{"access_token":"t"`)},
	{"keycloak", "form re-rendered, AUTH_SESSION_ID set", 200, []string{"AUTH_SESSION_ID=abc.node1; Path=/realms/test/; HttpOnly; SameSite=None; Secure", "KC_AUTH_SESSION_HASH=x; Path=/realms/test/"},
		`<!DOCTYPE html><html><body><span id="input-error">Invalid username or password.</span><form id="kc-form-login"></form></body></html>`},
	{"keycloak", "302 with AUTH_SESSION_ID only", 302, []string{"AUTH_SESSION_ID=abc.node1; Path=/realms/test/", "KC_RESTART=eyJ; Path=/realms/test/"}, ``},
	{"keycloak", "302 KEYCLOAK_SESSION only", 302, []string{"KEYCLOAK_SESSION=test/u/s; Path=/realms/test/"}, ``},
	{"keycloak", "302 KEYCLOAK_IDENTITY_LEGACY only", 302, []string{"KEYCLOAK_IDENTITY_LEGACY=eyJ; Path=/realms/test/"}, ``},
	{"keycloak", "302 KEYCLOAK_IDENTITY empty", 302, []string{"KEYCLOAK_IDENTITY=; Path=/realms/test/"}, ``},
	{"keycloak", "302 KEYCLOAK_IDENTITY expired", 302, []string{"KEYCLOAK_IDENTITY=; Version=1; Expires=Thu, 01-Jan-1970 00:00:10 GMT; Max-Age=0; Path=/realms/test/"}, ``},
	{"keycloak", "302 KEYCLOAK_IDENTITY set then expired", 302, []string{"KEYCLOAK_IDENTITY=eyJ; Path=/realms/test/", "KEYCLOAK_IDENTITY=; Max-Age=0; Path=/realms/test/"}, ``},
	{"keycloak", "400 with KEYCLOAK_IDENTITY", 400, []string{"KEYCLOAK_IDENTITY=eyJ; Path=/realms/test/"}, `<html>Page has expired</html>`},
	{"keycloak", "401 with KEYCLOAK_IDENTITY", 401, []string{"KEYCLOAK_IDENTITY=eyJ; Path=/realms/test/"}, ``},
	{"keycloak", "307 with KEYCLOAK_IDENTITY", 307, []string{"KEYCLOAK_IDENTITY=eyJ; Path=/realms/test/"}, ``},

	{"gotrue", "400 invalid_credentials", 400, nil, `{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}`},
	{"gotrue", "400 invalid_credentials, API 2024-01-01", 400, nil, `{"code":"invalid_credentials","message":"Invalid login credentials"}`},
	{"gotrue", "400 invalid_grant (older releases)", 400, nil, `{"error":"invalid_grant","error_description":"Invalid login credentials"}`},
	{"gotrue", "400 email_not_confirmed", 400, nil, `{"code":400,"error_code":"email_not_confirmed","msg":"Email not confirmed"}`},
	{"gotrue", "400 user_banned", 400, nil, `{"code":400,"error_code":"user_banned","msg":"User is banned"}`},
	{"gotrue", "400 with an access_token", 400, nil, `{"access_token":"t","error_code":"invalid_credentials"}`},
	{"gotrue", "422 email and phone", 422, nil, `{"code":422,"error_code":"validation_failed","msg":"Only an email address or phone number should be provided on login."}`},
	{"gotrue", "429 with an access_token", 429, nil, `{"access_token":"t"}`},
	{"gotrue", "200 without access_token", 200, nil, `{"user":{"id":"u"},"weak_password":null}`},
	{"gotrue", "200 empty access_token", 200, nil, `{"access_token":"","refresh_token":"r"}`},
	{"gotrue", "200 token inside session", 200, nil, `{"session":{"access_token":"t"}}`},
	{"gotrue", "200 token cookie only", 200, []string{"sb-access-token=t; Path=/"}, `{"user":{"id":"u"}}`},
	{"gotrue", "201 with an access_token", 201, nil, `{"access_token":"t"}`},
	{"gotrue", "500 with an access_token", 500, nil, `{"access_token":"t"}`},
	{"gotrue", "200 access_token past the cap", 200, nil, huge(`{"access_token":"t"`)},
}
