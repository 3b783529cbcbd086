package server

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestOpenAPIDocument: the embedded description, filled for an issuer, is
// byte for byte what the service served before it moved to openapi.json
// (testdata/openapi.golden.json, for https://auth.example.com), and every
// issuer's URLs are filled structurally, whatever the issuer.
func TestOpenAPIDocument(t *testing.T) {
	golden, err := os.ReadFile("testdata/openapi.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := openAPIDocument("https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("openAPIDocument differs from testdata/openapi.golden.json:\n got %s\nwant %s", got, golden)
	}
	for _, issuer := range []string{"http://127.0.0.1:8080", "https://example.com/auth"} {
		b, err := openAPIDocument(issuer)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", issuer, err)
		}
		if u := jsonAt(doc["servers"].([]any)[0], "url"); u != issuer {
			t.Errorf("%s: servers url %v", issuer, u)
		}
		if u := jsonAt(doc, "components", "securitySchemes", "OAuth2PasswordBearer", "flows", "password", "tokenUrl"); u != issuer+"/token" {
			t.Errorf("%s: tokenUrl %v", issuer, u)
		}
		if strings.Contains(string(b), issuerPlaceholder) {
			t.Errorf("%s: a placeholder is left: %s", issuer, b)
		}
	}
}

// TestOpenAPITemplateChecked: what checkOpenAPI refuses, so a broken
// openapi.json stops the server at start.
func TestOpenAPITemplateChecked(t *testing.T) {
	tests := []struct {
		name   string
		change func(doc map[string]any)
		ok     bool
	}{
		{"as embedded", func(map[string]any) {}, true},
		{"no version", func(d map[string]any) { delete(d, "openapi") }, false},
		{"OpenAPI 2", func(d map[string]any) { d["openapi"] = "2.0" }, false},
		{"no info title", func(d map[string]any) { delete(d["info"].(map[string]any), "title") }, false},
		{"no paths", func(d map[string]any) { d["paths"] = map[string]any{} }, false},
		{"relative path", func(d map[string]any) { d["paths"].(map[string]any)["token"] = map[string]any{} }, false},
		{"fixed server", func(d map[string]any) { d["servers"] = []any{map[string]any{"url": "https://example.com"}} }, false},
		{"no password flow", func(d map[string]any) {
			delete(jsonAt(d, "components", "securitySchemes", "OAuth2PasswordBearer", "flows").(map[string]any), "password")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(openAPITemplate, &doc); err != nil {
				t.Fatalf("openapi.json does not parse: %v", err)
			}
			tt.change(doc)
			if err := checkOpenAPI(doc); (err == nil) != tt.ok {
				t.Errorf("checkOpenAPI = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
