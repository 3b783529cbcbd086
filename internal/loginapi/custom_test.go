package loginapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// docsExample returns the custom profile example of the documentation,
// verbatim (standin.DocsCustomProfile).
func docsExample(t *testing.T) string {
	t.Helper()
	example, err := standin.DocsCustomProfile()
	if err != nil {
		t.Fatal(err)
	}
	return example
}

// writeProfile writes a profile file and loads it.
func writeProfile(t *testing.T, yaml string) (*loginapi.Profile, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return loginapi.LoadCustom(path)
}

// TestCustomProfileFromDocsGuardsAcme: the profile written only from the
// documentation's example guards a login API that no built-in profile
// knows (standin.Acme): it recognises its login, reads whose account is
// tried, and reads its answers — a success only with the session it
// issues. Each row goes through a gateway over loopback; the same rows
// can run through `protect` once it loads custom profiles.
func TestCustomProfileFromDocsGuardsAcme(t *testing.T) {
	p, err := writeProfile(t, docsExample(t))
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	acme := standin.NewAcme(map[string]string{alice: alicePass})
	upstream := serve(t, acme)
	g, gw := serveGateway(t, p, upstream)

	const js = "application/json"
	tests := []struct {
		name, method, path, ct, body string
		login                        bool   // a guarded login
		readErr                      string // refused before the service
		want                         loginapi.Attempt
		outcome                      loginapi.Outcome
		status                       int
	}{
		{"right secret", "POST", "/api/v2/session", js, `{"login":"` + alice + `","secret":"` + alicePass + `"}`, true, "",
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, loginapi.Success, 201},
		{"right secret, tenant main", "POST", "/api/v2/session", js, `{"login":"` + alice + `","secret":"` + alicePass + `","tenant":"main"}`, true, "",
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, loginapi.Success, 201},
		{"wrong secret", "POST", "/api/v2/session", js, `{"login":"` + alice + `","secret":"` + wrongGuess + `"}`, true, "",
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, loginapi.Failure, 401},
		{"unknown login", "POST", "/api/v2/session", js, `{"login":"mallory","secret":"` + wrongGuess + `"}`, true, "",
			loginapi.Attempt{Identifier: "mallory", Guess: true, Earns: true}, loginapi.Failure, 401},
		{"no secret is refunded", "POST", "/api/v2/session", js, `{"login":"` + alice + `"}`, true, "",
			loginapi.Attempt{Identifier: alice, Guess: true}, loginapi.NotJudged, 422},
		{"other tenant", "POST", "/api/v2/session", js, `{"login":"` + alice + `","secret":"` + alicePass + `","tenant":"other"}`, true, "",
			loginapi.Attempt{Identifier: alice, Guess: true, Earns: true}, loginapi.Failure, 401},
		{"login case variant", "POST", "/api/v2/session", js, `{"login":"` + alice + `","LOGIN":"victim","secret":"x"}`, true, "only in case", loginapi.Attempt{}, 0, 400},
		{"tenant case variant", "POST", "/api/v2/session", js, `{"login":"a","secret":"x","tenant":"main","Tenant":"other"}`, true, "only in case", loginapi.Attempt{}, 0, 400},
		{"repeated login", "POST", "/api/v2/session", js, `{"login":"a","login":"victim","secret":"x"}`, true, "repeated", loginapi.Attempt{}, 0, 400},
		{"no login", "POST", "/api/v2/session", js, `{"secret":"x"}`, true, "missing", loginapi.Attempt{}, 0, 400},
		{"form body", "POST", "/api/v2/session", "application/x-www-form-urlencoded", `login=a&secret=x`, true, "only JSON", loginapi.Attempt{}, 0, 400},
		{"methods pass through", "GET", "/api/v2/session/methods", "", ``, false, "", loginapi.Attempt{}, 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Match(tt.method, tt.path); got != tt.login {
				t.Fatalf("Match(%s %s) = %v", tt.method, tt.path, got)
			}
			req, _ := http.NewRequest(tt.method, gw.URL+tt.path, strings.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !tt.login {
				return
			}
			s := g.last(t)
			if tt.readErr != "" {
				if s.err == nil || !strings.Contains(s.err.Error(), tt.readErr) {
					t.Fatalf("ReadAttempt error %v, want %q", s.err, tt.readErr)
				}
				return
			}
			if s.err != nil {
				t.Fatal(s.err)
			}
			if a := s.attempt; a.Identifier != tt.want.Identifier || a.Guess != tt.want.Guess || a.Earns != tt.want.Earns {
				t.Fatalf("attempt %+v, want %+v", a, tt.want)
			}
			if s.outcome != tt.outcome {
				t.Fatalf("Classify = %v, want %v", s.outcome, tt.outcome)
			}
		})
	}
	if ips := acme.ClientIPs(); len(ips) == 0 || ips[0] != "198.51.100.7" {
		t.Errorf("Acme read the client address %v; the profile sets %s", ips, p.ClientIPHeader)
	}
}

// TestCustomFailuresNeverSuccess: the answers of an Acme-like service
// that are not a login, however close, read with the documented profile.
func TestCustomFailuresNeverSuccess(t *testing.T) {
	p, err := writeProfile(t, docsExample(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range standin.AcmeFailures {
		a := post(t, serve(t, c), "application/json", "{}")
		if got := p.Classify(time.Now(), a); got == loginapi.Success {
			t.Errorf("%s: Classify = success", c.Name)
		}
	}
}

// minimal is the smallest valid custom profile.
const minimal = `service: Example 1
logins: [POST /login]
body: {identifier: user, secret: pass}
success: {json_field: token}
client_ip: {set: X-Forwarded-For}
`

// TestLoadCustomErrors: every mistake is an error that says what is
// wrong, and a misspelt key names the key and its line.
func TestLoadCustomErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"typo at top level", minimal + "refusl: html\n", `line 6: unknown key refusl`},
		{"typo nested", strings.Replace(minimal, "identifier:", "identifer:", 1), `line 3: unknown key identifer`},
		{"typo in success", minimal + "success2: 1\n", "line 6: unknown key success2"},
		{"empty", "", "empty"},
		{"two documents", minimal + "---\n" + minimal, "more than one"},
		{"not YAML", "logins: [", "yaml"},
		{"wrong type", strings.Replace(minimal, "{json_field: token}", "{status: two}", 1), "line 4"},
		{"no service", strings.Replace(minimal, "service: Example 1\n", "", 1), "service"},
		{"no logins", strings.Replace(minimal, "logins: [POST /login]\n", "", 1), "logins"},
		{"a GET login", strings.Replace(minimal, "POST /login", "GET /login", 1), "carries no body"},
		{"route without a method", strings.Replace(minimal, "POST /login", "/login", 1), "method and a path"},
		{"lower-case method", strings.Replace(minimal, "POST /login", "post /login", 1), "method and a path"},
		{"relative path", strings.Replace(minimal, "POST /login", "POST login", 1), "absolute path"},
		{"path with a query", strings.Replace(minimal, "[POST /login]", `["POST /login?a=b"]`, 1), "absolute path"},
		{"bad percent-encoding", strings.Replace(minimal, "POST /login", "POST /log%zzin", 1), "percent-encoding"},
		{"no identifier", strings.Replace(minimal, "identifier: user, ", "", 1), "two different fields"},
		{"identifier is the secret", strings.Replace(minimal, "secret: pass", "secret: user", 1), "two different fields"},
		{"no proof of success", strings.Replace(minimal, "success: {json_field: token}", "success: {status: [200]}", 1), "json_field or cookie"},
		{"a 4xx success", strings.Replace(minimal, "{json_field: token}", "{json_field: token, status: [401]}", 1), "not a success status"},
		{"a refund that is a success", minimal + "refund: [200]\n", "refund"},
		{"bad cookie name", strings.Replace(minimal, "{json_field: token}", "{cookie: \"a b\"}", 1), "cookie name"},
		{"no client header", strings.Replace(minimal, "client_ip: {set: X-Forwarded-For}\n", "", 1), "client_ip.set"},
		{"unknown refusal", minimal + "refusal: xml\n", "auto, json or html"},
		{"bad client header", strings.Replace(minimal, "set: X-Forwarded-For", `set: "X Real IP"`, 1), "not a header name"},
		{"bad header also read", strings.Replace(minimal, "{set: X-Forwarded-For}", "{set: X-Real-Ip, also_read: [\"a:b\"]}", 1), "not a header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := writeProfile(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadCustom = %v, %v; want an error with %q", p, err, tt.want)
			}
			if strings.Contains(err.Error(), "loginapi.") {
				t.Errorf("the error names Go types: %v", err)
			}
		})
	}
	// The documentation quotes this error for its own example.
	_, err := writeProfile(t, strings.Replace(docsExample(t), "identifier: login", "identifer: login", 1))
	if err == nil || !strings.HasSuffix(err.Error(), ": line 17: unknown key identifer") {
		t.Errorf("a typo in the documented example: %v", err)
	}
	if _, err := loginapi.LoadCustom(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestLoadCustomMinimal(t *testing.T) {
	p, err := writeProfile(t, minimal)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != loginapi.CustomName || p.Version != "Example 1" || len(p.Sources) != 1 || !p.Match("POST", "/login") || p.FormBodies {
		t.Fatalf("profile %+v", p)
	}
	// The default success status is 200, and the default refusal is
	// the page for a form post and RFC 6749 JSON otherwise.
	if got := p.Classify(time.Now(), loginapi.Answer{Status: 200, Body: []byte(`{"token":"t"}`)}); got != loginapi.Success {
		t.Errorf("200 with the token: %v", got)
	}
	if got := p.Classify(time.Now(), loginapi.Answer{Status: 201, Body: []byte(`{"token":"t"}`)}); got != loginapi.Failure {
		t.Errorf("201 with the token: %v", got)
	}
	throttled := loginapi.Refusal{Kind: loginapi.Throttled, RetryAfter: 3}
	if _, ok := p.Render(throttled); ok {
		t.Error("a JSON post got a rendered page")
	}
	throttled.ContentType = "application/x-www-form-urlencoded"
	if resp, ok := p.Render(throttled); !ok || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Error("a form post got no page")
	}
	html, err := writeProfile(t, minimal+"refusal: html\n")
	if err != nil {
		t.Fatal(err)
	}
	if resp, ok := html.Render(loginapi.Refusal{Kind: loginapi.Throttled, ContentType: "application/json"}); !ok || resp.Status != 429 {
		t.Error("refusal: html rendered no page")
	}
	js, err := writeProfile(t, minimal+"refusal: json\nbody: {form: true, identifier: user, secret: pass}\n")
	if err == nil {
		t.Fatalf("a repeated key loaded: %+v", js)
	}
}
