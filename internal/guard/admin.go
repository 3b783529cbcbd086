package guard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// AdminStore is what the guard's administration (Blocked, Unlock) needs
// of its store beyond limit.Store: describing keys without spending them,
// and giving keys their full budget back. limit.Memory and the Redis
// stores have it.
type AdminStore interface {
	Peek(ctx context.Context, now time.Time, reqs []limit.Request) ([]limit.KeyResult, error)
	Unlock(ctx context.Context, now time.Time, reqs []limit.Request) error
}

// ErrNoAdmin means the Guard was built without Config.Admin.
var ErrNoAdmin = errors.New("guard: no administration store configured")

// ErrSelector means a Selector does not name exactly one address, network
// or account.
var ErrSelector = errors.New("guard: name exactly one address, network or user")

// maxRefused bounds the refused keys a Guard remembers for Blocked and
// Unlock: a few hundred kilobytes at most, whatever an attacker sends.
const maxRefused = 4096

// refusals remembers, by name, the keys that refused an attempt recently.
// The stores cannot list them: the memory store keeps only a seeded hash
// of each key and Redis a digest, so that neither holds names or addresses
// an attacker sent; an operator asking what is blocked needs the names,
// and this bounded record has them. It is per process: with a shared
// store, each replica knows the keys it refused itself. The zero value is
// empty and ready; it is safe for concurrent use.
type refusals struct {
	mu   sync.Mutex
	keys map[string]refusal // requires mu held
}

// refusal is what the record keeps of one key: its Limit, and when it
// last said it would have a unit again.
type refusal struct {
	limit limit.Limit
	until int64 // Unix ns
}

// note records the hard and success rows of p that res refused at now
// (the ones that answer 429). A key already
// recorded with the same or a later retry costs a map lookup: under an
// attack the same keys refuse again and again.
func (r *refusals) note(now time.Time, p *picked, res limit.Result) {
	nowNs := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p.reqs {
		// Soft budgets challenge, they do not block; unlocking clears
		// them by name (Selector.keys) without the record.
		if i >= len(res.Keys) || res.Keys[i].OK || p.row[i].kind&(kindHard|kindSuccess) == 0 {
			continue
		}
		until := nowNs + int64(res.Keys[i].RetryAfter)
		if old, ok := r.keys[p.reqs[i].Key]; ok {
			if old.until < until {
				r.keys[p.reqs[i].Key] = refusal{p.reqs[i].Limit, until}
			}
			continue
		}
		if r.keys == nil {
			r.keys = make(map[string]refusal)
		}
		if len(r.keys) >= maxRefused {
			r.makeRoomLocked(nowNs)
		}
		// The key is a slice of the attempt's one string; keep a copy
		// of its own rather than all of that string.
		r.keys[strings.Clone(p.reqs[i].Key)] = refusal{p.reqs[i].Limit, until}
	}
}

// makeRoomLocked drops the keys whose refusal has passed, or when none
// has, the one that frees soonest. Requires r.mu held.
func (r *refusals) makeRoomLocked(now int64) {
	var soonest string
	first := true
	for k, v := range r.keys {
		if v.until <= now {
			delete(r.keys, k)
			continue
		}
		if first || v.until < r.keys[soonest].until {
			soonest, first = k, false
		}
	}
	if len(r.keys) >= maxRefused && !first {
		delete(r.keys, soonest)
	}
}

// snapshot returns the recorded keys, as requests, that satisfy keep.
func (r *refusals) snapshot(keep func(key string) bool) []limit.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []limit.Request
	for k, v := range r.keys {
		if keep(k) {
			out = append(out, limit.Request{Key: k, Limit: v.limit})
		}
	}
	return out
}

// forget drops keys from the record.
func (r *refusals) forget(keys []limit.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.keys, k.Key)
	}
}

// noteRefused records what res refused of p, for Blocked and Unlock.
func (g *Guard) noteRefused(now time.Time, p *picked, res limit.Result) {
	if g.cfg.Admin != nil && !res.Allowed {
		g.refused.note(now, p, res)
	}
}

// Block is one budget that refuses attempts now.
type Block struct {
	// Key is the budget's key, as the guard's log names it.
	Key string
	// Reason names the budget.
	Reason Reason
	// User is the account the budget is kept for, if any.
	User string
	// Address is the address (IPv4, or an IPv6 /64) or network the
	// budget is kept for, if any, as text.
	Address string
	// RetryAfter is how long until the budget has a unit again.
	RetryAfter time.Duration
}

// Blocked returns up to n budgets that refuse attempts at now, those
// refusing longest first. It knows the budgets that refused an attempt
// this process saw (see refusals) and asks the store how each stands now,
// so with a shared store an unlock through another replica shows.
func (g *Guard) Blocked(ctx context.Context, now time.Time, n int) ([]Block, error) {
	if g.cfg.Admin == nil {
		return nil, ErrNoAdmin
	}
	reqs := g.refused.snapshot(func(string) bool { return true })
	if len(reqs) == 0 {
		return nil, nil
	}
	states, err := g.cfg.Admin.Peek(ctx, now, reqs)
	if err != nil {
		return nil, fmt.Errorf("guard: blocked: %w", err)
	}
	var idle []limit.Request
	var blocks []Block
	for i, st := range states {
		if st.OK {
			idle = append(idle, reqs[i])
			continue
		}
		b := Block{Key: reqs[i].Key, RetryAfter: st.RetryAfter}
		if kp, ok := parseKey(reqs[i].Key); ok {
			b.Reason, b.User = kp.form.reason, kp.user
			if kp.where.IsValid() {
				b.Address = kp.where.String()
				if kp.where.Addr().Is4() && kp.where.Bits() == 32 {
					b.Address = kp.where.Addr().String()
				}
			}
		}
		blocks = append(blocks, b)
	}
	g.refused.forget(idle) // a key with a unit again refuses nobody
	slices.SortFunc(blocks, func(a, b Block) int {
		return cmp.Or(cmp.Compare(b.RetryAfter, a.RetryAfter), strings.Compare(a.Key, b.Key))
	})
	if n > 0 && len(blocks) > n {
		blocks = blocks[:n]
	}
	return blocks, nil
}

// Unlock gives every budget of sel its full budget back at now and
// returns their keys: the address's own budgets (with any account), a
// network's (and every address inside it), or an account's (from any
// address). Budgets that can be named without having been seen are
// unlocked always; the others (an account's budget at one address, say)
// when this process saw them refuse. Unlocking a network does not touch
// the wider networks around it, nor an address its network.
func (g *Guard) Unlock(ctx context.Context, now time.Time, sel Selector) ([]string, error) {
	if g.cfg.Admin == nil {
		return nil, ErrNoAdmin
	}
	if !sel.valid() {
		return nil, ErrSelector
	}
	reqs := g.refused.snapshot(func(k string) bool {
		kp, ok := parseKey(k)
		return ok && sel.matches(kp)
	})
	p := g.cfg.Policy
	for _, k := range sel.keys() {
		if slices.ContainsFunc(reqs, func(r limit.Request) bool { return r.Key == k }) {
			continue
		}
		kp, ok := parseKey(k)
		if !ok {
			return nil, fmt.Errorf("guard: unlock: key %q has no budget", k)
		}
		reqs = append(reqs, limit.Request{Key: k, Limit: kp.form.limit(p)})
	}
	if err := g.cfg.Admin.Unlock(ctx, now, reqs); err != nil {
		return nil, fmt.Errorf("guard: unlock: %w", err)
	}
	g.refused.forget(reqs)
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	return keys, nil
}
