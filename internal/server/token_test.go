package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/internal/password"
)

func TestLoginFlow(t *testing.T) {
	e := newTestEnv(t)
	u := e.addUser("alice", "correct horse battery")

	res := e.login("Alice", "correct horse battery") // names are case-folded
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	body := res.json(t)
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(900) {
		t.Errorf("token response %s", res.body)
	}
	if _, ok := body["scope"]; !ok {
		t.Errorf("token response has no scope: %s", res.body)
	}
	tok := body["access_token"].(string)

	// The token carries RFC 9068 claims; sub is the stable id, not the name.
	header, claims := decodeJWT(t, tok)
	if header["typ"] != "at+jwt" || header["alg"] != "EdDSA" || header["kid"] != e.keys.Active().ID {
		t.Errorf("header %v", header)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "username"} {
		if _, ok := claims[c]; !ok && c != "scope" {
			t.Errorf("claim %s missing in %v", c, claims)
		}
	}
	if claims["sub"] != u.ID || claims["username"] != "alice" || claims["iss"] != e.cfg.Issuer || claims["client_id"] != "public" {
		t.Errorf("claims %v", claims)
	}

	me := e.me("Bearer " + tok)
	if me.status != http.StatusOK {
		t.Fatalf("/users/me status %d body %s", me.status, me.body)
	}
	if got := me.json(t); got["username"] != "alice" || got["sub"] != u.ID {
		t.Errorf("/users/me = %s", me.body)
	}

	// Disabling the account stops its tokens at once.
	if _, err := e.st.SetDisabled(context.Background(), "alice", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	me = e.me("Bearer " + tok)
	if me.status != http.StatusUnauthorized || !strings.Contains(me.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("disabled user's token: status %d, WWW-Authenticate %q", me.status, me.header.Get("WWW-Authenticate"))
	}
}

func TestTokenRequestErrors(t *testing.T) {
	e := newTestEnv(t, withScopes("read", "write"))
	e.addUser("bob", "correct horse battery")
	big := "username=bob&password=" + strings.Repeat("a", httpapi.MaxFormBytes)
	var manyParams string
	for i := 0; i < 40; i++ {
		manyParams += fmt.Sprintf("p%d=1&", i)
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	tests := []struct {
		name        string
		body        string
		header      []string
		status      int
		code        string
		description string // substring
	}{
		{"wrong content type", "username=bob&password=x", []string{"Content-Type", "application/json"}, 400, "invalid_request", "Content-Type"},
		{"multipart", "username=bob&password=x", []string{"Content-Type", "multipart/form-data; boundary=x"}, 400, "invalid_request", "Content-Type"},
		{"bad charset", "username=bob&password=x", []string{"Content-Type", "application/x-www-form-urlencoded; charset=latin1"}, 400, "invalid_request", "charset"},
		{"missing username", "password=x", nil, 400, "invalid_request", "missing parameter: username"},
		{"empty username", "username=&password=x", nil, 400, "invalid_request", "missing parameter: username"},
		{"missing password", "username=bob", nil, 400, "invalid_request", "missing parameter: password"},
		{"repeated username", "username=bob&username=eve&password=x", nil, 400, "invalid_request", `"username" is repeated`},
		{"repeated password", "username=bob&password=x&password=y", nil, 400, "invalid_request", `"password" is repeated`},
		{"body over 8 KiB", big, nil, 400, "invalid_request", "exceeds 8192 bytes"},
		{"invalid UTF-8", "username=bob%ff&password=x", nil, 400, "invalid_request", "UTF-8"},
		{"NUL in password", "username=bob&password=x%00y", nil, 400, "invalid_request", "NUL"},
		{"NUL in username", "username=b%00ob&password=x", nil, 400, "invalid_request", "NUL"},
		{"bad percent escape", "username=bob&password=%zz", nil, 400, "invalid_request", "percent-encoding"},
		{"too many parameters", manyParams + "username=bob&password=x", nil, 400, "invalid_request", "parameters"},
		{"control char in username", "username=b%07ob&password=x", nil, 400, "invalid_request", "control"},
		{"unsupported grant", "grant_type=client_credentials&username=bob&password=x", nil, 400, "unsupported_grant_type", "client_credentials"},
		{"invalid scope", "username=bob&password=x&scope=a%22b", nil, 400, "invalid_scope", "scope"},
		{"basic with secret", "username=bob&password=x", []string{"Authorization", basic("app", "s3cret")}, 401, "invalid_client", "secrets"},
		{"basic id differs from form", "username=bob&password=x&client_id=other", []string{"Authorization", basic("app", "")}, 400, "invalid_request", "client_id"},
		{"malformed basic", "username=bob&password=x", []string{"Authorization", "Basic !!!"}, 400, "invalid_request", "Basic"},
		{"bearer on token endpoint", "username=bob&password=x", []string{"Authorization", "Bearer abc"}, 400, "invalid_request", "Basic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.postToken(tt.body, tt.header...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.body)
			}
			body := res.json(t)
			if body["error"] != tt.code {
				t.Errorf("error = %v, want %s", body["error"], tt.code)
			}
			desc, _ := body["error_description"].(string)
			if !strings.Contains(desc, tt.description) || body["detail"] != desc {
				t.Errorf("error_description %q, detail %v; want both to contain %q", desc, body["detail"], tt.description)
			}
		})
	}

	t.Run("GET is not allowed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/token", nil)
		res := e.do(req)
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "POST" || res.json(t)["error"] != "invalid_request" {
			t.Errorf("status %d Allow %q body %s", res.status, res.header.Get("Allow"), res.body)
		}
	})
	t.Run("basic with empty secret is the client id", func(t *testing.T) {
		res := e.postToken("username=bob&password=correct+horse+battery", "Authorization", basic("my app", ""))
		if res.status != http.StatusOK {
			t.Fatalf("status %d body %s", res.status, res.body)
		}
		_, claims := decodeJWT(t, res.json(t)["access_token"].(string))
		if claims["client_id"] != "my app" {
			t.Errorf("client_id = %v", claims["client_id"])
		}
	})
	t.Run("scope normalised", func(t *testing.T) {
		res := e.postToken("grant_type=password&username=bob&password=correct+horse+battery&scope=read++write+read")
		if got := res.json(t)["scope"]; got != "read write" {
			t.Errorf("scope = %v", got)
		}
	})
}

// TestFailuresIndistinguishable checks that unknown user, wrong password,
// disabled account and an imported bcrypt account's wrong password produce
// the same status, headers and body, and that each takes at least the
// failure floor.
func TestFailuresIndistinguishable(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("carol", "correct horse battery")
	e.addUser("dave", "correct horse battery")
	if _, err := e.st.SetDisabled(context.Background(), "dave", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	bh, err := bcrypt.GenerateFromPassword([]byte("correct horse battery"), 10)
	if err != nil {
		t.Fatal(err)
	}
	argonOnly := e.srv.floor.Get()
	e.addUserHash("erin", string(bh))
	// The server calibrated at start; an import into a running service is
	// picked up by RefreshFloor (the serve command runs it every minute).
	if err := e.srv.RefreshFloor(context.Background()); err != nil {
		t.Fatal(err)
	}
	floor := e.srv.floor.Get()
	bcryptCost, err := password.Calibrate("$2a$10$")
	if err != nil {
		t.Fatal(err)
	}
	// Two timings on a loaded machine (the race detector, other packages'
	// tests) differ by tens of percent, so the comparison allows for it:
	// the floor must have risen well above the cheap argon2id class's and
	// be of the order of a bcrypt cost-10 verify. Each failure below must
	// then take at least the floor, exactly.
	if floor < 4*argonOnly || floor < bcryptCost/2 {
		t.Fatalf("floor %v after importing bcrypt (argon2id-only floor %v, a bcrypt cost-10 verify now %v)", floor, argonOnly, bcryptCost)
	}

	cases := []struct{ name, user, pw string }{
		{"unknown user", "nobody", "whatever pw"},
		{"wrong password", "carol", "wrong password"},
		{"disabled user right password", "dave", "correct horse battery"},
		{"bcrypt user wrong password", "erin", "wrong password"},
	}
	var first response
	for i, c := range cases {
		start := time.Now()
		res := e.login(c.user, c.pw)
		took := time.Since(start)
		if res.status != http.StatusBadRequest {
			t.Fatalf("%s: status %d body %s", c.name, res.status, res.body)
		}
		if took < floor {
			t.Errorf("%s took %v, less than the floor %v", c.name, took, floor)
		}
		res.header.Del("Date")
		if i == 0 {
			first = res
			if got := res.json(t); got["error"] != "invalid_grant" {
				t.Fatalf("error %v", got)
			}
			continue
		}
		if string(res.body) != string(first.body) {
			t.Errorf("%s body %s differs from %s", c.name, res.body, first.body)
		}
		if !headersEqual(res.header, first.header) {
			t.Errorf("%s headers %v differ from %v", c.name, res.header, first.header)
		}
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

// TestImportedHashRehashed logs in with real bcrypt and passlib hashes and
// checks that the first success moves the account to argon2id.
func TestImportedHashRehashed(t *testing.T) {
	e := newTestEnv(t)
	bh, err := bcrypt.GenerateFromPassword([]byte("hunter2 hunter2"), 4)
	if err != nil {
		t.Fatal(err)
	}
	y := "$2y$" + string(bh)[4:] // PHP's prefix for the same algorithm
	cases := []struct{ name, hash, pw string }{
		{"bcrypt 2a", string(bh), "hunter2 hunter2"},
		{"bcrypt 2y", y, "hunter2 hunter2"},
		// From passlib 1.7.4's argon2 tests (argon2-cffi vectors); see
		// password/testdata/vectors.json for the sources.
		{"passlib argon2", "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo", "password"},
		{"passlib bcrypt-sha256", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$wOK1VFFtS8IGTrGa7.h5fs0u84qyPbS", "password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ReplaceAll(c.name, " ", "-")
			u := e.addUserHash(name, c.hash)
			if res := e.login(name, c.pw); res.status != http.StatusOK {
				t.Fatalf("login status %d body %s", res.status, res.body)
			}
			after, err := e.st.UserByID(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(after.PasswordHash, "$argon2id$") || after.PasswordHash == c.hash {
				t.Fatalf("hash not moved to argon2id: %s", after.HashClass)
			}
			if _, rehash, err := password.Verify(after.PasswordHash, []byte(c.pw), testParams); err != nil || rehash {
				t.Errorf("new hash: rehash=%v err=%v", rehash, err)
			}
			if res := e.login(name, c.pw); res.status != http.StatusOK {
				t.Errorf("second login status %d", res.status)
			}
		})
	}
}

func TestOAuth2ClientLibrary(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("frank", "correct horse battery")
	conf := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: e.ts.URL + "/token"}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.client)
	tok, err := conf.PasswordCredentialsToken(ctx, "frank", "correct horse battery")
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token %+v", tok)
	}
	res := e.me("Bearer " + tok.AccessToken)
	if res.status != http.StatusOK {
		t.Fatalf("/users/me status %d", res.status)
	}
	if _, err := conf.PasswordCredentialsToken(ctx, "frank", "wrong"); err == nil {
		t.Error("wrong password accepted")
	} else if re, ok := err.(*oauth2.RetrieveError); !ok || re.ErrorCode != "invalid_grant" {
		t.Errorf("wrong password error %v", err)
	}
}

// TestStoreErrorIs503 checks that a database failure is a 503 with
// Retry-After, never a 500 carrying the database's message.
func TestStoreErrorIs503(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("gina", "correct horse battery")
	e.st.Close()
	res := e.login("gina", "correct horse battery")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q body %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if strings.Contains(strings.ToLower(string(res.body)), "sql") {
		t.Errorf("body leaks the database error: %s", res.body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/readyz", nil)
	if r := e.do(req); r.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz status %d with a closed database", r.status)
	}
}

// decodeJWT returns the header and claims of a compact JWS without
// verifying it.
func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}
