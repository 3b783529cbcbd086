package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// mappedPeerCases are the peers and trusted prefixes every "is the peer a
// trusted proxy" caller must agree on: IPv4-mapped IPv6 peers and prefixes
// compare as the IPv4 they map (clientip.Resolver.PeerTrusted).
var mappedPeerCases = []struct {
	name    string
	trusted string
	peer    string
	want    bool
}{
	{"mapped peer, IPv4 prefix", "127.0.0.0/8", "[::ffff:127.0.0.1]:1234", true},
	{"IPv4 peer, mapped prefix", "::ffff:127.0.0.0/104", "127.0.0.1:1234", true},
	{"mapped peer, mapped prefix", "::ffff:127.0.0.1/128", "[::ffff:127.0.0.1]:1234", true},
	{"mapped peer outside the prefix", "127.0.0.0/8", "[::ffff:192.0.2.1]:1234", false},
	{"IPv4 peer, no trusted proxies", "", "127.0.0.1:1234", false},
}

// TestProxyPeerTrustedMapped: the proxy passes a peer's X-Forwarded-Proto
// and X-Forwarded-Host on exactly when the client address resolver trusts
// that peer, IPv4-mapped addresses and prefixes included.
func TestProxyPeerTrustedMapped(t *testing.T) {
	for _, tt := range mappedPeerCases {
		t.Run(tt.name, func(t *testing.T) {
			var parts envParts
			if tt.trusted != "" {
				parts.trusted = []netip.Prefix{netip.MustParsePrefix(tt.trusted)}
			}
			e := newProxyEnv(t, newApp(), parts, nil)
			if got := e.proxy.peerTrusted(tt.peer); got != tt.want {
				t.Errorf("peerTrusted(%q) = %v, want %v", tt.peer, got, tt.want)
			}
			req := httptest.NewRequest(http.MethodGet, "/headers", nil)
			req.RemoteAddr = tt.peer
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "app.example")
			w := httptest.NewRecorder()
			e.proxy.ServeHTTP(w, req)
			var got struct{ Headers http.Header }
			if err := json.NewDecoder(w.Body).Decode(&got); err != nil {
				t.Fatalf("%d: %v", w.Code, err)
			}
			passed := got.Headers.Get("X-Forwarded-Proto") == "https" && got.Headers.Get("X-Forwarded-Host") == "app.example"
			if passed != tt.want {
				t.Errorf("the app saw %v; forwarding headers passed on: %v, want %v", got.Headers, passed, tt.want)
			}
		})
	}
}
