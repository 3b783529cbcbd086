package store

import "time"

// Screening is an account's password-screening state (migration 00007).
// The zero value is the state of an account whose password was screened
// when it was set and passed.
type Screening struct {
	// Pending: the password was never screened (an imported hash); it is
	// screened at the next successful login, when the plaintext is at hand.
	Pending bool
	// ChangeRequired: the password was found common or breached after it
	// was set; the login succeeded, but the account must choose another.
	ChangeRequired bool
}

// BreachFilter records the breached-password filter last imported: every
// replica should map a file with this digest.
type BreachFilter struct {
	Digest     string // hex SHA-256 identity of the filter (package breach)
	Entries    uint64
	MinCount   uint64
	ImportedAt time.Time
}
