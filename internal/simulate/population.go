package simulate

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credshield/credshield/internal/password"
)

// Pair is one line of a combo list: a username and a password to try.
type Pair struct {
	Username, Password string
	// Valid says the pair is an account's real password.
	Valid bool
}

// Population is the simulated service's accounts and the attacker's combo
// list, all drawn from one seed so that every defence faces the same list
// in the same order. It is read-only once built and safe to share.
type Population struct {
	// Usernames and Passwords are the accounts, index-aligned; the first
	// legitimate-user count of them are the people who log in during the
	// attack.
	Usernames, Passwords []string
	// Combo is the attacker's list in the order it is tried.
	Combo []Pair
}

// NewPopulation draws users accounts and a combo list of pairs pairs from
// seed: 1% valid pairs (distinct accounts while there are enough), 30%
// known usernames with a wrong password, the rest unknown usernames, in
// random order.
func NewPopulation(seed uint64, users, pairs int) (*Population, error) {
	if users < 1 || pairs < 1 {
		return nil, fmt.Errorf("population of %d users and %d pairs: want at least one of each", users, pairs)
	}
	rng := mrand.New(mrand.NewChaCha8(seedBytes(seed)))
	p := &Population{Usernames: make([]string, users), Passwords: make([]string, users)}
	for i := range users {
		p.Usernames[i] = fmt.Sprintf("user%06d", i)
		p.Passwords[i] = randomWord(rng, 14)
	}
	valid := max(pairs/100, 1)
	known := pairs * 30 / 100
	order := rng.Perm(users)
	for i := range pairs {
		switch {
		case i < valid:
			u := order[i%users]
			p.Combo = append(p.Combo, Pair{Username: p.Usernames[u], Password: p.Passwords[u], Valid: true})
		case i < valid+known:
			u := rng.IntN(users)
			p.Combo = append(p.Combo, Pair{Username: p.Usernames[u], Password: randomWord(rng, 10)})
		default:
			p.Combo = append(p.Combo, Pair{Username: fmt.Sprintf("ghost%07d", i), Password: randomWord(rng, 10)})
		}
	}
	rng.Shuffle(len(p.Combo), func(i, j int) { p.Combo[i], p.Combo[j] = p.Combo[j], p.Combo[i] })
	return p, nil
}

// WithDomain returns the population with every identifier, the combo
// list's too, made an address at domain (user000001@example.com); the
// passwords and the order stay. An empty domain returns p itself.
func (p *Population) WithDomain(domain string) *Population {
	if domain == "" {
		return p
	}
	q := &Population{Usernames: make([]string, len(p.Usernames)), Passwords: p.Passwords, Combo: make([]Pair, len(p.Combo))}
	for i, u := range p.Usernames {
		q.Usernames[i] = u + "@" + domain
	}
	for i, c := range p.Combo {
		c.Username += "@" + domain
		q.Combo[i] = c
	}
	return q
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
	}
	copy(b[8:], "credshield simulate population")
	return b
}

func randomWord(rng *mrand.Rand, n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// HashedUsers is the population's argon2id hashes, ready to import, and the
// mean and 99th-percentile time one hash took on one core (the hash's own
// tail on this machine, beside which the service's latency is judged).
type HashedUsers struct {
	Hashes            []string
	MeanHash, P99Hash time.Duration
}

// Hash computes every account's argon2id hash with params on all CPUs.
// progress, if not nil, receives a running count on one line.
func (p *Population) Hash(ctx context.Context, params password.Params, progress io.Writer) (HashedUsers, error) {
	h := HashedUsers{Hashes: make([]string, len(p.Usernames))}
	took := make([]time.Duration, len(p.Usernames)) // each index written by one worker
	var (
		next, done atomic.Int64
		spent      atomic.Int64 // ns
		firstErr   error
		once       sync.Once
		wg         sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.Usernames) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				s, err := password.Hash(rand.Reader, []byte(p.Passwords[i]), params)
				took[i] = time.Since(t0)
				spent.Add(int64(took[i]))
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("hash password of %s: %w", p.Usernames[i], err) })
					return
				}
				h.Hashes[i] = s
				if n := done.Add(1); progress != nil && (n%50 == 0 || int(n) == len(p.Usernames)) {
					fmt.Fprintf(progress, "\rhashing users: %d/%d", n, len(p.Usernames))
				}
			}
		})
	}
	wg.Wait()
	if progress != nil {
		fmt.Fprintln(progress)
	}
	if firstErr != nil {
		return h, firstErr
	}
	if err := ctx.Err(); err != nil {
		return h, fmt.Errorf("hash users: %w", err)
	}
	h.MeanHash = time.Duration(spent.Load() / int64(len(p.Usernames)))
	slices.Sort(took)
	h.P99Hash = took[min(len(took)-1, len(took)*99/100)]
	return h, nil
}

// WriteJSONL writes the accounts as `credshield user import` reads them:
// one {"username", "hash"} object per line.
func (p *Population) WriteJSONL(path string, h HashedUsers) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i, name := range p.Usernames {
		if err := enc.Encode(struct {
			Username string `json:"username"`
			Hash     string `json:"hash"`
		}{name, h.Hashes[i]}); err != nil {
			f.Close()
			return fmt.Errorf("write users: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write users: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	return nil
}
