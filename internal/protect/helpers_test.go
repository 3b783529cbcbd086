package protect

import (
	"encoding/json"
	"net/http"
	"testing"
)

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
	target string // the path and query posted to, where a challenge page posts back
}

// errorCode is the "error" member of r's JSON body; "ok" for a 200.
func errorCode(t testing.TB, r response) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if r.status != http.StatusOK && json.Unmarshal(r.body, &body) != nil {
		t.Fatalf("status %d body %q is not JSON", r.status, r.body)
	}
	return map[bool]string{true: "ok", false: body.Error}[r.status == http.StatusOK]
}
