package gate

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/credshield/credshield/internal/guard"
)

// Outcome is how an admitted attempt ended: what the guard is told, which
// outcome label its metric counts and which log event it gets.
type Outcome uint8

const (
	// Aborted: nothing was judged because the server could not (a store,
	// the hasher pool or the upstream failed, the client went away). The
	// reservation is refunded; counted unavailable; event unsettled.
	Aborted Outcome = iota
	// Success: the credentials were right. Refunded, the network becomes
	// known; counted success; event success.
	Success
	// Failure: the credentials were wrong. The reservation is kept;
	// counted failure; event failure.
	Failure
	// UnknownUser: a failure for an account that does not exist (the
	// guard keeps those apart); counted failure; event failure.
	UnknownUser
	// Invalid: nothing was judged because of the request itself (a DPoP
	// nonce round, a scope beyond what was granted, an app's answer that
	// is neither success nor failure). Refunded; counted invalid_request;
	// event unsettled.
	Invalid
	// Rejected: the client sent a bad DPoP proof. Kept, so junk proofs
	// cost their sender budget; counted invalid_request; event unsettled.
	Rejected
	// ScopeRefused: the password was right but the scope asked for is not
	// granted. Settled as a success for the guard (the password proved
	// the client); counted invalid_request; event scope_refused.
	ScopeRefused
)

func (o Outcome) guard() guard.Outcome {
	switch o {
	case Success, ScopeRefused:
		return guard.Success
	case Failure, Rejected:
		return guard.Failure
	case UnknownUser:
		return guard.UnknownUser
	}
	return guard.Aborted
}

func (o Outcome) metric() string {
	switch o {
	case Success:
		return outcomeSuccess
	case Failure, UnknownUser:
		return outcomeFailure
	case Invalid, Rejected, ScopeRefused:
		return outcomeInvalid
	}
	return outcomeUnavailable
}

func (o Outcome) event() string {
	switch o {
	case Success:
		return "success"
	case Failure, UnknownUser:
		return "failure"
	case ScopeRefused:
		return "scope_refused"
	}
	return "unsettled"
}

// Reservation is an admitted attempt's hold on the guard's budgets. Settle
// it exactly once with how the attempt ended: defer Settle(Aborted) right
// after Admit, so that every exit that settles nothing refunds it, and
// call Settle with the real outcome where it is known. Only the first
// call counts. Only Admit makes one; a nil *Reservation settles nothing.
// Safe for concurrent use.
type Reservation struct {
	g       *Gate
	ctx     context.Context // the request's values, never cancelled: a gone client still settles
	kind    Kind
	verdict guard.Verdict
	attrs   []slog.Attr // username (if any) and ip, first in every event
	settled atomic.Bool
}

// Verdict is the guard's verdict the reservation was taken under (its
// trust, the budgets it spent).
func (r *Reservation) Verdict() guard.Verdict { return r.verdict }

// Trusted reports whether the guard trusts the client (a device
// credential or a known network).
func (r *Reservation) Trusted() bool { return r.verdict.Trust != guard.Untrusted }

// Settle settles the reservation with o: it tells the guard (a store that
// cannot refund is logged and otherwise ignored: the units stay spent,
// which errs toward safety), counts the attempt's metric and logs its
// event with attrs after the username and address. It reports whether
// this call settled it; every call after the first does nothing.
func (r *Reservation) Settle(o Outcome, attrs ...slog.Attr) bool {
	if r == nil || !r.settled.CompareAndSwap(false, true) {
		return false
	}
	g := r.g
	if err := g.guard.Record(r.ctx, g.now(), r.verdict, o.guard()); err != nil {
		g.log.LogAttrs(r.ctx, slog.LevelWarn, "guard record failed", slog.String("error", err.Error()))
	}
	g.metrics.attempt(r.kind, o.metric())
	if prefix := r.kind.event(); prefix != "" {
		g.log.LogAttrs(r.ctx, slog.LevelInfo, prefix+o.event(), append(r.attrs[:len(r.attrs):len(r.attrs)], attrs...)...)
	}
	return true
}
