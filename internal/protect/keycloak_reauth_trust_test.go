package protect

import (
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/credshield/credshield/internal/loginapi/standin"
)

// keycloakReauth answers a realm's two password logins as Keycloak 26
// does for the bodies this test sends:
//   - the login form, POST /login-actions/authenticate, in an
//     authentication session whose user is already set (identity-first
//     login's PasswordForm, or UsernamePasswordForm's re-authentication,
//     isUserAlreadySetBeforeUsernamePasswordAuth): the password is checked
//     for the session's user (context.getUser()), the posted username is
//     not read; success sets KEYCLOAK_IDENTITY on a 302;
//   - the direct grant: the username's password.
type keycloakReauth struct{ directGrants atomic.Int64 }

func (k *keycloakReauth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	base := "/realms/" + standin.KeycloakRealm
	switch r.URL.Path {
	case base + "/login-actions/authenticate":
		c, err := r.Cookie("AUTH_SESSION_ID")
		if err == nil && c.Value == "mallory-auth-session" && r.PostForm.Get("password") == "mallory's own password" {
			http.SetCookie(w, &http.Cookie{Name: "KEYCLOAK_IDENTITY", Value: "mallory-sso", Path: base})
			w.Header().Set("Location", "/cb?code=x")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<form>Invalid password</form>"))
	case base + "/protocol/openid-connect/token":
		k.directGrants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid user credentials"}`))
	}
}

// TestReviewKeycloakReauthEarnsTrustForPostedUsername: when Keycloak's
// authentication session already names the user (identity-first login,
// re-authentication), the login form checks the password of that user and
// never reads a posted username, but the profile reads a form with a
// username and a password as a login of that username and earns it a
// device credential on success. Mallory re-authenticates as herself,
// adds username=alice to the form, and gets a device credential for
// alice, which then carries guesses at alice's password past alice's
// spent budget.
func TestKeycloakLoginFormNeverEarnsTrustForPostedUsername(t *testing.T) {
	k := &keycloakReauth{}
	e := newTrustEnv(t, k, "keycloak")
	base := "/realms/" + standin.KeycloakRealm
	// Read Keycloak's 302, do not follow it.
	e.ts.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	r := e.post(base+"/login-actions/authenticate?session_code=s&execution=e&client_id=app&tab_id=t", "application/x-www-form-urlencoded",
		"username=alice&password="+url.QueryEscape("mallory's own password"),
		"X-Forwarded-For", "198.51.100.9", "Cookie", "AUTH_SESSION_ID=mallory-auth-session")
	if r.status != http.StatusFound {
		t.Fatalf("mallory's re-authentication: %d %s", r.status, r.body)
	}
	dev := r.header.Get(DeviceHeader)
	if dev == "" {
		return // fixed
	}
	t.Errorf("mallory's own password, with username=alice added to the form, earned a device credential for alice")
	guess := func(i int, header ...string) response {
		body := fmt.Sprintf("grant_type=password&client_id=app&username=alice&password=guess%d", i)
		return e.post(base+"/protocol/openid-connect/token", "application/x-www-form-urlencoded", body,
			append([]string{"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)}, header...)...)
	}
	before := k.directGrants.Load()
	passed := guessesPastBudget(t, guess, dev, http.StatusUnauthorized)
	t.Errorf("with that credential, %d of 100 guesses at alice's password reached Keycloak after her budget was spent (Keycloak judged %d)",
		passed, k.directGrants.Load()-before)
}
