package loginapi

import (
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	const js, form = "application/json", "application/x-www-form-urlencoded"
	read := []string{"identifier", "password", "method"}
	tests := []struct {
		name, ct, body string
		want           map[string]string // nil: an error containing wantErr
		wantErr        string
	}{
		{"json", js, `{"identifier":"a","password":"p","n":1}`, map[string]string{"identifier": "a", "password": "p"}, ""},
		{"json charset", js + "; charset=UTF-8", `{"identifier":"a"}`, map[string]string{"identifier": "a"}, ""},
		{"problem+json", "application/vnd.x+json", `{"identifier":"a"}`, map[string]string{"identifier": "a"}, ""},
		{"form", form, "identifier=a&password=p%26q", map[string]string{"identifier": "a", "password": "p&q"}, ""},
		{"repeated member", js, `{"identifier":"a","identifier":"b"}`, nil, "repeated"},
		{"repeated escaped member", js, `{"identifier":"a","\u0069dentifier":"b"}`, nil, "repeated"},
		{"case variant identifier", js, `{"identifier":"a","IDENTIFIER":"b"}`, nil, "only in case"},
		{"case variant alone", js, `{"Identifier":"b"}`, nil, "only in case"},
		{"case variant password", js, `{"password":"a","Password":"b"}`, nil, "only in case"},
		{"case variant method", js, `{"method":"code","METHOD":"password"}`, nil, "only in case"},
		{"long s folds to s", js, `{"pa\u017fsword":"b"}`, nil, "only in case"},
		{"escaped exact name", js, `{"identifier":"a","passwor\u0064":"p"}`, map[string]string{"identifier": "a", "password": "p"}, ""},
		{"dotless i does not fold", js, `{"\u0131dentifier":"b","identifier":"a"}`, map[string]string{"\u0131dentifier": "b", "identifier": "a"}, ""},
		{"case variant in form", form, "identifier=a&Identifier=b", nil, "only in case"},
		{"repeated in form", form, "identifier=a&identifier=b", nil, "repeated"},
		{"semicolon in form", form, "identifier=a;identifier=b", nil, "';'"},
		{"read member not a string", js, `{"identifier":["a"]}`, nil, "must be a string"},
		{"read member a number", js, `{"password":123}`, nil, "must be a string"},
		{"other member not a string", js, `{"identifier":"a","keepMeLoggedIn":true}`, map[string]string{"identifier": "a"}, ""},
		{"trailing data", js, `{"identifier":"a"}{"identifier":"b"}`, nil, "one JSON object"},
		{"array", js, `[{"identifier":"a"}]`, nil, "one JSON object"},
		{"NUL", js, `{"identifier":"a\u0000b"}`, nil, "NUL"},
		{"invalid UTF-8", js, "{\"identifier\":\"a\xffb\"}", nil, "UTF-8"},
		{"multipart", "multipart/form-data; boundary=x", "--x--", nil, "Content-Type"},
		{"odd charset", js + "; charset=latin1", `{}`, nil, "charset"},
		{"no content type", "", `{}`, nil, "Content-Type"},
		// ory/x httpx.HasContentType splits on ',' and matches any
		// element, so Kratos would read this form as JSON.
		{"a list of types", form + ", " + js, `{"identifier":"a"}`, nil, "Content-Type"},
		{"a list of types, JSON first", js + ", " + form, `identifier=a`, nil, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBody(tt.ct, []byte(tt.body), read...)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseBody = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseBody = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("ParseBody = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
