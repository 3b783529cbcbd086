package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/credshield/credshield/token"
)

// Proof algorithms this package signs and checks. Each maps to one key type:
// Ed25519, ECDSA P-256, RSA of at least 2048 bits.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// ProofType is the typ header of a DPoP proof (RFC 9449 §4.2). It keeps a
// proof from being accepted as an access token or ID token, and the reverse.
const ProofType = "dpop+jwt"

// jtiBytes is the size of the random jti NewProof generates: 128 bits, well
// above the 96 RFC 9449 §4.2 asks for.
const jtiBytes = 16

// proofClaims is the payload NewProof writes.
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// NewProof returns a DPoP proof JWT (RFC 9449 §4.2) for one request: typ
// dpop+jwt, the public half of key in the jwk header, a random jti read from
// rand, iat = now, htm and htu (its query and fragment removed, as §4.2
// says), ath = AccessTokenHash(accessToken) when accessToken is not empty,
// and nonce when it is not empty. alg must be EdDSA, ES256 or RS256 and
// suit key. ECDSA and RSA signing draw their randomness from crypto/rand.
func NewProof(key crypto.Signer, alg, htm, htu string, now time.Time, accessToken, nonce string, rand io.Reader) (string, error) {
	if err := checkKey(key.Public(), alg); err != nil {
		return "", fmt.Errorf("new dpop proof: %w", err)
	}
	if htm == "" {
		return "", errors.New("new dpop proof: empty method")
	}
	target, err := normalizeURL(htu)
	if err != nil {
		return "", fmt.Errorf("new dpop proof: htu: %w", err)
	}
	var id [jtiBytes]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("new dpop proof: jti: %w", err)
	}
	c := proofClaims{
		JTI:   base64.RawURLEncoding.EncodeToString(id[:]),
		HTM:   htm,
		HTU:   target,
		IAT:   now.Unix(),
		Nonce: nonce,
	}
	if accessToken != "" {
		c.ATH = AccessTokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("new dpop proof: %w", err)
	}
	var sk any = key
	switch key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey: // go-jose signs these natively
	default:
		sk = cryptosigner.Opaque(key) // an HSM or agent key
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(ProofType)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: sk}, opts)
	if err != nil {
		return "", fmt.Errorf("new dpop proof: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("new dpop proof: %w", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("new dpop proof: %w", err)
	}
	return out, nil
}

// AccessTokenHash returns the ath value for an access token (RFC 9449 §4.2):
// base64url, unpadded, of the SHA-256 of its ASCII bytes.
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of pub, base64url
// unpadded: the jkt a DPoP-bound token carries in cnf (RFC 9449 §6.1). It
// is token.Thumbprint, the same function that names credshield's own keys.
func Thumbprint(pub crypto.PublicKey) (string, error) { return token.Thumbprint(pub) }

// checkKey reports whether pub is a key type and size alg may use, by the
// same rule as credshield's signing keys.
func checkKey(pub crypto.PublicKey, alg string) error {
	if err := token.CheckPublicKey(pub, alg); err != nil {
		return fmt.Errorf("%w: %T key cannot be used with %q", ErrAlgorithm, pub, alg)
	}
	return nil
}
