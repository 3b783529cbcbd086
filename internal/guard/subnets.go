package guard

import "net/netip"

// Aggregation widths for subnets. IPv6 hands a whole /64 to one subscriber
// (RFC 6177 recommends /56 or /48 per site), so a single IPv6 host is a /64;
// IPv4 hosts are single addresses and a /24 is the usual unit of an
// allocation or a proxy pool.
const (
	hostBits4   = 32
	subnetBits4 = 24
	hostBits6   = 64
	siteBits6   = 56
	orgBits6    = 48
)

// subnets returns the prefixes budgets are keyed on for address a: the
// host (IPv4 /32; IPv6 /64, because one subscriber owns a whole /64 and can
// rotate through it for free) and the wider aggregates an attacker rotating
// addresses stays inside (IPv4 /24; IPv6 /56 and /48), narrowest first.
// IPv4-mapped addresses are treated as IPv4. An invalid address returns the
// zero Prefix and nil.
func subnets(a netip.Addr) (host netip.Prefix, wider []netip.Prefix) {
	if !a.IsValid() {
		return netip.Prefix{}, nil
	}
	host, w, n := subnetArray(a)
	return host, w[:n]
}

// subnetArray is subnets of a valid address with the wider prefixes in
// an array (n of them), so that the guard's per-attempt path allocates
// no slice.
func subnetArray(a netip.Addr) (host netip.Prefix, wider [2]netip.Prefix, n int) {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return prefix(a, hostBits4), [2]netip.Prefix{prefix(a, subnetBits4)}, 1
	}
	return prefix(a, hostBits6), [2]netip.Prefix{prefix(a, siteBits6), prefix(a, orgBits6)}, 2
}

// prefix returns the masked prefix of a with the given bits; bits is a
// constant in range, so the error cannot happen.
func prefix(a netip.Addr, bits int) netip.Prefix {
	p, _ := a.Prefix(bits)
	return p
}
