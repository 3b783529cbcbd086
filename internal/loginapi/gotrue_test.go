package loginapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/credshield/credshield/internal/challenge"
)

func TestGoTrueRoutes(t *testing.T) {
	p := mustProfile(t, "gotrue", Options{})
	for path, want := range map[string]bool{"/token": true, "/auth/v1/token": true, "/auth/v1/token/": false, "/auth/v1/otp": false, "/verify": false} {
		if got := p.Match(http.MethodPost, path); got != want {
			t.Errorf("Match(POST %s) = %v, want %v", path, got, want)
		}
	}
	if p.ClientIPHeader != "X-Forwarded-For" {
		t.Errorf("sets %s", p.ClientIPHeader)
	}
	if _, err := New("gotrue", Options{RateLimitHeader: "X Forwarded"}); err == nil {
		t.Error("a rate-limit header with a space was accepted")
	}
	cf := mustProfile(t, "gotrue", Options{RateLimitHeader: "cf-connecting-ip"})
	if cf.ClientIPHeader != "Cf-Connecting-Ip" || len(cf.ClientIPHeadersRead) != 3 {
		t.Errorf("RateLimitHeader: sets %s, strips %v", cf.ClientIPHeader, cf.ClientIPHeadersRead)
	}
}

func TestGoTrueReadAttempt(t *testing.T) {
	const js = "application/json"
	runAttempts(t, mustProfile(t, "gotrue", Options{}), []attemptCase{
		{"email", js, `{"email":"a@example.com","password":"x","gotrue_meta_security":{}}`, "grant_type=password", Attempt{Identifier: "a@example.com", Guess: true, Earns: true}, ""},
		{"phone is read as GoTrue formats it", js, `{"phone":"+1 555 0100","password":"x"}`, "grant_type=password", Attempt{Identifier: "15550100", Guess: true, Earns: true}, ""},
		{"null email with phone", js, `{"email":null,"phone":"15550100","password":"x"}`, "grant_type=password", Attempt{Identifier: "15550100", Guess: true, Earns: true}, ""},
		{"email and phone", js, `{"email":"a@example.com","phone":"15550100","password":"x"}`, "grant_type=password", Attempt{}, "not both"},
		{"email and phone under another grant", js, `{"email":"a@example.com","phone":"15550100","refresh_token":"r"}`, "grant_type=refresh_token", Attempt{}, "not both"},
		{"refresh grant earns nothing", js, `{"refresh_token":"r"}`, "grant_type=refresh_token", Attempt{}, ""},
		{"no grant earns nothing", js, `{"email":"a@example.com","password":"x"}`, "", Attempt{}, ""},
		{"grant case variant earns nothing", js, `{"email":"a@example.com","password":"x"}`, "Grant_Type=password", Attempt{}, ""},
		{"repeated grant", js, `{"email":"a@example.com","password":"x"}`, "grant_type=password&grant_type=refresh_token", Attempt{}, "repeated"},
		{"no account", js, `{"password":"x"}`, "grant_type=password", Attempt{}, "missing"},
		{"email case variant", js, `{"email":"a@example.com","Email":"b@example.com","password":"x"}`, "grant_type=password", Attempt{}, "only in case"},
		{"phone case variant", js, `{"phone":"1","PHONE":"2","password":"x"}`, "grant_type=password", Attempt{}, "only in case"},
		{"repeated email", js, `{"email":"a@example.com","email":"b@example.com","password":"x"}`, "grant_type=password", Attempt{}, "repeated"},
		{"repeated phone", js, `{"phone":"1","phone":"2","password":"x"}`, "grant_type=password", Attempt{}, "repeated"},
		{"email in the query", js, `{"password":"x"}`, "grant_type=password&email=b@example.com", Attempt{}, "not the query"},
		// GoTrue reads grant_type from a form body as well; a form is
		// never its JSON, so forms are refused.
		{"form body", "application/x-www-form-urlencoded", `grant_type=password&email=a@example.com&password=x`, "", Attempt{}, "only JSON"},
	})
}

func TestGoTrueClassify(t *testing.T) {
	p := mustProfile(t, "gotrue", Options{})
	tests := []struct {
		name string
		a    Answer
		want Outcome
	}{
		{"token", answer(200, `{"access_token":"eyJ","token_type":"bearer","expires_in":3600,"refresh_token":"r","user":{"id":"u"}}`), Success},
		{"wrong password", answer(400, `{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}`), Failure},
		{"its own rate limit", answer(429, `{"code":429,"error_code":"over_request_rate_limit","msg":"Request rate limit reached"}`), NotJudged},
		{"502 from the gateway", answer(502, ``), NotJudged},
	}
	for _, tt := range tests {
		if got := p.Classify(now, tt.a); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestGoTrueRender decodes each refusal as supabase-js reads GoTrue's
// errors: error_code and msg, Retry-After on 429.
func TestGoTrueRender(t *testing.T) {
	c := &challenge.Challenge{Token: "tok", Algorithm: challenge.Algorithm, Difficulty: 4}
	for _, tt := range []struct {
		ref    Refusal
		status int
		code   string
	}{
		{Refusal{Kind: Throttled, RetryAfter: 9}, 429, "over_request_rate_limit"},
		{Refusal{Kind: ChallengeRequired, Challenge: c}, 400, challenge.ErrorCode},
	} {
		resp, ok := mustProfile(t, "gotrue", Options{}).Render(tt.ref)
		var body struct {
			Code      int                  `json:"code"`
			ErrorCode string               `json:"error_code"`
			Msg       string               `json:"msg"`
			Challenge *challenge.Challenge `json:"challenge"`
		}
		if !ok || resp.Status != tt.status || json.Unmarshal(resp.Body, &body) != nil || body.Code != tt.status || body.ErrorCode != tt.code || body.Msg == "" {
			t.Fatalf("Render(%v) = %v %d %s", tt.ref.Kind, ok, resp.Status, resp.Body)
		}
		if resp.Header.Get("X-Sb-Error-Code") != tt.code {
			t.Errorf("X-Sb-Error-Code %q", resp.Header.Get("X-Sb-Error-Code"))
		}
		if tt.status == 429 && resp.Header.Get("Retry-After") != "9" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if tt.status == 400 && (body.Challenge == nil || *body.Challenge != *c) {
			t.Errorf("challenge %+v", body.Challenge)
		}
	}
}
