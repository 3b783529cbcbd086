// Package limit provides the rate limiter behind the login guard: GCRA over
// a Store that evaluates and reserves a whole set of keys in one atomic step.
//
// GCRA (the generic cell rate algorithm) keeps a single timestamp per key,
// its theoretical arrival time (TAT): the moment the key would be back at a
// full budget if nothing else happened. With emission interval T (one unit
// returns every T) and burst B, a unit is allowed at time now when
//
//	max(TAT, now) + T - now <= B*T
//
// and allowing it sets TAT = max(TAT, now) + T. A key whose TAT is at or
// before now is idle: it holds its full budget, so forgetting it is exact.
// This is the same limit as a token bucket of B tokens refilled one per T,
// stored in eight bytes and evaluated with integer arithmetic, which also
// makes it a short Lua script for a shared Redis store.
//
// Time is always a parameter, so tests step through time and never sleep.
package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidLimit means a Request carries a Limit that allows nothing
// sensible: a Burst below one or a Period that is not positive.
var ErrInvalidLimit = errors.New("invalid limit")

// Limit is a budget: Burst events per Period, sustained. A key at rest may
// spend Burst units at once; after that one unit comes back every
// Period/Burst (the emission interval, rounded down to a nanosecond and at
// least one), so over any long interval the key gets Burst units per Period
// and never more than Burst in a burst. For example {Burst: 10, Period:
// time.Minute} allows 10 attempts at once, then one every 6 s.
//
// The zero Limit is invalid: Store methods reject it with ErrInvalidLimit.
type Limit struct {
	Burst  int
	Period time.Duration
}

// valid reports whether l can be evaluated.
func (l Limit) valid() bool {
	return l.Burst >= 1 && l.Period > 0
}

// interval is the emission interval T in nanoseconds: the time one unit
// takes to come back.
func (l Limit) interval() int64 {
	return max(int64(l.Period)/int64(l.Burst), 1)
}

// tolerance is B*T in nanoseconds: how far TAT may run ahead of now. It is
// computed from the rounded interval so that exactly Burst units fit.
func (l Limit) tolerance() int64 {
	return l.interval() * int64(l.Burst)
}

// take evaluates one unit at now for a key whose TAT is tat. It returns
// the TAT after taking the unit and whether the unit is allowed; when it is
// not, the caller keeps tat.
func (l Limit) take(tat, now int64) (next int64, ok bool) {
	next = max(tat, now) + l.interval()
	return next, next-now <= l.tolerance()
}

// state describes a key whose TAT is tat, at now. ok is whether the call
// that produced tat allowed this key.
func (l Limit) state(tat, now int64, ok bool) KeyResult {
	t, tol := l.interval(), l.tolerance()
	tat = max(tat, now)
	kr := KeyResult{
		OK:         ok,
		Remaining:  int(max((now+tol-tat)/t, 0)),
		ResetAfter: time.Duration(tat - now),
	}
	if kr.Remaining == 0 {
		kr.RetryAfter = time.Duration(tat + t - tol - now)
	}
	return kr
}

// Request asks for one unit of Limit on Key. Keys are opaque strings; the
// caller namespaces them ("ip:203.0.113.7", "net24:203.0.113.0/24",
// "user:alice", "userip:alice|203.0.113.7"), and one key must always be
// used with the same Limit.
type Request struct {
	Key   string
	Limit Limit
}

// Result is the outcome of one Reserve.
//
// Allowed is true when every request had a unit; then every key consumed
// one. Otherwise nothing was consumed, Denied is the index of the first
// request that had no unit, and RetryAfter is how long until every denied
// key has a unit again (a lower bound: other clients may spend them first).
// Keys holds one KeyResult per request, in request order, so the caller
// can describe any one policy (for example the per-IP one in RateLimit
// headers).
type Result struct {
	Allowed    bool
	Denied     int // -1 when Allowed
	RetryAfter time.Duration
	Keys       []KeyResult
}

// KeyResult describes one key after a Reserve: after consuming its unit
// when the whole Reserve was allowed, untouched otherwise.
type KeyResult struct {
	// OK is whether this key alone had a unit for the request.
	OK bool
	// Remaining is how many more units the key allows right now.
	Remaining int
	// RetryAfter is how long until the key has a unit again; zero while
	// Remaining is positive.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back at its full Burst.
	ResetAfter time.Duration
}

// Store keeps per-key GCRA state. Implementations decide and reserve a set
// of keys in one atomic step, so parallel attempts cannot overrun a budget
// and a shared store needs one round trip per attempt.
//
// Implementations are safe for concurrent use.
type Store interface {
	// Reserve evaluates every request at now. If every key has a unit,
	// each consumes one (a key listed twice consumes two); if any key has
	// none, nothing is consumed. Errors are for invalid requests and for
	// stores that cannot be reached, never for a denial.
	Reserve(ctx context.Context, now time.Time, reqs []Request) (Result, error)

	// Refund gives back one unit per request, undoing an allowed Reserve
	// of the same requests, so that a successful login never burns budget.
	// A key cannot rise above its full Burst. Implementations may skip
	// keys they no longer track, which errs toward keeping a unit spent.
	Refund(ctx context.Context, now time.Time, reqs []Request) error
}

// validate checks every request's Limit.
func validate(reqs []Request) error {
	for i := range reqs {
		if l := reqs[i].Limit; !l.valid() {
			return fmt.Errorf("limit: request %d: burst %d per %v: %w", i, l.Burst, l.Period, ErrInvalidLimit)
		}
	}
	return nil
}
