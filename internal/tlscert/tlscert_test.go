package tlscert

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/tlscert/tlscerttest"
)

// TestReloadOnChange steps through time: a rewritten pair is presented
// from the first look after CheckInterval, not before; a half-written
// renewal (new certificate, old key) keeps the previous certificate and
// is picked up once the key follows.
func TestReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscerttest.WritePair(t, certFile, keyFile, 1)
	var errs []error
	r, err := New(certFile, keyFile, func(err error) { errs = append(errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	t0 := r.checked
	serial := func(now time.Time) int64 {
		t.Helper()
		c, err := x509.ParseCertificate(r.Certificate(now).Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c.SerialNumber.Int64()
	}
	// touch gives the files a new modification time, as a renewal would
	// a second later, whatever the file system's timestamp resolution.
	touch := func(at time.Time, files ...string) {
		for _, f := range files {
			if err := os.Chtimes(f, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := serial(t0); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	tlscerttest.WritePair(t, certFile, keyFile, 2)
	touch(t0.Add(time.Minute), certFile, keyFile)
	if got := serial(t0.Add(CheckInterval / 2)); got != 1 {
		t.Errorf("within the check interval: serial %d, want 1 (no look yet)", got)
	}
	if got := serial(t0.Add(CheckInterval)); got != 2 {
		t.Errorf("after the check interval: serial %d, want 2", got)
	}

	// A renewal that has written the certificate but not yet its key.
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlscerttest.WritePair(t, certFile, keyFile, 3)
	newKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t0.Add(2*time.Minute), certFile, keyFile)
	if got := serial(t0.Add(3 * CheckInterval)); got != 2 || len(errs) != 1 {
		t.Errorf("half-written renewal: serial %d, %d errors; want 2 and 1", got, len(errs))
	}
	if err := os.WriteFile(keyFile, newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t0.Add(3*time.Minute), keyFile)
	if got := serial(t0.Add(4 * CheckInterval)); got != 3 {
		t.Errorf("after the key followed: serial %d, want 3", got)
	}
}

func TestNewRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscerttest.WritePair(t, certFile, keyFile, 1)
	other := filepath.Join(dir, "other.pem")
	tlscerttest.WritePair(t, filepath.Join(dir, "c2.pem"), other, 2)
	if _, err := New(certFile, other, nil); err == nil {
		t.Error("a key that does not match the certificate was accepted")
	}
	if _, err := New(filepath.Join(dir, "missing.pem"), keyFile, nil); err == nil {
		t.Error("a missing certificate file was accepted")
	}
}
