package config

import (
	"errors"
	"fmt"

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
}

// DefaultPasswords returns OWASP's argon2id minimum and NIST's length.
func DefaultPasswords() Passwords {
	return Passwords{Argon: password.DefaultParams(), MinLength: password.DefaultMinLen}
}

// RegisterFlags binds the argon2id parameters and the minimum length to
// flags on fs, with p's current values as defaults.
func (p *Passwords) RegisterFlags(fs *pflag.FlagSet) {
	fs.Uint32Var(&p.Argon.MemoryKiB, "argon2-memory", p.Argon.MemoryKiB, "argon2id memory per hash in KiB (OWASP minimum 19456)")
	fs.Uint32Var(&p.Argon.Time, "argon2-time", p.Argon.Time, "argon2id passes")
	fs.Uint8Var(&p.Argon.Threads, "argon2-threads", p.Argon.Threads, "argon2id parallelism")
	fs.IntVar(&p.MinLength, "password-min-length", p.MinLength,
		"least number of characters of a new password (8..64; 15 is NIST's minimum for a password used alone)")
}

// Validate checks the minimum length against the password policy's
// bounds and the argon2id parameters against what package password
// accepts, so a bad setting fails before anything starts.
func (p *Passwords) Validate() error {
	var errs []error
	if err := (password.Policy{MinLen: p.MinLength}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--password-min-length: %w", err))
	}
	if err := p.Argon.Validate(); err != nil {
		errs = append(errs, err) // names the parameter: argon2 memory m=...
	}
	return errors.Join(errs...)
}
