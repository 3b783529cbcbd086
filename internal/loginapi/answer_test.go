package loginapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type failingReader struct{ after []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.after) == 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, f.after)
	f.after = f.after[n:]
	return n, nil
}

func TestReadAnswer(t *testing.T) {
	long := `{"session_token":"t","pad":"` + strings.Repeat("x", MaxAnswerBytes) + `"}`
	for _, tt := range []struct {
		name, body string
		truncated  bool
	}{
		{"short", `{"session_token":"t"}`, false},
		{"exactly the cap", strings.Repeat(" ", MaxAnswerBytes-2) + "{}", false},
		{"longer than the cap", long, true},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			a, err := ReadAnswer(resp)
			if err != nil {
				t.Fatal(err)
			}
			if a.Truncated != tt.truncated || (!tt.truncated && string(a.Body) != tt.body) || (tt.truncated && a.Body != nil) {
				t.Fatalf("ReadAnswer: truncated %v, %d bytes", a.Truncated, len(a.Body))
			}
			if tt.truncated && (kratos{}).classify(now, a) == Success {
				t.Fatal("a truncated answer classified as a success")
			}
			rest, _ := io.ReadAll(resp.Body)
			if string(rest) != tt.body {
				t.Fatalf("the client would get %d bytes of %d", len(rest), len(tt.body))
			}
		})
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(&failingReader{after: []byte(`{"session_token":"t"`)})}
	a, err := ReadAnswer(resp)
	if err == nil || !a.Truncated || a.Body != nil {
		t.Fatalf("a body cut short: %+v, %v", a, err)
	}
	if got, _ := io.ReadAll(resp.Body); !bytes.Equal(got, []byte(`{"session_token":"t"`)) {
		t.Fatalf("the client would get %q", got)
	}
}
