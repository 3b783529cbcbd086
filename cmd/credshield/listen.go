package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/tlscert"
)

// startServing serves hs on ln in the background, as serve and protect
// both do: plain HTTP, or with t's files HTTPS (HTTP/2 offered) presenting
// a certificate re-read when the files change. The result of the serve
// loop arrives on the returned channel.
func startServing(hs *http.Server, ln net.Listener, t config.TLS, log *slog.Logger) (<-chan error, error) {
	served := make(chan error, 1)
	if !t.Enabled() {
		go func() { served <- hs.Serve(ln) }()
		return served, nil
	}
	certs, err := tlscert.New(t.CertFile, t.KeyFile, func(err error) {
		log.Warn("tls certificate not reloaded; the previous one is still served", "error", err.Error())
	})
	if err != nil {
		return nil, err
	}
	hs.TLSConfig = certs.Config()
	go func() { served <- hs.ServeTLS(ln, "", "") }()
	return served, nil
}

// servingWhat says what the public listener speaks, where, and for which
// public URL: "https://login.example.com on 0.0.0.0:443". An https issuer
// in front of a plain listener is a TLS-terminating proxy's setup, and is
// said so rather than printed as if this process spoke https.
func servingWhat(t config.TLS, issuer string, addr net.Addr) string {
	if strings.HasPrefix(issuer, t.Scheme()+"://") {
		return fmt.Sprintf("%s on %s", issuer, addr)
	}
	return fmt.Sprintf("plain HTTP on %s for %s (TLS must end at a proxy in front of it)", addr, issuer)
}
