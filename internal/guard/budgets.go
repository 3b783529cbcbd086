package guard

import (
	"net/netip"

	"github.com/credshield/credshield/internal/limit"
)

// budgetKind is what a budget's refusal does to an attempt. The kinds are
// bits, so a set of kinds is their union.
type budgetKind uint8

const (
	// kindHard budgets deny (429).
	kindHard budgetKind = 1 << iota
	// kindSoft budgets demand a challenge; the attempt still spends the
	// hard ones.
	kindSoft
	// kindSuccess budgets count successful logins: they deny, and Record
	// keeps their unit only when the login succeeded.
	kindSuccess
)

// budgetID names a row of an attempt's budget table, so callers find the
// budget they need by what it is and never by where it sits.
type budgetID uint8

const (
	budgetAddress       budgetID = iota + 1 // the address (IPv6: its /64)
	budgetNetwork                           // IPv4 /24, IPv6 /56
	budgetNetwork48                         // IPv6 /48
	budgetUserAddress                       // one username from one address
	budgetUserHard                          // the account's shared hard budget
	budgetKnownNetwork                      // a known network's own, in place of budgetUserHard
	budgetAddressSoft                       // the address's soft budget
	budgetUser                              // the account's shared soft budget
	budgetSuccess                           // successes per account and address (untrusted)
	budgetDevice                            // a device credential's own budget
	budgetSuccessUser                       // successes per account (trusted clients)
	budgetSuccessDevice                     // successes per device credential
)

// maxBudgets is the most rows an attempt has: an untrusted IPv6 attempt.
const maxBudgets = 8

// budget is one row of an attempt's budget table: which budget, what its
// refusal does, the reason reported when it refuses, and the key and limit
// the store reserves.
type budget struct {
	id     budgetID
	kind   budgetKind
	reason Reason
	limit.Request
}

// budgets is the table of the budgets one attempt meets, built once per
// attempt. Every key is a substring of one string built in one buffer (on
// the builder's stack for names of ordinary length): a refused attempt is
// the hot path of an attack and should cost microseconds, and separate
// concatenations were a good share of them.
//
// Sealed, the rows are ordered by kind (hard, soft, success) and, within a
// kind, in the order they were added. That is the order the store
// reserves them in and the order of precedence when several refuse; and
// because success rows come last, any selection splits into its failure
// budgets and its success budgets without a copy (picked.split).
//
// The zero value is an empty table; the builders below fill it. Keep it in
// the caller's frame: it is a few hundred bytes and dies with the attempt.
type budgets struct {
	rows [maxBudgets]budget
	ends [maxBudgets]int // where each row's key ends in the builder's buffer
	n    int
}

// keySpace is the builder's buffer for an attempt's keys: room for every
// key of an IPv6 attempt under a 32-byte name; a longer name grows it.
type keySpace [224]byte

// add ends a row whose key is the buffer from the previous row's end to
// end.
func (t *budgets) add(id budgetID, kind budgetKind, reason Reason, l limit.Limit, end int) {
	t.rows[t.n] = budget{id: id, kind: kind, reason: reason, Request: limit.Request{Limit: l}}
	t.ends[t.n] = end
	t.n++
}

// seal gives every row its key from buf, one string for all of them, and
// orders the rows by kind, stably.
func (t *budgets) seal(buf []byte) {
	keys := string(buf)
	start := 0
	for i := range t.n {
		t.rows[i].Key = keys[start:t.ends[i]]
		start = t.ends[i]
	}
	for i := 1; i < t.n; i++ { // insertion sort: a handful of rows
		for j := i; j > 0 && t.rows[j].kind < t.rows[j-1].kind; j-- {
			t.rows[j], t.rows[j-1] = t.rows[j-1], t.rows[j]
		}
	}
}

// appendHost appends the address a budget keys on: the IPv4 address, or
// the IPv6 /64 host prefix.
func appendHost(b []byte, ip netip.Addr, host netip.Prefix) []byte {
	if ip.Is4() {
		return ip.AppendTo(b)
	}
	return host.AppendTo(b)
}

// addressBudgets builds the table of the client address's hard budgets
// alone (a refresh grant's): the address, then its wider networks.
func (g *Guard) addressBudgets(t *budgets, ip netip.Addr) {
	var space keySpace
	buf, _ := g.addAddress(t, space[:0], ip)
	t.seal(buf)
}

// addAddress appends to buf and adds to t the address's hard budgets, and
// returns buf and the host the per-address keys name.
func (g *Guard) addAddress(t *budgets, buf []byte, ip netip.Addr) ([]byte, netip.Prefix) {
	p := g.cfg.Policy
	host, wider, n := subnetArray(ip)
	buf = appendHost(append(buf, prefixIP...), ip, host)
	t.add(budgetAddress, kindHard, ReasonIP, p.IP, len(buf))
	buf = wider[0].AppendTo(append(buf, prefixNet...))
	t.add(budgetNetwork, kindHard, ReasonSubnet, p.Subnet, len(buf))
	if n > 1 {
		buf = wider[1].AppendTo(append(buf, prefixNet48...))
		t.add(budgetNetwork48, kindHard, ReasonSubnet48, p.Subnet48, len(buf))
	}
	return buf, host
}

// untrustedBudgets builds the table of an attempt without a device
// credential: the address's hard budgets, the account's from this address
// and its shared one, the soft ones, and the success budget per account
// and address. A valid known (the user's network, known from a recent
// login) replaces the account's shared hard budget with that network's
// own, at the same rank.
//
// The success budget of an untrusted client is per account and address,
// never per account: a stranger must not meet a 429 that the owner's
// logins caused, which a name that does not exist never gives. Only the
// client's own successes spend it (Record refunds it after a failure), so
// its refusal tells a client only what it knows already.
func (g *Guard) untrustedBudgets(t *budgets, username string, ip netip.Addr, known netip.Prefix) {
	p := g.cfg.Policy
	var space keySpace
	buf, host := g.addAddress(t, space[:0], ip)
	buf = appendHost(append(append(append(buf, prefixUserIP...), username...), '|'), ip, host)
	t.add(budgetUserAddress, kindHard, ReasonUserIP, p.UserIP, len(buf))
	if known.IsValid() {
		buf = known.AppendTo(append(append(append(buf, prefixKnownNet...), username...), '|'))
		t.add(budgetKnownNetwork, kindHard, ReasonNetwork, p.Network, len(buf))
	} else {
		buf = append(append(buf, prefixUserHard...), username...)
		t.add(budgetUserHard, kindHard, ReasonUserHard, p.UserHard, len(buf))
	}
	buf = appendHost(append(buf, prefixIPSoft...), ip, host)
	t.add(budgetAddressSoft, kindSoft, ReasonIPSoft, p.IPSoft, len(buf))
	buf = append(append(buf, prefixUser...), username...)
	t.add(budgetUser, kindSoft, ReasonUser, p.User, len(buf))
	buf = appendHost(append(append(append(buf, prefixSuccessIP...), username...), '|'), ip, host)
	t.add(budgetSuccess, kindSuccess, ReasonSuccess, p.Success, len(buf))
	t.seal(buf)
}

// deviceBudgets builds the table of an attempt with a device credential:
// the credential's own budget, and the success budgets per account and
// per credential.
//
// The per-account success budget is shared by the account's trusted
// clients only: they hold a device credential for the account or sit on a
// network it logged in from, so its refusal tells them nothing about the
// account's existence that they do not know already.
func (g *Guard) deviceBudgets(t *budgets, username, device string) {
	p := g.cfg.Policy
	var space keySpace
	buf := append(append(space[:0], prefixDevice...), device...)
	t.add(budgetDevice, kindHard, ReasonDevice, p.Device, len(buf))
	buf = append(append(buf, prefixSuccessUser...), username...)
	t.add(budgetSuccessUser, kindSuccess, ReasonSuccess, p.Success, len(buf))
	buf = append(append(buf, prefixSuccessDevice...), device...)
	t.add(budgetSuccessDevice, kindSuccess, ReasonSuccess, p.Success, len(buf))
	t.seal(buf)
}

// picked is the rows of a table whose kind is in a set, in table order:
// what one Reserve reserves. reqs[i] is the request of row[i].
type picked struct {
	reqs []limit.Request
	row  [maxBudgets]budget
}

// pick selects the rows whose kind is in set.
func (t *budgets) pick(set budgetKind) picked {
	p := picked{reqs: make([]limit.Request, 0, t.n)}
	for _, b := range t.rows[:t.n] {
		if b.kind&set != 0 {
			p.row[len(p.reqs)] = b
			p.reqs = append(p.reqs, b.Request)
		}
	}
	return p
}

// refused returns the first row of a kind in set that res (the answer to
// p.reqs) says had no unit.
func (p *picked) refused(res limit.Result, set budgetKind) (budget, limit.KeyResult, bool) {
	for i := range p.reqs {
		if p.row[i].kind&set != 0 && i < len(res.Keys) && !res.Keys[i].OK {
			return p.row[i], res.Keys[i], true
		}
	}
	return budget{}, limit.KeyResult{}, false
}

// denial returns the budget that denies the attempt res refused: the first
// refused hard budget, else the first refused success budget. ok is false
// when only soft budgets refused (a challenge, not a denial).
func (p *picked) denial(res limit.Result) (b budget, kr limit.KeyResult, ok bool) {
	if b, kr, ok = p.refused(res, kindHard); ok {
		return b, kr, ok
	}
	return p.refused(res, kindSuccess)
}

// state returns what res says of the row id (the zero KeyResult when it
// was not picked).
func (p *picked) state(res limit.Result, id budgetID) limit.KeyResult {
	for i := range p.reqs {
		if p.row[i].id == id && i < len(res.Keys) {
			return res.Keys[i]
		}
	}
	return limit.KeyResult{}
}

// split returns the picked failure budgets and success budgets: what
// Record refunds after a success, and what it refunds after anything
// else. Success rows come last in a table, so both are subslices; the
// first is capped so that appending to it copies.
func (p *picked) split() (failure, success []limit.Request) {
	i := 0
	for i < len(p.reqs) && p.row[i].kind != kindSuccess {
		i++
	}
	return p.reqs[:i:i], p.reqs[i:]
}
