package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/password"
)

// Passwords is how new passwords are hashed and how long they must be:
// what serve needs to hash and rehash, and all that the commands that set
// passwords without serving (user add, user reset, simulate) need. The
// zero value is not usable; start from DefaultPasswords.
type Passwords struct {
	// Argon are the argon2id parameters of new hashes and rehashes; the
	// flags set its memory, time and threads.
	Argon password.Params
	// MinLength is the least length of a new password, in characters;
	// 15 by default (NIST SP 800-63B rev. 4), never below 8.
	MinLength int
	// InsecureWeakHash accepts argon2id parameters weaker than every
	// (memory, iterations) pair of OWASP's table (see owaspArgon2id): for
	// tests and throwaway simulations only.
	InsecureWeakHash bool
}

// owaspArgon2id is OWASP's Password Storage Cheat Sheet table of argon2id
// minimums (p=1): each (memory, iterations) pair gives the same defence,
// trading memory for passes.
var owaspArgon2id = []struct{ memoryKiB, time uint32 }{
	{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
}

// owaspPairs writes the table as help and errors show it.
func owaspPairs() string {
	rows := make([]string, len(owaspArgon2id))
	for i, r := range owaspArgon2id {
		rows[i] = fmt.Sprintf("%d/%d", r.memoryKiB, r.time)
	}
	return strings.Join(rows, ", ")
}

// WeakArgon2id reports whether (memoryKiB, time) falls short of every row
// of OWASP's table: a pair is strong enough when it has at least the
// memory and at least the passes of one row. More passes than the last
// row need that row's memory still: passes alone cannot replace memory,
// which is what makes the hash costly on a GPU.
func WeakArgon2id(memoryKiB, time uint32) bool {
	for _, row := range owaspArgon2id {
		if memoryKiB >= row.memoryKiB && time >= row.time {
			return false
		}
	}
	return true
}

// DefaultPasswords returns OWASP's argon2id minimum and NIST's length.
func DefaultPasswords() Passwords {
	return Passwords{Argon: password.DefaultParams(), MinLength: password.DefaultMinLen}
}

// RegisterFlags binds the argon2id parameters and the minimum length to
// flags on fs, with p's current values as defaults.
func (p *Passwords) RegisterFlags(fs *pflag.FlagSet) {
	fs.Uint32Var(&p.Argon.MemoryKiB, "argon2-memory", p.Argon.MemoryKiB, "argon2id memory per hash in KiB; with --argon2-time at least one of OWASP's pairs (KiB/passes): "+owaspPairs())
	fs.Uint32Var(&p.Argon.Time, "argon2-time", p.Argon.Time, "argon2id passes")
	fs.BoolVar(&p.InsecureWeakHash, "insecure-weak-hash", p.InsecureWeakHash, "accept argon2id settings below OWASP's minimum (tests and throwaway simulations only: such hashes are cheap to crack if stolen)")
	fs.Uint8Var(&p.Argon.Threads, "argon2-threads", p.Argon.Threads, "argon2id parallelism")
	fs.IntVar(&p.MinLength, "password-min-length", p.MinLength,
		"least number of characters of a new password (8..64; 15 is NIST's minimum for a password used alone)")
}

// Validate checks the minimum length against the password policy's
// bounds and the argon2id parameters against what package password
// accepts and against OWASP's table (unless InsecureWeakHash), so a bad
// or weak setting fails before anything starts.
func (p *Passwords) Validate() error {
	var errs []error
	if err := (password.Policy{MinLen: p.MinLength}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--password-min-length: %w", err))
	}
	if err := p.Argon.Validate(); err != nil {
		errs = append(errs, err) // names the parameter: argon2 memory m=...
	} else if !p.InsecureWeakHash && WeakArgon2id(p.Argon.MemoryKiB, p.Argon.Time) {
		errs = append(errs, fmt.Errorf("--argon2-memory %d with --argon2-time %d is weaker than OWASP's minimum: use at least one of %s (KiB/passes), or add --insecure-weak-hash for a test",
			p.Argon.MemoryKiB, p.Argon.Time, owaspPairs()))
	}
	return errors.Join(errs...)
}
