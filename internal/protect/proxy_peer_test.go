package protect

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/credshield/credshield/internal/gate/gatetest"
)

// TestProxyPeerTrustedMapped: the proxy passes a peer's X-Forwarded-Proto
// and X-Forwarded-Host on exactly when the client address resolver trusts
// that peer, IPv4-mapped addresses and prefixes included.
func TestProxyPeerTrustedMapped(t *testing.T) {
	for _, tt := range gatetest.MappedPeerCases {
		t.Run(tt.Name, func(t *testing.T) {
			var parts gatetest.Config
			if tt.Trusted != "" {
				parts.Trusted = []netip.Prefix{netip.MustParsePrefix(tt.Trusted)}
			}
			e := newProxyEnv(t, newApp(), parts, nil)
			if got := e.proxy.peerTrusted(tt.Peer); got != tt.Want {
				t.Errorf("peerTrusted(%q) = %v, want %v", tt.Peer, got, tt.Want)
			}
			req := httptest.NewRequest(http.MethodGet, "/headers", nil)
			req.RemoteAddr = tt.Peer
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "app.example")
			w := httptest.NewRecorder()
			e.proxy.ServeHTTP(w, req)
			var got struct{ Headers http.Header }
			if err := json.NewDecoder(w.Body).Decode(&got); err != nil {
				t.Fatalf("%d: %v", w.Code, err)
			}
			passed := got.Headers.Get("X-Forwarded-Proto") == "https" && got.Headers.Get("X-Forwarded-Host") == "app.example"
			if passed != tt.Want {
				t.Errorf("the app saw %v; forwarding headers passed on: %v, want %v", got.Headers, passed, tt.Want)
			}
		})
	}
}
