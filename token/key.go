package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1). Only these three are
// ever accepted; each key is bound to exactly one of them.
const (
	EdDSA = "EdDSA" // Ed25519; the default: small keys, fast, deterministic
	ES256 = "ES256" // ECDSA P-256 with SHA-256, for clients without Ed25519
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, for the oldest clients
)

// rsaBits is the size of generated RSA keys; rsaMinBits the smallest loaded.
const (
	rsaBits    = 3072
	rsaMinBits = 2048
)

// ErrUnsupportedAlg reports an algorithm other than EdDSA, ES256 or RS256, or a
// key that does not match its algorithm.
var ErrUnsupportedAlg = errors.New("token: unsupported algorithm")

// Key is one signing key. ID is the RFC 7638 JWK thumbprint (base64url
// SHA-256) of the public key, so the kid in a token names one public key and
// nothing else. Alg is the only algorithm the key is used with.
//
// NotBefore is when the key starts signing: a staged key (see Rotate) is
// published in the JWKS from the moment it is written but signs only from
// NotBefore, so verifiers that cache the JWKS have it before they meet a
// token it signed. It equals Created for a key that signs at once.
//
// A Key is not modified after creation and is safe for concurrent use.
type Key struct {
	ID        string
	Alg       string
	Created   time.Time
	NotBefore time.Time
	Signer    crypto.Signer // private; never serialised except to the key file
	Public    crypto.PublicKey
}

// GenerateKey creates a key for alg (RSA 3072 for RS256). rand feeds Ed25519
// key generation; since Go 1.26 ECDSA and RSA generation always use the
// system's secure source and ignore it.
func GenerateKey(rand io.Reader, alg string, now time.Time) (*Key, error) {
	var signer crypto.Signer
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("generate ed25519 key: %w", err)
		}
		signer = priv
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("generate p-256 key: %w", err)
		}
		signer = priv
	case RS256:
		priv, err := rsa.GenerateKey(rand, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate rsa key: %w", err)
		}
		signer = priv
	default:
		return nil, fmt.Errorf("generate key: %w: %q", ErrUnsupportedAlg, alg)
	}
	created := now.UTC().Truncate(time.Second)
	return newKey(signer, alg, created, created)
}

// newKey checks that signer suits alg and computes the kid.
func newKey(signer crypto.Signer, alg string, created, notBefore time.Time) (*Key, error) {
	pub := signer.Public()
	if err := CheckPublicKey(pub, alg); err != nil {
		return nil, err
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return nil, err
	}
	return &Key{ID: kid, Alg: alg, Created: created, NotBefore: notBefore, Signer: signer, Public: pub}, nil
}

// CheckPublicKey reports whether pub is a key type and size alg may use:
// Ed25519 for EdDSA, P-256 for ES256, RSA of at least 2048 bits for RS256.
// Every place that accepts a public key for an algorithm (our key files,
// DPoP proofs) asks this one function, so they cannot disagree.
func CheckPublicKey(pub crypto.PublicKey, alg string) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg == EdDSA && len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if alg == RS256 && k.N.BitLen() >= rsaMinBits {
			return nil
		}
	}
	return fmt.Errorf("%w: %T key cannot be used with %q", ErrUnsupportedAlg, pub, alg)
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: base64url (no
// padding) of the SHA-256 of its canonical JWK members.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// PEM block type and headers of a key file.
const (
	pemType            = "PRIVATE KEY"
	pemHeaderAlg       = "Alg"
	pemHeaderCreated   = "Created"
	pemHeaderNotBefore = "NotBefore"
)

// marshalKeyFile encodes k as a PKCS#8 PEM block with Alg, Created and
// NotBefore headers.
func marshalKeyFile(k *Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("marshal pkcs8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{
		Type: pemType,
		Headers: map[string]string{
			pemHeaderAlg:       k.Alg,
			pemHeaderCreated:   k.Created.UTC().Format(time.RFC3339),
			pemHeaderNotBefore: k.NotBefore.UTC().Format(time.RFC3339),
		},
		Bytes: der,
	}), nil
}

// parseKeyFile decodes a key file written by marshalKeyFile. It refuses
// anything else: trailing data, a missing header, a key that does not suit
// its Alg header. A missing NotBefore (files written before staged
// rotation) means the key signed from its creation.
func parseKeyFile(data []byte) (*Key, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, errors.New("no PRIVATE KEY pem block")
	}
	if len(rest) != 0 {
		return nil, errors.New("data after the pem block")
	}
	alg := block.Headers[pemHeaderAlg]
	created, err := time.Parse(time.RFC3339, block.Headers[pemHeaderCreated])
	if err != nil {
		return nil, fmt.Errorf("created header: %w", err)
	}
	notBefore := created
	if nb, ok := block.Headers[pemHeaderNotBefore]; ok {
		if notBefore, err = time.Parse(time.RFC3339, nb); err != nil {
			return nil, fmt.Errorf("notbefore header: %w", err)
		}
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse pkcs8: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", priv)
	}
	return newKey(signer, alg, created.UTC(), notBefore.UTC())
}
