package httpapi

import (
	"strings"
	"testing"
)

// FuzzParseForm checks that the strict form parser never panics and that
// whatever it accepts holds no NUL, invalid UTF-8 or repeated names.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"username=a&password=b", "a=1&a=2", "%zz=1", "a=%00", "a=%ff", "&&&", "=x", "a", strings.Repeat("a=1&", 40)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := ParseForm(body)
		if err != nil {
			return
		}
		for k, v := range form {
			if k == "" || v == "" || strings.ContainsRune(k+v, 0) || !isValidUTF8(k+v) {
				t.Fatalf("accepted %q=%q from %q", k, v, body)
			}
		}
		if len(form) > MaxFormParams {
			t.Fatalf("%d params accepted", len(form))
		}
		if n := strings.Count(string(body), "&") + 1; len(form) > n {
			t.Fatalf("more params than pairs: %d > %d", len(form), n)
		}
	})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
