package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/tlscert/tlscerttest"
)

// TestServeTLSIssuer: with a certificate the derived issuer is https and
// an http issuer is refused; without one an https issuer stays allowed
// (a proxy in front ends TLS), and half a pair or a mismatched pair is
// refused at start.
func TestServeTLSIssuer(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscerttest.WritePair(t, cert, key, 1)
	otherKey := filepath.Join(dir, "other-key.pem")
	tlscerttest.WritePair(t, filepath.Join(dir, "other.pem"), otherKey, 2)
	tests := []struct {
		name                  string
		cert, key, issuer     string
		wantIssuer, wantError string
	}{
		{"tls derives https", cert, key, "", "https://127.0.0.1:8080", ""},
		{"tls with https issuer", cert, key, "https://login.example.com", "https://login.example.com", ""},
		{"tls with http issuer", cert, key, "http://127.0.0.1:8080", "", "--tls-cert makes this service speak https"},
		{"no tls derives http", "", "", "", "http://127.0.0.1:8080", ""},
		{"no tls, https issuer behind a proxy", "", "", "https://login.example.com", "https://login.example.com", ""},
		{"cert without key", cert, "", "", "", "--tls-cert and --tls-key go together"},
		{"key of another cert", cert, otherKey, "", "", "--tls-cert, --tls-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.CertFile, c.KeyFile, c.Issuer = tt.cert, tt.key, tt.issuer
			err := c.Validate()
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.wantIssuer {
				t.Errorf("issuer %q, want %q", c.Issuer, tt.wantIssuer)
			}
		})
	}
}
