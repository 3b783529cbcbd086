package store

import "time"

// SigningKey is a token-signing key as the store keeps it: what lists and
// orders keys in the clear, the private key only sealed (package seal,
// bound to ID) under a key-encryption key the database never holds.
type SigningKey struct {
	ID        string // the RFC 7638 thumbprint (kid)
	Alg       string
	Created   time.Time // stored to the millisecond
	NotBefore time.Time // when it starts signing; stored to the millisecond
	Sealed    []byte    // the sealed private key (opaque to the store)
}

// KeyChange is what an UpdateSigningKeys callback asks the store to do, in
// the same transaction and under the same lock as the read it saw: delete
// the keys named in Delete, then insert Add (so a key can be replaced, for
// example re-sealed under a new key-encryption key, by naming it in both).
type KeyChange struct {
	Add    []SigningKey
	Delete []string
}
