package loginapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/loginapi"
)

var testChallenge = &challenge.Challenge{Token: "tok", Algorithm: challenge.Algorithm, MemoryKiB: 1024, Time: 1, Threads: 1, Difficulty: 6, ExpiresAt: 1893456000}

func profile(t *testing.T, name string) *loginapi.Profile {
	t.Helper()
	p, err := loginapi.New(name, loginapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serveResponse serves one rendered refusal on loopback.
func serveResponse(t *testing.T, resp loginapi.Response) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRenderKratosParsesInClientGo submits a login with Ory's own Go
// client to a server answering with each rendered refusal: the client
// must decode it as the ErrorGeneric it decodes Kratos's errors into.
func TestRenderKratosParsesInClientGo(t *testing.T) {
	tests := []struct {
		name       string
		ref        loginapi.Refusal
		status     int
		id         string
		retryAfter string
	}{
		{"throttled", loginapi.Refusal{Kind: loginapi.Throttled, RetryAfter: 30}, 429, "too_many_requests", "30"},
		{"throttled retry at least 1", loginapi.Refusal{Kind: loginapi.Throttled}, 429, "too_many_requests", "1"},
		{"challenge", loginapi.Refusal{Kind: loginapi.ChallengeRequired, Challenge: testChallenge}, 403, challenge.ErrorCode, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ok := profile(t, "kratos").Render(tt.ref)
			if !ok || resp.Status != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("Render = %d %v (Retry-After %q), want %d (%q)", resp.Status, ok, resp.Header.Get("Retry-After"), tt.status, tt.retryAfter)
			}
			srv := serveResponse(t, resp)
			cfg := ory.NewConfiguration()
			cfg.Servers = ory.ServerConfigurations{{URL: srv.URL}}
			cfg.HTTPClient = srv.Client()
			c := ory.NewAPIClient(cfg)
			body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod("alice@example.com", "password", "guess"))
			_, hr, err := c.FrontendAPI.UpdateLoginFlow(context.Background()).Flow("f").UpdateLoginFlowBody(body).Execute()
			if hr == nil || hr.StatusCode != tt.status {
				t.Fatalf("client-go got %v, %v", hr, err)
			}
			var oerr *ory.GenericOpenAPIError
			if !errors.As(err, &oerr) {
				t.Fatalf("client-go error %T %v", err, err)
			}
			model, ok := oerr.Model().(ory.ErrorGeneric)
			if !ok {
				t.Fatalf("client-go decoded %T, want ErrorGeneric (body %s)", oerr.Model(), oerr.Body())
			}
			// ory/client-go decodes the error object as GenericErrorContent
			// (message) and keeps herodot's other members aside.
			extra := model.Error.AdditionalProperties
			if model.Error.GetMessage() == "" || extra["id"] != tt.id || extra["code"] != float64(tt.status) || extra["reason"] == "" {
				t.Fatalf("ErrorGeneric = %+v", model.Error)
			}
			// Kratos's own generated client (internal/httpclient in
			// v1.3.1) reads the same object as GenericError.
			var kratosShape struct {
				Error struct {
					ID      string `json:"id"`
					Code    int    `json:"code"`
					Status  string `json:"status"`
					Reason  string `json:"reason"`
					Message string `json:"message"`
					Details struct {
						Challenge *challenge.Challenge `json:"challenge"`
					} `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(resp.Body, &kratosShape); err != nil || kratosShape.Error.Status != http.StatusText(tt.status) || kratosShape.Error.Message == "" {
				t.Fatalf("%s is not Kratos's GenericError (%v)", resp.Body, err)
			}
			if tt.ref.Kind == loginapi.ChallengeRequired {
				if got := kratosShape.Error.Details.Challenge; got == nil || *got != *testChallenge {
					t.Fatalf("details.challenge = %+v, want %+v", got, *testChallenge)
				}
			}
		})
	}
}

// TestRenderAutheliaShape decodes each refusal into the shape Authelia's
// front end reads (ErrorResponse: status and message).
func TestRenderAutheliaShape(t *testing.T) {
	for _, ref := range []loginapi.Refusal{
		{Kind: loginapi.Throttled, RetryAfter: 7},
		{Kind: loginapi.ChallengeRequired, Challenge: testChallenge},
	} {
		resp, ok := profile(t, "authelia").Render(ref)
		if !ok {
			t.Fatal("authelia renders nothing")
		}
		var body struct {
			Status    string               `json:"status"`
			Message   string               `json:"message"`
			Challenge *challenge.Challenge `json:"challenge"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil || body.Status != "KO" || body.Message == "" {
			t.Fatalf("%d %s: not Authelia's error shape (%v)", resp.Status, resp.Body, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		switch ref.Kind {
		case loginapi.Throttled:
			if resp.Status != 429 || resp.Header.Get("Retry-After") != strconv.Itoa(ref.RetryAfter) {
				t.Errorf("throttled: %d, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
			}
		case loginapi.ChallengeRequired:
			if resp.Status != 401 || body.Challenge == nil || *body.Challenge != *testChallenge {
				t.Errorf("challenge: %d %s", resp.Status, resp.Body)
			}
		}
	}
}

// TestRenderFastAPIIsTheProxys: an OAuth2 token endpoint gets the proxy's
// own RFC 6749 answers.
func TestRenderFastAPIIsTheProxys(t *testing.T) {
	if _, ok := profile(t, "fastapi").Render(loginapi.Refusal{Kind: loginapi.Throttled, RetryAfter: 1}); ok {
		t.Fatal("fastapi renders its own refusal")
	}
}
