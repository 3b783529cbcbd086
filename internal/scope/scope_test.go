package scope

import (
	"errors"
	"testing"
)

func TestValidToken(t *testing.T) {
	tests := []struct {
		tok  string
		want bool
	}{
		{"read", true},
		{"billing:write", true},
		{"https://api.example/x", true},
		{"!#[]~", true},
		{"", false},
		{"a b", false},
		{`a"b`, false},
		{`a\b`, false},
		{"a\tb", false},
		{"é", false},
		{"a\x7f", false},
	}
	for _, tt := range tests {
		if got := ValidToken(tt.tok); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.tok, got, tt.want)
		}
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		raw, want string
		err       bool
	}{
		{"", "", false},
		{"read", "read", false},
		{"  read  write read ", "read write", false},
		{"read\twrite", "", true},
		{`read "x"`, "", true},
	}
	for _, tt := range tests {
		got, err := Normalise(tt.raw)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Normalise(%q) = %q, %v; want %q, error %v", tt.raw, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("Normalise(%q) error %v does not wrap ErrSyntax", tt.raw, err)
		}
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		req  string
		sets []string
		want string
	}{
		{"no sets", "read", nil, ""},
		{"empty request", "", []string{"read"}, ""},
		{"all allowed", "read write", []string{"read", "write admin"}, "read write"},
		{"narrowed in order", "admin read write", []string{"write read"}, "read write"},
		{"no prefix match", "rea", []string{"read"}, ""},
		{"union of sets", "read billing:write", []string{"read", "billing:write"}, "read billing:write"},
	}
	for _, tt := range tests {
		if got := Filter(tt.req, tt.sets...); got != tt.want {
			t.Errorf("%s: Filter(%q, %q) = %q, want %q", tt.name, tt.req, tt.sets, got, tt.want)
		}
	}
}
