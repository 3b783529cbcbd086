// Package loopback opens the listeners of the benchmark's baseline servers.
// The harness only ever measures this machine: an address off loopback is
// refused rather than served.
package loopback

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

// Listen listens on addr (host:port), which must be a loopback address.
func Listen(addr string) (net.Listener, error) {
	if err := check(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// URL parses raw, an http URL whose host must be a loopback address.
func URL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("%q: want http://127.0.0.1:PORT", raw)
	}
	if err := check(u.Host); err != nil {
		return nil, err
	}
	return u, nil
}

func check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: benchmarks run on loopback only (127.0.0.0/8 or ::1)", addr)
	}
	return nil
}
