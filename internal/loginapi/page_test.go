package loginapi

import (
	"bytes"
	"html/template"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/challenge"
)

// TestRefusalPage renders the page of every form-based browser login and
// checks what a browser is told: the status, when to retry, never to
// cache it, and that it loads nothing from anywhere.
func TestRefusalPage(t *testing.T) {
	c := &challenge.Challenge{Token: "tok", Algorithm: challenge.Algorithm, Difficulty: 4}
	kc := mustProfile(t, "keycloak", testOptions)
	kr := mustProfile(t, "kratos", Options{})
	tests := []struct {
		name     string
		p        *Profile
		ref      Refusal
		status   int
		retry    string
		sentence string
	}{
		{"keycloak throttled", kc, Refusal{Kind: Throttled, RetryAfter: 42, Path: "/realms/test/login-actions/authenticate", ContentType: form}, 429, "42", "try again in 42 seconds"},
		{"keycloak throttled minutes", kc, Refusal{Kind: Throttled, RetryAfter: 600, Path: "/realms/test/login-actions/authenticate"}, 429, "600", "try again in 10 minutes"},
		{"keycloak challenge", kc, Refusal{Kind: ChallengeRequired, Challenge: c, Path: "/realms/test/login-actions/authenticate"}, 403, "", "try again in a few minutes"},
		{"kratos form throttled", kr, Refusal{Kind: Throttled, RetryAfter: 3600, ContentType: "application/x-www-form-urlencoded; charset=utf-8"}, 429, "3600", "try again in about an hour"},
		{"kratos form challenge with a delay", kr, Refusal{Kind: ChallengeRequired, Challenge: c, RetryAfter: 120, ContentType: form}, 403, "120", "try again in 2 minutes"},
		{"kratos multipart", kr, Refusal{Kind: Throttled, ContentType: "multipart/form-data; boundary=x"}, 429, "1", "try again in a second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ok := tt.p.Render(tt.ref)
			if !ok || resp.Status != tt.status {
				t.Fatalf("Render = %v %d, want %d", ok, resp.Status, tt.status)
			}
			h := resp.Header
			if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" || h.Get("Retry-After") != tt.retry {
				t.Fatalf("headers %v", h)
			}
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Fatalf("CSP %q", csp)
			}
			body := string(resp.Body)
			if !strings.Contains(body, tt.sentence) || !strings.HasPrefix(body, "<!DOCTYPE html>") {
				t.Fatalf("the page does not say %q:\n%s", tt.sentence, body)
			}
			for _, external := range []string{"src=", "href=", "http:", "https:", "<script", "url(", "@import"} {
				if strings.Contains(body, external) {
					t.Errorf("the page loads something (%s)", external)
				}
			}
			if strings.Contains(body, c.Token) {
				t.Error("the page carries the challenge")
			}
		})
	}
	// A JSON post to the same Kratos route is a program: JSON answers.
	resp, _ := kr.Render(Refusal{Kind: Throttled, RetryAfter: 1, ContentType: "application/json"})
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("a JSON post got %s", resp.Header.Get("Content-Type"))
	}
}

// TestRefusalTextsEscaped: every text goes through html/template, so a
// text with markup (a future translation, say) cannot break the page.
func TestRefusalTextsEscaped(t *testing.T) {
	var b bytes.Buffer
	if err := refusalPage.Execute(&b, pageText{Title: "<b>", Heading: "a&b", Body: `"x"`, Retry: "<script>"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>") || strings.Contains(b.String(), "<b>") {
		t.Fatalf("unescaped: %s", b.String())
	}
	if !strings.Contains(b.String(), template.HTMLEscapeString("<script>")) {
		t.Fatal("the text is missing")
	}
}

func TestInAbout(t *testing.T) {
	for secs, want := range map[int]string{0: "in a second", 1: "in a second", 59: "in 59 seconds", 60: "in a minute", 90: "in 2 minutes", 3599: "in 60 minutes", 3600: "in about an hour", 7200: "in about 2 hours", 9000: "in about 3 hours"} {
		if got := inAbout(secs); got != want {
			t.Errorf("inAbout(%d) = %q, want %q", secs, got, want)
		}
	}
}
