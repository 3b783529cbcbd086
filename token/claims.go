package token

import (
	"encoding/json"
	"fmt"
	"time"
)

// TypeAccessToken is the typ header of an RFC 9068 JWT access token. It keeps
// an access token from being accepted where another kind of JWT (an ID token,
// a DPoP proof) is expected, and the reverse.
const TypeAccessToken = "at+jwt"

// Claims are the claims of an access token: RFC 9068 §2.2 plus the
// username the token was issued to. Audience is a single value in tokens Sign
// produces; when verifying, aud may be a string or an array. Zero times mean
// absent (NotBefore is optional; the others are required by Sign and Verify).
type Claims struct {
	Issuer    string    // iss: must equal the verifier's configured issuer
	Subject   string    // sub: stable user id
	Audience  []string  // aud: the resource servers the token is meant for
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf (optional)
	IssuedAt  time.Time // iat
	ID        string    // jti: unique token id, for revocation and replay checks
	ClientID  string    // client_id: the OAuth client it was issued to
	Scope     string    // scope: space-separated scopes
	Username  string    // username: the login name, for display
	// JKT is cnf.jkt (RFC 9449 §6.1): the RFC 7638 thumbprint of the DPoP
	// key the token is bound to, "" for a bearer token. A bound token is
	// worth nothing without a proof signed by that key.
	JKT string
	// AccountEpoch is the private claim "ae": the epoch of the account
	// when the token was issued. credshield raises the epoch on every
	// change to the account's credentials or state (a password reset, a
	// disable, an enable, a change of its scopes), and a token whose epoch
	// is not the account's current one is dead; second-resolution iat
	// cannot tell a token issued just before a reset from one just after.
	// A token without the claim reads as epoch 0. Token verification does
	// not check it (it needs the account): the resource does.
	AccountEpoch uint32
}

// jktLen is the length of a base64url SHA-256 thumbprint (32 bytes, no padding).
const jktLen = 43

// wireClaims is the JSON form Sign writes.
type wireClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      any      `json:"aud"`
	Exp      int64    `json:"exp"`
	Nbf      *int64   `json:"nbf,omitempty"`
	Iat      int64    `json:"iat"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	Username string   `json:"username,omitempty"`
	Cnf      *wireCnf `json:"cnf,omitempty"`
	AE       uint32   `json:"ae,omitempty"`
}

// wireCnf is the confirmation claim (RFC 7800) of a DPoP-bound token.
type wireCnf struct {
	JKT string `json:"jkt"`
}

// marshalClaims returns the JSON payload for c, refusing claims the verifier
// requires but c lacks.
func marshalClaims(c *Claims) ([]byte, error) {
	switch {
	case c.Issuer == "", c.Subject == "", c.ID == "", len(c.Audience) == 0,
		c.ExpiresAt.IsZero(), c.IssuedAt.IsZero():
		return nil, fmt.Errorf("%w: iss, sub, aud, exp, iat and jti are required", ErrClaims)
	}
	for _, a := range c.Audience {
		if a == "" {
			return nil, fmt.Errorf("%w: empty audience", ErrClaims)
		}
	}
	w := wireClaims{
		Iss: c.Issuer, Sub: c.Subject, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Jti: c.ID,
		ClientID: c.ClientID, Scope: c.Scope, Username: c.Username, AE: c.AccountEpoch,
	}
	if c.JKT != "" {
		if !validJKT(c.JKT) {
			return nil, fmt.Errorf("%w: jkt is not a base64url SHA-256 thumbprint", ErrClaims)
		}
		w.Cnf = &wireCnf{JKT: c.JKT}
	}
	if len(c.Audience) == 1 {
		w.Aud = c.Audience[0]
	} else {
		w.Aud = c.Audience
	}
	if !c.NotBefore.IsZero() {
		nbf := c.NotBefore.Unix()
		w.Nbf = &nbf
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("marshal claims: %w", err)
	}
	return b, nil
}

// validJKT reports whether s is the canonical unpadded base64url encoding of
// 32 bytes, as every SHA-256 JWK thumbprint is.
func validJKT(s string) bool {
	if len(s) != jktLen {
		return false
	}
	var sum [32]byte
	n, err := b64.Decode(sum[:], []byte(s))
	return err == nil && n == len(sum)
}
