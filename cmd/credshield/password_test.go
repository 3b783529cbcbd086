package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// checkPasswordChange drives POST /password of a running serve at base
// for alice, logged in with token and the password current, serve having
// --password-min-length 20: the flag and the common-password list reach
// the endpoint, and a change ends the token that made it.
func checkPasswordChange(t *testing.T, base, token, current string) {
	t.Helper()
	post := func(next string) (int, map[string]any) {
		t.Helper()
		form := url.Values{"current_password": {current}, "new_password": {next}}
		req, _ := http.NewRequest(http.MethodPost, base+"/password", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatalf("/password: %d, body not JSON: %v", res.StatusCode, err)
		}
		return res.StatusCode, body
	}
	for next, rule := range map[string]string{
		"nineteen characters":  "at least 20",
		"12345678900987654321": "commonly used",
	} {
		if code, body := post(next); code != http.StatusBadRequest || !strings.Contains(body["error_description"].(string), rule) {
			t.Errorf("/password %q: %d %v; want a 400 naming %q", next, code, body, rule)
		}
	}
	if code, body := post("a brand new password for alice"); code != http.StatusOK || body["access_token"] == "" {
		t.Fatalf("/password: %d %v", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/users/me with the token that changed the password: %d, want 401", res.StatusCode)
	}
}
