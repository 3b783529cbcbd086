package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefixes parses a comma-separated list of trusted proxies, as given
// to --trusted-proxies: "10.0.0.0/8,127.0.0.1,2001:db8::/32". A bare address
// is a single host (/32 or /128). Empty items are skipped. A prefix with
// host bits set ("10.1.2.3/8") is rejected rather than widened silently,
// since a typo there would trust far more addresses than meant.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("clientip: trusted proxy %d %q: %w", i+1, item, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix parses one CIDR or bare address.
func parsePrefix(item string) (netip.Prefix, error) {
	if !strings.Contains(item, "/") {
		a, err := netip.ParseAddr(item)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: not an address or CIDR", ErrPrefix)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w: zones are not allowed", ErrPrefix)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: not a CIDR", ErrPrefix)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%w: host bits set (did you mean %v?)", ErrPrefix, m)
	}
	return normalizePrefix(p), nil
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix of at least
// 96 bits into the IPv4 prefix it denotes, since addresses are compared in
// unmapped form.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
