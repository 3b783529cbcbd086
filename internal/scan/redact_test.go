package scan

import (
	"net/http"
	"strings"
	"testing"
)

// TestEvidenceRedactsJSONLoginSecrets: the logins of the login profiles
// are JSON, and Kratos answers a session token; evidence shows neither
// the password sent nor the token received.
func TestEvidenceRedactsJSONLoginSecrets(t *testing.T) {
	c := &client{}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/self-service/login?flow=f", nil)
	body := []byte(`{"identifier":"alice@example.com","method":"password","password":"hunter2-secret"}`)
	got := c.renderRequest(req, body)
	if strings.Contains(got, "hunter2-secret") || !strings.Contains(got, `"password":"(redacted)"`) || !strings.Contains(got, "alice@example.com") {
		t.Errorf("request evidence:\n%s", got)
	}
	r := &response{status: 200, header: http.Header{}, body: []byte(`{"session_token":"ory_st_abcdefghijklmnop","session":{"id":"s"}}`)}
	if got := c.renderResponse(r); strings.Contains(got, "ory_st_abcdefghijklmnop") {
		t.Errorf("response evidence shows the session token:\n%s", got)
	}
}
