package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/tlscert/tlscerttest"
)

// TestServeTLS serves over a real certificate made in the test: a client
// that trusts it speaks HTTP/2, and after the certificate files are
// rewritten (a renewal) a new connection is presented the new
// certificate, without a restart.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := tlscerttest.WritePair(t, certFile, keyFile, 1)
	base := startServe(t, append([]string{"--data-dir", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile}, cheapHash...)...)
	url := strings.Replace(base, "http://", "https://", 1) + "/healthz"

	roots := x509.NewCertPool()
	roots.AddCert(first)
	// get makes a new connection, so a new handshake, each time.
	get := func() (*http.Response, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("GET /healthz: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	// A plain HTTP request to the TLS listener gets no service.
	if resp, err := http.Get(base + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Error("plain HTTP was served on the TLS listener")
	}

	second := tlscerttest.WritePair(t, certFile, keyFile, 2)
	later := time.Now().Add(2 * time.Second) // a new modification time on any file system
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	roots.AddCert(second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2 {
			if resp.ProtoMajor != 2 {
				t.Errorf("after the reload: %s, want HTTP/2", resp.Proto)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the rewritten certificate was not presented within 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServePrintsWhatItSpeaks: the start-up line says https only when
// this process speaks TLS; an https issuer in front of a plain listener
// is named as a proxy's.
func TestServePrintsWhatItSpeaks(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscerttest.WritePair(t, certFile, keyFile, 1)
	tests := []struct {
		name  string
		args  []string
		want  string
		avoid string
	}{
		{"plain", nil, "serving http://127.0.0.1:", "https"},
		{"tls", []string{"--tls-cert", certFile, "--tls-key", keyFile}, "serving https://127.0.0.1:", "plain HTTP"},
		{"proxy in front", []string{"--issuer", "https://login.example.com"}, "serving plain HTTP on 127.0.0.1:", "serving https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := startupLine(t, "serve", append(append([]string{"--data-dir", filepath.Join(t.TempDir(), "data")}, tt.args...), cheapHash...)...)
			if !strings.Contains(line, tt.want) || strings.Contains(line, tt.avoid) {
				t.Errorf("start-up line %q: want %q, not %q", line, tt.want, tt.avoid)
			}
		})
	}
}

// TestProtectTLS: protect shares serve's TLS listener: a client that
// trusts the certificate reaches the app through it over HTTP/2.
func TestProtectTLS(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app")
	}))
	defer app.Close()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := tlscerttest.WritePair(t, certFile, keyFile, 1)
	base, line, err := launchLine(t, "protect", "--upstream", app.URL, "--data-dir", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "(https)") {
		t.Errorf("start-up line %q does not say https", line)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(strings.Replace(base, "http://", "https://", 1) + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "app" {
		t.Errorf("through protect: %s %q, want HTTP/2 and the app's answer", resp.Proto, body)
	}
}
