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
// Budgets alone fail both ways: a botnet of 10^5 addresses at one attempt
// each never trips a per-address budget, and a per-account budget lets an
// attacker lock the real owner out. So the guard is adaptive:
//
//   - a client with a valid device credential for this user (package
//     device) keeps a budget of its own and never meets the per-account,
//     per-address or per-network budgets untrusted clients share, nor
//     challenges;
//   - a client on a network (IPv4 /24, IPv6 /48) this user logged in from
//     in the last 30 days keeps a budget of its own in place of the
//     per-account hard budget, so an attack from elsewhere cannot lock
//     the owner out, but otherwise meets what untrusted clients meet,
//     challenges included: only a device credential changes the answer a
//     client sees, so a neighbour learns nothing about which names exist;
//   - untrusted clients past a soft budget (per address, per account), or
//     any untrusted client while the Detector says the service is under
//     attack, must solve a memory-hard challenge (package challenge) for
//     each attempt, until a hard budget says 429; the per-account hard
//     budget is NIST SP 800-63B's cap of 100 consecutive failures.
//
// The package knows nothing of HTTP: the server passes the normalised
// username, the resolved client address, a verified device id and a way to
// verify a challenge solution.
package guard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// Reason names the budget that denied an attempt or demanded a challenge.
// It is reported in metrics and logs, never to the client, who learns only
// when to retry.
type Reason string

// Reasons, one per budget, plus the detector.
const (
	ReasonNone      Reason = ""
	ReasonIP        Reason = "ip"        // one address (IPv6: its /64)
	ReasonIPSoft    Reason = "ip_soft"   // the address's soft budget: challenge
	ReasonSubnet    Reason = "subnet"    // IPv4 /24, IPv6 /56
	ReasonSubnet48  Reason = "subnet48"  // IPv6 /48
	ReasonUser      Reason = "user"      // one username's shared budget: challenge
	ReasonUserHard  Reason = "user_hard" // 100 failures: deny
	ReasonUserIP    Reason = "user_ip"   // one username from one address
	ReasonDevice    Reason = "device"    // a device credential's own budget
	ReasonNetwork   Reason = "network"   // a known network's own budget
	ReasonAttack    Reason = "attack"    // the detector: challenge
	ReasonChallenge Reason = "challenge" // a challenge solution was wrong or too weak
	ReasonDegraded  Reason = "degraded"  // the shared store is unreachable: challenge
	ReasonSuccess   Reason = "success"   // too many successful logins: deny
)

// Trust is how the guard classed the client of an attempt.
type Trust string

// Trust levels.
const (
	Untrusted    Trust = "untrusted"
	TrustDevice  Trust = "device"  // a valid device credential for this user
	TrustNetwork Trust = "network" // a network this user logged in from recently
)

// Policy is the set of budgets. Each Limit but Success counts failed
// attempts (successes are refunded): Burst at once, refilled to Burst per
// Period.
type Policy struct {
	// Hard budgets for untrusted clients: past them, 429.
	IP       limit.Limit
	Subnet   limit.Limit
	Subnet48 limit.Limit
	UserIP   limit.Limit
	UserHard limit.Limit
	// Soft budgets for untrusted clients: past them, a challenge.
	IPSoft limit.Limit
	User   limit.Limit
	// Budgets of trusted clients, one per device credential and one per
	// (user, known network). Network replaces UserHard for a known
	// network; keep the two equal (the default), or a neighbour on that
	// network tells the real account, whose 429 comes sooner or later,
	// from a made-up name.
	Device  limit.Limit
	Network limit.Limit
	// Success counts successful logins, per account (trusted clients),
	// per device credential, and per account and address (untrusted
	// clients). Refunding successes keeps the other budgets for guesses,
	// but then nothing stopped one account holder looping correct logins:
	// each one is a password hash, a trusted one in the hasher's priority
	// lane, and a refresh-token family. A person does not log in 30 times
	// a minute.
	Success limit.Limit
	// KnownNetworkTTL is how long a successful login makes its network
	// known for the user.
	KnownNetworkTTL time.Duration
	// Difficulty and AttackDifficulty are the challenge difficulties (in
	// leading zero bits, package challenge) normally and under attack.
	Difficulty, AttackDifficulty int
}

// DefaultPolicy returns budgets sized so that a person, or an office behind
// one NAT address, never meets them, while a stuffing run from one address
// or one network stops within the first few dozen attempts:
//
//   - per address: a challenge after 10 failures, 429 after 20 (20/h);
//   - per network (/24, /56): 100, then 100/h — a hundred hosts each
//     making one mistake; per IPv6 /48: 200/h;
//   - per username, shared by untrusted clients: a challenge after 10
//     failures (10/h), 429 after 100 a day: NIST SP 800-63B §5.2.2's cap
//     on consecutive failures per account;
//   - per username and address: 5, then 5 per 15 minutes;
//   - per device credential: 10/h of its own, and per (user, known
//     network) 100 a day of its own (the account's hard budget, so its
//     429 comes when a made-up name's would): the owner keeps logging in
//     while the account is attacked;
//   - successful logins: 30 a minute per account, per device credential,
//     and per account and address.
func DefaultPolicy() Policy {
	return Policy{
		IP:               limit.Limit{Burst: 20, Period: time.Hour},
		Subnet:           limit.Limit{Burst: 100, Period: time.Hour},
		Subnet48:         limit.Limit{Burst: 200, Period: time.Hour},
		UserIP:           limit.Limit{Burst: 5, Period: 15 * time.Minute},
		UserHard:         limit.Limit{Burst: 100, Period: 24 * time.Hour},
		IPSoft:           limit.Limit{Burst: 10, Period: time.Hour},
		User:             limit.Limit{Burst: 10, Period: time.Hour},
		Device:           limit.Limit{Burst: 10, Period: time.Hour},
		Network:          limit.Limit{Burst: 100, Period: 24 * time.Hour},
		Success:          limit.Limit{Burst: 30, Period: time.Minute},
		KnownNetworkTTL:  30 * 24 * time.Hour,
		Difficulty:       6,
		AttackDifficulty: 10,
	}
}

// Validate reports a budget that allows nothing.
func (p Policy) Validate() error {
	var errs []error
	for _, b := range []struct {
		name string
		l    limit.Limit
	}{
		{"ip", p.IP}, {"ip soft", p.IPSoft}, {"subnet", p.Subnet}, {"subnet48", p.Subnet48},
		{"user", p.User}, {"user hard", p.UserHard}, {"user+ip", p.UserIP}, {"device", p.Device}, {"network", p.Network}, {"success", p.Success},
	} {
		if b.l.Burst < 1 || b.l.Period <= 0 {
			errs = append(errs, fmt.Errorf("guard: %s budget %d per %v: want a burst of at least 1 and a positive period", b.name, b.l.Burst, b.l.Period))
		}
	}
	if p.KnownNetworkTTL < 0 {
		errs = append(errs, errors.New("guard: known-network lifetime must not be negative"))
	}
	if p.Difficulty < 1 || p.AttackDifficulty < p.Difficulty || p.AttackDifficulty > 32 {
		errs = append(errs, fmt.Errorf("guard: challenge difficulties %d and %d: want 1 <= normal <= under attack <= 32", p.Difficulty, p.AttackDifficulty))
	}
	return errors.Join(errs...)
}

// Attempt is one login attempt as the guard sees it.
type Attempt struct {
	// Username is the normalised name; an empty name is refused.
	Username string
	// IP is the client address as package clientip resolved it.
	IP netip.Addr
	// Device is the id of a device credential the server verified for
	// Username (HMAC, expiry and account epoch); empty when none.
	Device string
	// TrustName, if set, is the name known networks are looked up and
	// remembered under instead of Username. A proxy in front of an app
	// that may compare names exactly sets it to the name as sent, so a
	// login to "ALICE" (which an attacker can register) makes no network
	// known for "alice"; budgets stay on the normalised Username.
	TrustName string
	// Solve verifies the challenge solution the client sent and returns
	// the difficulty it proves; nil when the client sent none. The guard
	// calls it only when a challenge is required and the hard budgets
	// admitted the attempt, so every junk solution costs its sender budget.
	Solve func() (difficulty int, err error)
}

// Verdict is the guard's answer to one attempt. The zero Verdict denies.
type Verdict struct {
	// Allowed says the attempt may go on to the password check.
	Allowed bool
	// Challenge, when positive, is the difficulty of the challenge the
	// client must solve before it may try; Allowed is then false.
	Challenge int
	// Reason names the budget that denied or demanded the challenge.
	Reason Reason
	// Trust is how the client was classed.
	Trust Trust
	// RetryAfter is how long until every denying budget has room again.
	RetryAfter time.Duration
	// IPPolicy and IPState describe the budget the server advertises in
	// RateLimit headers, the client's own standing and never an account's:
	// the per-address budget, or for a device-trusted client the device
	// credential's own (Trust tells which), so every 429 has one shape.
	IPPolicy limit.Limit
	IPState  limit.KeyResult
	// PolicyName names the budget IPPolicy and IPState describe when it is
	// not the per-address one: "success" when a trusted client is refused
	// by a success budget (it knows the account, so the account's standing
	// is its own). Empty means "ip".
	PolicyName string

	reserved []limit.Request // what Record refunds on success
	success  []limit.Request // the success budgets: Record refunds them unless the login succeeded
	username string
	network  netip.Prefix
}

// Outcome is what became of an allowed attempt.
type Outcome int

// Outcomes passed to Record.
const (
	// Failure keeps the reserved units spent: a wrong guess.
	Failure Outcome = iota
	// UnknownUser is a Failure whose username does not exist; it counts
	// the same, and only the attack detector tells them apart.
	UnknownUser
	// Success refunds them, so a login never burns failure budget, and
	// keeps the unit of the success budgets instead. It also makes the
	// client's network known for the user.
	Success
	// Aborted refunds every unit: the password was never checked (hasher
	// overloaded, client gone), so no guess was made.
	Aborted
)

// KnownNetworks remembers, per user, the networks of recent successful
// logins. Implementations are safe for concurrent use.
type KnownNetworks interface {
	Known(ctx context.Context, now time.Time, username string, network netip.Prefix) (bool, error)
	Remember(ctx context.Context, now time.Time, username string, network netip.Prefix, until time.Time) error
}

// KnownReserver looks a (user, network) pair up in the known networks and
// reserves on the guard's store in one atomic call — ifKnown when the
// pair is known at now, else ifUnknown — exactly as Known followed by
// Store.Reserve would. With the state in Redis that is one round trip
// instead of two. Implementations are safe for concurrent use.
type KnownReserver interface {
	ReserveKnown(ctx context.Context, now time.Time, username string, network netip.Prefix, ifUnknown, ifKnown []limit.Request) (known bool, res limit.Result, err error)
}

// Config is what a Guard is built from. Store and Policy are required.
type Config struct {
	Store  limit.Store
	Policy Policy
	// Known remembers users' networks; nil disables known networks.
	Known KnownNetworks
	// KnownReserve, if set, makes an untrusted attempt's known-network
	// lookup and its reservation one call; it must read the same known
	// networks as Known and reserve on the same budgets as Store.
	// Requires Known.
	KnownReserve KnownReserver
	// Detector says when the service is under attack; nil means never.
	// One with shared counts exchanges them in Guard.Run.
	Detector *Detector
	// OnAttackChange, if set, is called when the detector switches on or
	// off (for the log and metrics).
	OnAttackChange func(DetectorState)
	// Degraded, if set, reports whether Store has fallen back to local,
	// divided budgets (redisstore.Failover.Degraded). While it does, every
	// attempt without a device credential is challenged, as under attack but at the normal
	// difficulty: a replica on its own slice of the budget must not be
	// the cheap way in.
	Degraded func() bool
	// Admin, if set, is Store's administration: Blocked and Unlock work
	// through it, and the guard remembers the keys that refuse attempts
	// (bounded) so an operator can see and lift them. nil disables both.
	Admin AdminStore
}

// Guard applies a Policy over a limit.Store. Build it with New; it is safe
// for concurrent use.
type Guard struct {
	cfg     Config
	refused refusals // keys that refused recently, for Blocked and Unlock (admin.go)
}

// New returns a Guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Store == nil {
		return nil, errors.New("guard: nil store")
	}
	if cfg.KnownReserve != nil && cfg.Known == nil {
		return nil, errors.New("guard: known-network reservations without known networks")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	return &Guard{cfg: cfg}, nil
}

// Policy returns the budgets g applies.
func (g *Guard) Policy() Policy { return g.cfg.Policy }

// Run does the guard's background work until ctx is done: the attack
// detector's exchange of counts with the other replicas (Detector.Run), so
// that no login waits for it. Start it once, in a goroutine of its own,
// with the context of the command that serves logins; it returns at once
// when there is nothing to do.
func (g *Guard) Run(ctx context.Context) {
	if g.cfg.Detector != nil {
		g.cfg.Detector.Run(ctx)
	}
}

// UnderAttack reports the detector's state at now.
func (g *Guard) UnderAttack(now time.Time) bool {
	if g.cfg.Detector == nil {
		return false
	}
	st, changed := g.cfg.Detector.State(now)
	g.notify(st, changed)
	return st.UnderAttack
}

// Check evaluates a at now. Allowed verdicts hold a reservation of one
// unit on every budget the attempt touched, taken in one atomic store call
// so parallel attempts never overrun a budget; settle it with Record. A
// store error is returned as is; the caller must fail closed.
func (g *Guard) Check(ctx context.Context, now time.Time, a Attempt) (Verdict, error) {
	if a.Username == "" || !a.IP.IsValid() {
		return Verdict{}, errors.New("guard: attempt without username or address")
	}
	ip := a.IP.Unmap()
	network := knownNetwork(ip)
	trustName := cmp.Or(a.TrustName, a.Username)
	if a.Device != "" {
		return g.checkDevice(ctx, now, a, trustName, network)
	}
	// A known network swaps the account's shared hard budget for its own,
	// so an attacker elsewhere cannot lock the owner out; everything else
	// — the address's budgets, the soft budgets, the detector — is what an
	// untrusted client meets. Were it spared the challenge too, a neighbour
	// in the same network could tell the real account (answered) from
	// every other name (challenged).
	var t budgets
	g.untrustedBudgets(&t, a.Username, ip, netip.Prefix{})
	held := t.pick(kindHard | kindSoft | kindSuccess)
	var known bool
	var res limit.Result
	var err error
	switch {
	case g.cfg.KnownReserve != nil:
		var kt budgets
		g.untrustedBudgets(&kt, a.Username, ip, network)
		kheld := kt.pick(kindHard | kindSoft | kindSuccess)
		if known, res, err = g.cfg.KnownReserve.ReserveKnown(ctx, now, trustName, network, held.reqs, kheld.reqs); err != nil {
			return Verdict{}, fmt.Errorf("guard: known networks and reserve: %w", err)
		}
		if known {
			t, held = kt, kheld
		}
	default:
		if g.cfg.Known != nil {
			if known, err = g.cfg.Known.Known(ctx, now, trustName, network); err != nil {
				return Verdict{}, fmt.Errorf("guard: known networks: %w", err)
			}
			if known {
				t = budgets{}
				g.untrustedBudgets(&t, a.Username, ip, network)
				held = t.pick(kindHard | kindSoft | kindSuccess)
			}
		}
		if res, err = g.cfg.Store.Reserve(ctx, now, held.reqs); err != nil {
			return Verdict{}, fmt.Errorf("guard: reserve: %w", err)
		}
	}
	g.noteRefused(now, &held, res)
	v, err := g.checkUntrusted(ctx, now, a, &t, held, res, network)
	v.username = trustName
	if known {
		v.Trust = TrustNetwork
	}
	g.observeRefusal(now, v, err)
	return v, err
}

// observeRefusal feeds a refused attempt to the detector: a botnet that is
// being challenged or throttled must keep it on.
func (g *Guard) observeRefusal(now time.Time, v Verdict, err error) {
	if err == nil && !v.Allowed && g.cfg.Detector != nil {
		g.notify(g.cfg.Detector.Observe(now, SignalFailure))
	}
}

// CheckAddress evaluates an attempt that carries no password and names no
// account — a refresh-token grant — on the client address's hard budgets
// alone (address, network, /48), reserving a unit on each in one atomic
// store call. There is no account budget and no challenge: the credential
// is 256 random bits, so guessing is hopeless, but a flood of made-up
// tokens must stop before it costs database reads. Settle the verdict with
// Record as usual; it does not feed the attack detector, which watches
// logins.
func (g *Guard) CheckAddress(ctx context.Context, now time.Time, ip netip.Addr) (Verdict, error) {
	if !ip.IsValid() {
		return Verdict{}, errors.New("guard: attempt without address")
	}
	var t budgets
	g.addressBudgets(&t, ip.Unmap())
	held := t.pick(kindHard)
	res, err := g.cfg.Store.Reserve(ctx, now, held.reqs)
	if err != nil {
		return Verdict{}, fmt.Errorf("guard: reserve: %w", err)
	}
	g.noteRefused(now, &held, res)
	v := Verdict{Allowed: res.Allowed, Trust: Untrusted, RetryAfter: res.RetryAfter, IPPolicy: g.cfg.Policy.IP, IPState: held.state(res, budgetAddress)}
	if res.Allowed {
		v.reserved = held.reqs
	} else {
		b, _, _ := held.denial(res)
		v.Reason = b.reason
	}
	return v, nil
}

// checkDevice spends one unit of a device credential's own budget and of
// its success budgets (deviceBudgets), in one store call.
func (g *Guard) checkDevice(ctx context.Context, now time.Time, a Attempt, trustName string, network netip.Prefix) (Verdict, error) {
	var t budgets
	g.deviceBudgets(&t, a.Username, a.Device)
	held := t.pick(kindHard | kindSuccess)
	res, err := g.cfg.Store.Reserve(ctx, now, held.reqs)
	if err != nil {
		return Verdict{}, fmt.Errorf("guard: reserve: %w", err)
	}
	g.noteRefused(now, &held, res)
	// A trusted client's 429 describes its own budget (one 429 shape for
	// everyone); a refusal by a success budget describes that budget.
	v := Verdict{Allowed: res.Allowed, Trust: TrustDevice, RetryAfter: res.RetryAfter,
		IPPolicy: g.cfg.Policy.Device, IPState: held.state(res, budgetDevice), username: trustName, network: network}
	if res.Allowed {
		v.reserved, v.success = held.split()
		return v, nil
	}
	b, kr, _ := held.denial(res)
	v.Reason = b.reason
	if b.kind == kindSuccess {
		v.PolicyName, v.IPPolicy, v.IPState = string(ReasonSuccess), b.Limit, kr
	}
	return v, nil
}

// checkUntrusted applies the shared budgets t (untrustedBudgets), whose
// hard, soft and success budgets held were reserved with res: hard and
// success ones deny, soft ones and the detector demand a challenge. For a
// known network, t has the network's own budget in place of the
// account's shared hard budget.
func (g *Guard) checkUntrusted(ctx context.Context, now time.Time, a Attempt, t *budgets, held picked, res limit.Result, network netip.Prefix) (Verdict, error) {
	var err error
	v := Verdict{Trust: Untrusted, IPPolicy: g.cfg.Policy.IP, IPState: held.state(res, budgetAddress), username: a.Username, network: network}
	var challengeReason Reason
	difficulty := g.cfg.Policy.Difficulty
	if !res.Allowed {
		if b, _, ok := held.denial(res); ok {
			v.Reason, v.RetryAfter = b.reason, res.RetryAfter
			return v, nil
		}
		// Only soft budgets are spent: the client may go on if it proves
		// work, and the attempt still spends the hard and success budgets.
		soft, _, _ := held.refused(res, kindSoft)
		challengeReason = soft.reason
		held = t.pick(kindHard | kindSuccess)
		if res, err = g.cfg.Store.Reserve(ctx, now, held.reqs); err != nil {
			return Verdict{}, fmt.Errorf("guard: reserve: %w", err)
		}
		g.noteRefused(now, &held, res)
		if !res.Allowed {
			b, _, _ := held.denial(res)
			v.Reason, v.RetryAfter = b.reason, res.RetryAfter
			return v, nil
		}
		v.IPState = held.state(res, budgetAddress)
	}
	if g.UnderAttack(now) {
		difficulty = g.cfg.Policy.AttackDifficulty
		if challengeReason == ReasonNone {
			challengeReason = ReasonAttack
		}
	}
	if challengeReason == ReasonNone && g.cfg.Degraded != nil && g.cfg.Degraded() {
		challengeReason = ReasonDegraded
	}
	// A challenged client keeps every unit spent, the success one too; an
	// allowed one settles the success budget apart (Record).
	if challengeReason == ReasonNone {
		v.Allowed = true
		v.reserved, v.success = held.split()
		return v, nil
	}
	if a.Solve == nil {
		// No solution sent: the units stay spent, so a client that keeps
		// asking and never solves meets the hard budgets and a 429 — the
		// challenge step cannot be farmed without limit.
		v.Challenge, v.Reason = difficulty, challengeReason
		return v, nil
	}
	if proved, err := a.Solve(); err != nil || proved < difficulty {
		// A wrong or too weak solution keeps its units spent.
		v.Challenge, v.Reason = difficulty, ReasonChallenge
		return v, nil
	}
	v.Allowed = true
	v.reserved, v.success = held.split()
	return v, nil
}

// Record settles an allowed attempt: Success and Aborted give the failure
// budgets' units back, Failure and UnknownUser keep them; the success
// budgets' units go back unless the login succeeded. So a failure costs a
// refund it did not cost before, but a name that does not exist, or a
// wrong password, never spends a success budget. Every outcome but Aborted
// feeds the attack detector (Check already counted refused attempts).
// Recording a refused verdict does nothing.
func (g *Guard) Record(ctx context.Context, now time.Time, v Verdict, o Outcome) error {
	if g.cfg.Detector != nil && o != Aborted && v.Allowed && v.username != "" {
		sig := SignalFailure
		switch o {
		case Success:
			sig = SignalSuccess
		case UnknownUser:
			sig = SignalUnknownFailure
		}
		g.notify(g.cfg.Detector.Observe(now, sig))
	}
	if !v.Allowed {
		return nil
	}
	var refund []limit.Request
	switch o {
	case Success:
		refund = v.reserved
	case Aborted:
		refund = append(v.reserved[:len(v.reserved):len(v.reserved)], v.success...)
	default:
		refund = v.success
	}
	var errs []error
	if len(refund) > 0 {
		if err := g.cfg.Store.Refund(ctx, now, refund); err != nil {
			errs = append(errs, fmt.Errorf("guard: refund: %w", err))
		}
	}
	if o == Success && g.cfg.Known != nil && v.network.IsValid() && g.cfg.Policy.KnownNetworkTTL > 0 {
		if err := g.cfg.Known.Remember(ctx, now, v.username, v.network, now.Add(g.cfg.Policy.KnownNetworkTTL)); err != nil {
			errs = append(errs, fmt.Errorf("guard: remember network: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (g *Guard) notify(st DetectorState, changed bool) {
	if changed && g.cfg.OnAttackChange != nil {
		g.cfg.OnAttackChange(st)
	}
}

// knownNetwork is the network a successful login makes known: IPv4 /24,
// IPv6 /48 (a home or office keeps its prefix while its hosts change).
func knownNetwork(ip netip.Addr) netip.Prefix {
	bits := 24
	if !ip.Is4() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	return p
}
