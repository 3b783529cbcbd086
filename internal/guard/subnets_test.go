package guard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSubnets(t *testing.T) {
	tests := []struct {
		in    string
		host  string
		wider string
	}{
		{"203.0.113.77", "203.0.113.77/32", "203.0.113.0/24"},
		{"::ffff:203.0.113.77", "203.0.113.77/32", "203.0.113.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/56 2001:db8:1::/48"},
		{"2001:db8:abcd:12ff::1", "2001:db8:abcd:12ff::/64", "2001:db8:abcd:1200::/56 2001:db8:abcd::/48"},
		{"fe80::1%eth0", "fe80::/64", "fe80::/56 fe80::/48"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			host, wider := subnets(netip.MustParseAddr(tc.in))
			if host.String() != tc.host {
				t.Errorf("host = %v, want %v", host, tc.host)
			}
			var parts []string
			for _, p := range wider {
				parts = append(parts, p.String())
			}
			if got := strings.Join(parts, " "); got != tc.wider {
				t.Errorf("wider = %q, want %q", got, tc.wider)
			}
		})
	}
	if host, wider := subnets(netip.Addr{}); host.IsValid() || wider != nil {
		t.Errorf("subnets(invalid) = %v, %v; want zero", host, wider)
	}
}
