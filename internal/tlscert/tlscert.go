// Package tlscert serves a TLS certificate from files that may be replaced
// while the service runs (certbot, cert-manager and the like renew them in
// place), so a renewal needs no restart. It polls the files' modification
// time and size, at most once per CheckInterval, during handshakes: no
// file-watching dependency, no background goroutine, and a handshake costs
// at most one stat of each file a second.
package tlscert

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CheckInterval is the least time between two looks at the files.
const CheckInterval = time.Second

// Reloader holds the certificate loaded from a certificate and key file
// pair and reloads it when either file changes. Its methods are safe for
// concurrent use. Build one with New; the zero value is not usable.
type Reloader struct {
	certFile, keyFile string
	// onError is told when changed files do not load (a renewal that
	// wrote the certificate but not yet its key); the previous
	// certificate keeps serving and the files are tried again.
	onError func(error)

	mu      sync.Mutex
	cert    *tls.Certificate // requires mu held
	stamp   [2]fileStamp     // of the files cert was loaded from
	checked time.Time        // last look at the files
}

// fileStamp is what tells a rewritten file from the one loaded.
type fileStamp struct {
	mod  time.Time
	size int64
}

// New loads the pair once; an error here means the service should not
// start. onError (may be nil) hears about later reloads that fail.
func New(certFile, keyFile string, onError func(error)) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, onError: onError}
	stamp, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	r.cert, r.stamp, r.checked = &cert, stamp, time.Now()
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// reloaded first if the files changed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(time.Now()), nil
}

// Certificate returns the certificate to present at now, reloading it if
// CheckInterval has passed since the last look and the files changed
// since they were loaded. A failed reload keeps the previous certificate.
func (r *Reloader) Certificate(now time.Time) *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.checked) < CheckInterval {
		return r.cert
	}
	r.checked = now
	stamp, err := r.stat()
	if err != nil {
		r.report(err)
		return r.cert
	}
	if stamp == r.stamp {
		return r.cert
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// Leave r.stamp alone: the next look tries again, once the
		// renewal has written both files.
		r.report(fmt.Errorf("tls certificate reload: %w", err))
		return r.cert
	}
	r.cert, r.stamp = &cert, stamp
	return r.cert
}

func (r *Reloader) report(err error) {
	if r.onError != nil {
		r.onError(err)
	}
}

// stat reads the stamps of both files (following symbolic links, as a
// Kubernetes secret volume swaps them).
func (r *Reloader) stat() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, fmt.Errorf("tls certificate: %w", err)
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

// Config returns a server TLS configuration presenting r's certificate:
// TLS 1.2 at least, and HTTP/2 offered first (an http.Server serving it
// with ServeTLS speaks h2 to clients that ask).
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
