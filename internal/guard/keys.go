package guard

import (
	"net/netip"
	"strings"

	"github.com/credshield/credshield/internal/limit"
)

// Key prefixes, one per budget: the first part of every key the budget
// tables (budgets.go) build, and what keyForms reads keys back by.
const (
	prefixIP            = "ip:"       // ip:ADDRESS
	prefixNet           = "net:"      // net:NETWORK (IPv4 /24, IPv6 /56)
	prefixNet48         = "net48:"    // net48:NETWORK (IPv6 /48)
	prefixUserIP        = "userip:"   // userip:NAME|ADDRESS
	prefixKnownNet      = "knet:"     // knet:NAME|NETWORK
	prefixUserHard      = "userhard:" // userhard:NAME
	prefixIPSoft        = "ipsoft:"   // ipsoft:ADDRESS
	prefixUser          = "user:"     // user:NAME
	prefixSuccessIP     = "succip:"   // succip:NAME|ADDRESS
	prefixDevice        = "dev:"      // dev:DEVICE
	prefixSuccessUser   = "succ:"     // succ:NAME
	prefixSuccessDevice = "succdev:"  // succdev:DEVICE
)

// keyForm describes the keys of one budget: their prefix, whether they
// name an account and an address or network, the reason their refusal
// reports and the Limit of the policy they are reserved with.
type keyForm struct {
	prefix string
	user   bool // the key names an account
	where  bool // the key names an address (ADDRESS: IPv4, or an IPv6 /64) or a network
	reason Reason
	limit  func(Policy) limit.Limit
}

// keyForms lists every budget's keys. Each prefix ends in a colon and
// none is a prefix of another.
func keyForms() []keyForm {
	return []keyForm{
		{prefixIP, false, true, ReasonIP, func(p Policy) limit.Limit { return p.IP }},
		{prefixNet, false, true, ReasonSubnet, func(p Policy) limit.Limit { return p.Subnet }},
		{prefixNet48, false, true, ReasonSubnet48, func(p Policy) limit.Limit { return p.Subnet48 }},
		{prefixUserIP, true, true, ReasonUserIP, func(p Policy) limit.Limit { return p.UserIP }},
		{prefixKnownNet, true, true, ReasonNetwork, func(p Policy) limit.Limit { return p.Network }},
		{prefixUserHard, true, false, ReasonUserHard, func(p Policy) limit.Limit { return p.UserHard }},
		{prefixIPSoft, false, true, ReasonIPSoft, func(p Policy) limit.Limit { return p.IPSoft }},
		{prefixUser, true, false, ReasonUser, func(p Policy) limit.Limit { return p.User }},
		{prefixSuccessIP, true, true, ReasonSuccess, func(p Policy) limit.Limit { return p.Success }},
		{prefixDevice, false, false, ReasonDevice, func(p Policy) limit.Limit { return p.Device }},
		{prefixSuccessUser, true, false, ReasonSuccess, func(p Policy) limit.Limit { return p.Success }},
		{prefixSuccessDevice, false, false, ReasonSuccess, func(p Policy) limit.Limit { return p.Success }},
	}
}

// keyParts is what a budget key names.
type keyParts struct {
	form  keyForm
	user  string       // the account, when form.user
	where netip.Prefix // the address (as a /32 or an IPv6 /64) or network, when form.where
}

// parseKey reads a key the budget tables built; ok is false for anything
// else.
func parseKey(key string) (keyParts, bool) {
	for _, f := range keyForms() {
		rest, found := strings.CutPrefix(key, f.prefix)
		if !found {
			continue
		}
		kp := keyParts{form: f}
		switch {
		case f.user && f.where:
			i := strings.LastIndexByte(rest, '|')
			if i < 0 {
				return keyParts{}, false
			}
			kp.user, rest = rest[:i], rest[i+1:]
		case f.user:
			kp.user = rest
			return kp, true
		case !f.where:
			return kp, true
		}
		p, err := parseWhere(rest)
		if err != nil {
			return keyParts{}, false
		}
		kp.where = p
		return kp, true
	}
	return keyParts{}, false
}

// parseWhere reads an ADDRESS or NETWORK part: an IPv4 address is its /32.
func parseWhere(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return a.Prefix(a.BitLen())
}

// Selector names what an operator unlocks: exactly one of an address, a
// network or an account (its normalised name).
type Selector struct {
	IP      netip.Addr
	Network netip.Prefix
	User    string
}

// valid reports whether exactly one field is set.
func (s Selector) valid() bool {
	n := 0
	for _, set := range []bool{s.IP.IsValid(), s.Network.IsValid(), s.User != ""} {
		if set {
			n++
		}
	}
	return n == 1
}

// host is the address part keys of s.IP carry, as a prefix: the IPv4
// address, or the IPv6 /64.
func (s Selector) host() netip.Prefix {
	host, _ := subnets(s.IP)
	return host
}

// keys returns the keys of s that can be named without having seen them:
// the address's own budgets, the network's (when s.Network is one of the
// widths budgets use), or the account's.
func (s Selector) keys() []string {
	switch {
	case s.IP.IsValid():
		h := string(appendHost(nil, s.IP.Unmap(), s.host()))
		return []string{prefixIP + h, prefixIPSoft + h}
	case s.Network.IsValid():
		n := s.Network.Masked()
		switch {
		case n.Addr().Is4() && n.Bits() == subnetBits4, n.Addr().Is6() && n.Bits() == siteBits6:
			return []string{prefixNet + n.String()}
		case n.Addr().Is6() && n.Bits() == orgBits6:
			return []string{prefixNet48 + n.String()}
		}
		return nil
	case s.User != "":
		return []string{prefixUser + s.User, prefixUserHard + s.User, prefixSuccessUser + s.User}
	}
	return nil
}

// matches reports whether the key kp belongs to s: it names s's address
// (any budget keyed on that address, with any account), an address or
// network inside s's network, or s's account (with any address).
func (s Selector) matches(kp keyParts) bool {
	switch {
	case s.IP.IsValid():
		return kp.form.where && kp.where == s.host() && kp.form.prefix != prefixKnownNet &&
			kp.form.prefix != prefixNet && kp.form.prefix != prefixNet48
	case s.Network.IsValid():
		n := s.Network.Masked()
		return kp.form.where && kp.where.Bits() >= n.Bits() && n.Contains(kp.where.Addr())
	case s.User != "":
		return kp.form.user && kp.user == s.User
	}
	return false
}
