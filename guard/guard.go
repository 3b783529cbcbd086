// Package guard is the login defence: it decides whether an attempt may
// reach the password hash at all, and it does so before any account is
// looked up, so a refusal costs microseconds and tells nothing about which
// accounts exist.
//
// Credential stuffing replays leaked pairs, each tried once, from many
// addresses. A per-username limit (the usual "remediation") never fires
// against it; the limits that bite are per source address, per network
// (IPv4 /24; IPv6 /64, /56 and /48, because one IPv6 customer holds a
// whole /64 or /48), per username — tracked for every name, existing or
// not — and per username and address. Check reserves one unit on every one
// of those keys in a single atomic store call; Record refunds them when the
// login succeeds, so the budgets count failures and a legitimate user who
// logs in never burns one.
//
// The package knows nothing of HTTP: the server passes the normalised
// username and the resolved client address.
package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/credshield/credshield/limit"
)

// Reason names the budget that denied an attempt. It is reported in
// metrics and logs, never to the client, who learns only when to retry.
type Reason string

// Reasons, one per budget.
const (
	ReasonIP       Reason = "ip"       // one address (IPv6: its /64)
	ReasonSubnet   Reason = "subnet"   // IPv4 /24, IPv6 /56
	ReasonSubnet48 Reason = "subnet48" // IPv6 /48
	ReasonUser     Reason = "user"     // one username, from everywhere
	ReasonUserIP   Reason = "user_ip"  // one username from one address
	ReasonNone     Reason = ""         // allowed
)

// Policy is the set of budgets an attempt must fit. Each Limit counts
// failed attempts (successes are refunded): Burst at once, refilled to
// Burst per Period.
type Policy struct {
	IP       limit.Limit
	Subnet   limit.Limit
	Subnet48 limit.Limit
	User     limit.Limit
	UserIP   limit.Limit
}

// DefaultPolicy returns budgets sized so that a person, or an office behind
// one NAT address, never meets them, while a stuffing run from one address
// or one network stops within the first few dozen attempts:
//
//   - per address: 20 failures, then one every 3 minutes (20/h);
//   - per network (/24, /56): 100, then 100/h — a hundred hosts each
//     making one mistake;
//   - per IPv6 /48: 200/h;
//   - per username: 10, then 10/h. NIST SP 800-63B §5.2.2 caps
//     consecutive failures per account at 100; this stays well under it
//     over a working day, and known devices (guard part 2) will keep
//     their own budget so the owner is not locked out;
//   - per username and address: 5, then 5 per 15 minutes.
func DefaultPolicy() Policy {
	return Policy{
		IP:       limit.Limit{Burst: 20, Period: time.Hour},
		Subnet:   limit.Limit{Burst: 100, Period: time.Hour},
		Subnet48: limit.Limit{Burst: 200, Period: time.Hour},
		User:     limit.Limit{Burst: 10, Period: time.Hour},
		UserIP:   limit.Limit{Burst: 5, Period: 15 * time.Minute},
	}
}

// Validate reports a budget that allows nothing.
func (p Policy) Validate() error {
	var errs []error
	for _, b := range []struct {
		name string
		l    limit.Limit
	}{{"ip", p.IP}, {"subnet", p.Subnet}, {"subnet48", p.Subnet48}, {"user", p.User}, {"user+ip", p.UserIP}} {
		if b.l.Burst < 1 || b.l.Period <= 0 {
			errs = append(errs, fmt.Errorf("guard: %s budget %d per %v: want a burst of at least 1 and a positive period", b.name, b.l.Burst, b.l.Period))
		}
	}
	return errors.Join(errs...)
}

// Attempt is one login attempt as the guard sees it.
type Attempt struct {
	// Username is the normalised name; an empty name is refused.
	Username string
	// IP is the client address as package clientip resolved it.
	IP netip.Addr
}

// Verdict is the guard's answer to one attempt. The zero Verdict denies.
type Verdict struct {
	// Allowed says the attempt may go on to the password check.
	Allowed bool
	// Reason names the first budget that denied it; empty when allowed.
	Reason Reason
	// RetryAfter is how long until every denying budget has room again.
	RetryAfter time.Duration
	// IPPolicy and IPState describe the per-address budget, the one the
	// server advertises in RateLimit headers: it describes the client's
	// own standing, not any account's.
	IPPolicy limit.Limit
	IPState  limit.KeyResult

	reserved []limit.Request // what Record refunds on success
}

// Outcome is what became of an allowed attempt.
type Outcome int

// Outcomes passed to Record.
const (
	// Failure keeps the reserved units spent: a wrong guess.
	Failure Outcome = iota
	// Success refunds them: a login never burns budget.
	Success
	// Aborted refunds them too: the password was never checked (hasher
	// overloaded, client gone), so no guess was made.
	Aborted
)

// Guard applies a Policy over a limit.Store. Build it with New; it is safe
// for concurrent use.
type Guard struct {
	store  limit.Store
	policy Policy
}

// New returns a Guard that keeps its state in store.
func New(store limit.Store, p Policy) (*Guard, error) {
	if store == nil {
		return nil, errors.New("guard: nil store")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Guard{store: store, policy: p}, nil
}

// Policy returns the budgets g applies.
func (g *Guard) Policy() Policy { return g.policy }

// Check evaluates a at now and, when it is allowed, reserves one unit on
// every budget it touches, in one atomic store call: parallel attempts can
// never overrun a budget. A store error is returned as is; the caller must
// fail closed.
func (g *Guard) Check(ctx context.Context, now time.Time, a Attempt) (Verdict, error) {
	if a.Username == "" || !a.IP.IsValid() {
		return Verdict{}, errors.New("guard: attempt without username or address")
	}
	reqs, reasons := g.requests(a)
	res, err := g.store.Reserve(ctx, now, reqs)
	if err != nil {
		return Verdict{}, fmt.Errorf("guard: reserve: %w", err)
	}
	v := Verdict{Allowed: res.Allowed, RetryAfter: res.RetryAfter, IPPolicy: g.policy.IP}
	if len(res.Keys) > 0 {
		v.IPState = res.Keys[0]
	}
	if res.Allowed {
		v.reserved = reqs
	} else if res.Denied >= 0 && res.Denied < len(reasons) {
		v.Reason = reasons[res.Denied]
	}
	return v, nil
}

// Record settles an allowed attempt: Success and Aborted give the reserved
// units back, Failure keeps them. Recording a denied verdict does nothing.
func (g *Guard) Record(ctx context.Context, now time.Time, v Verdict, o Outcome) error {
	if !v.Allowed || o == Failure || len(v.reserved) == 0 {
		return nil
	}
	if err := g.store.Refund(ctx, now, v.reserved); err != nil {
		return fmt.Errorf("guard: refund: %w", err)
	}
	return nil
}

// requests lists the budgets for a, the per-address one first (Check
// reads its state for the RateLimit headers), with the reason each stands
// for.
func (g *Guard) requests(a Attempt) ([]limit.Request, []Reason) {
	ip := a.IP.Unmap()
	host, wider := subnets(ip)
	hostKey := host.String()
	if ip.Is4() {
		hostKey = ip.String()
	}
	reqs := make([]limit.Request, 0, 5)
	reasons := make([]Reason, 0, 5)
	add := func(key string, l limit.Limit, r Reason) {
		reqs = append(reqs, limit.Request{Key: key, Limit: l})
		reasons = append(reasons, r)
	}
	add("ip:"+hostKey, g.policy.IP, ReasonIP)
	if len(wider) > 0 {
		add("net:"+wider[0].String(), g.policy.Subnet, ReasonSubnet)
	}
	if len(wider) > 1 {
		add("net48:"+wider[1].String(), g.policy.Subnet48, ReasonSubnet48)
	}
	add("user:"+a.Username, g.policy.User, ReasonUser)
	add("userip:"+a.Username+"|"+hostKey, g.policy.UserIP, ReasonUserIP)
	return reqs, reasons
}
