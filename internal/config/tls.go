package config

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// TLS is where a listener's certificate comes from. serve and protect both
// embed it: either may face clients directly. With neither file the
// listener speaks plain HTTP, for loopback or behind a proxy that ends
// TLS. The zero value is plain HTTP.
type TLS struct {
	// CertFile holds the certificate chain (PEM), KeyFile its private
	// key. Both are re-read when they change, without a restart.
	CertFile string
	KeyFile  string
}

// RegisterFlags binds the certificate and key files.
func (t *TLS) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&t.CertFile, "tls-cert", t.CertFile, "certificate chain (PEM) to serve HTTPS and HTTP/2 with; re-read when the file changes, without a restart (needs --tls-key)")
	fs.StringVar(&t.KeyFile, "tls-key", t.KeyFile, "private key (PEM) of --tls-cert; keep it readable by the service alone")
}

// Enabled reports whether the listener speaks TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Scheme is the URL scheme the listener speaks.
func (t TLS) Scheme() string {
	if t.Enabled() {
		return "https"
	}
	return "http"
}

// Validate checks that both files are given or neither, and that they
// hold a matching certificate and key now, so a bad pair fails at start.
func (t TLS) Validate() error {
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return nil
	case t.CertFile == "" || t.KeyFile == "":
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	return nil
}
