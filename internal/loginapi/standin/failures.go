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
}
