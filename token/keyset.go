package token

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/credshield/credshield/internal/privdir"
)

// maxKeyFileSize bounds what Dir reads from one file (an RSA 4096
// PKCS#8 PEM is about 3.3 KiB).
const maxKeyFileSize = 64 << 10

// ErrKeyFile reports a key file that Dir refuses to use: readable by
// group or others, not a regular file, unparsable, or named for another key.
var ErrKeyFile = errors.New("token: bad key file")

// KeySet holds every known signing key and which one signs when. Old keys
// stay in it (and in the JWKS) so tokens they signed still verify, until
// Reload retires them; staged keys are in it before they sign.
//
// The signing key at a time t is the key of the set's algorithm with the
// latest NotBefore not after t (ties: later Created, then larger ID). A
// KeySet is built by LoadOrCreate or Load; the zero value holds no keys
// (Sign fails, lookups find nothing). All methods are safe for concurrent
// use: readers see an immutable snapshot swapped in atomically, so
// verification never takes a lock.
type KeySet struct {
	snap atomic.Pointer[keySnapshot]
	src  KeySource // what Reload re-reads; nil when not loaded from one
}

// keySnapshot is one immutable state of a KeySet.
type keySnapshot struct {
	alg     string // the algorithm that signs
	keys    []*Key // sorted by Created, then ID
	signers []*Key // the keys of alg, latest NotBefore first
	byID    map[string]*Key
}

// newSnapshot builds a snapshot of keys signing with alg.
func newSnapshot(keys []*Key, alg string) *keySnapshot {
	s := &keySnapshot{alg: alg, keys: slices.Clone(keys), byID: make(map[string]*Key, len(keys))}
	slices.SortFunc(s.keys, func(a, b *Key) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	for _, k := range s.keys {
		s.byID[k.ID] = k
		if k.Alg == alg {
			s.signers = append(s.signers, k)
		}
	}
	slices.SortFunc(s.signers, func(a, b *Key) int { return -activationOrder(a, b) })
	return s
}

// activationOrder orders keys by when they start signing.
func activationOrder(a, b *Key) int {
	return cmp.Or(a.NotBefore.Compare(b.NotBefore), a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
}

// newKeySet returns a KeySet holding keys, signing with alg.
func newKeySet(keys []*Key, alg string) *KeySet {
	ks := &KeySet{}
	ks.snap.Store(newSnapshot(keys, alg))
	return ks
}

func (ks *KeySet) load() *keySnapshot {
	if s := ks.snap.Load(); s != nil {
		return s
	}
	return &keySnapshot{}
}

// LoadOrCreate loads every key src holds and returns the set with the
// newest key of alg active, adding a new key of alg to src first when it
// holds none. The check and the addition are one UpdateKeys, so replicas
// sharing a store that start together create one key, not one each; a
// source that does not exist yet (a Dir not yet created) holds no keys
// and is created by that update. Keys of other algorithms stay in the set
// and the JWKS. Reload re-reads src.
//
// With Dir, keys are files (see Dir for the format and the permission
// checks): a new key is written 0600, atomically, in a directory created
// 0700 if needed.
func LoadOrCreate(ctx context.Context, src KeySource, alg string, rand io.Reader, now time.Time) (*KeySet, error) {
	if err := checkAlg(alg); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	keys, err := src.LoadKeys(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if newestOf(keys, alg) == nil {
		k, err := GenerateKey(rand, alg, now)
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
		err = src.UpdateKeys(ctx, func(cur []*Key) ([]*Key, []string, error) {
			keys = cur
			if newestOf(cur, alg) != nil {
				return nil, nil, nil // another process created one meanwhile
			}
			keys = append(slices.Clone(cur), k)
			return []*Key{k}, nil, nil
		})
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
	}
	ks := newKeySet(keys, alg)
	ks.src = src
	return ks, nil
}

// checkAlg refuses algorithms other than EdDSA, ES256 and RS256.
func checkAlg(alg string) error {
	if alg != EdDSA && alg != ES256 && alg != RS256 {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	return nil
}

// checkDir creates dir (0700) if needed, refusing a directory group or
// others may write to or another user owns (the one check every key
// directory gets, package privdir).
func checkDir(dir string) error {
	if err := privdir.Ensure(dir); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return nil
}

// Reload re-reads the source the set was loaded from, so keys that
// `credshield keys rotate` (or another replica) staged or switched to take
// effect in a running server, and drops the keys retired at now (see
// Retired). The active key never retires. On error the set is unchanged. A
// set not loaded from a source only drops retired keys.
func (ks *KeySet) Reload(ctx context.Context, now time.Time, retireAfter time.Duration) error {
	cur := ks.load()
	keys := cur.keys
	if ks.src != nil {
		var err error
		if keys, err = ks.src.LoadKeys(ctx); err != nil {
			return fmt.Errorf("reload keys: %w", err)
		}
	}
	retired := Retired(keys, cur.alg, now, retireAfter)
	live := slices.DeleteFunc(slices.Clone(keys), func(k *Key) bool { return retired[k.ID] })
	next := newSnapshot(live, cur.alg)
	if next.activeAt(now) == nil {
		return fmt.Errorf("reload keys: no %s key in the set", cur.alg)
	}
	ks.snap.Store(next)
	return nil
}

// Retired returns the IDs of keys no unexpired token can name at now: keys
// superseded by a key of alg that started signing more than retireAfter
// (the access-token lifetime plus the verifiers' leeway) before now. A key
// that has not been superseded (the active one, staged ones) never retires;
// retireAfter <= 0 retires nothing.
func Retired(keys []*Key, alg string, now time.Time, retireAfter time.Duration) map[string]bool {
	retired := map[string]bool{}
	if retireAfter <= 0 {
		return retired
	}
	for _, k := range keys {
		for _, next := range keys {
			// next superseded k if it is of alg, activates after k,
			// and has activated, long enough ago.
			if next.Alg == alg && activationOrder(next, k) > 0 && !next.NotBefore.After(now) &&
				!next.NotBefore.Add(retireAfter).After(now) {
				retired[k.ID] = true
				break
			}
		}
	}
	return retired
}

// Rotate adds a new key of alg to src that signs from notBefore and is
// published at once: every KeySet that reloads src puts it in its JWKS now
// and signs with it from notBefore. notBefore should be at least the
// verifiers' JWKS cache lifetime away; now for an emergency rotation. Keys
// retired at now (see Retired) are deleted in the same UpdateKeys: with a
// shared store, under its lock. Rotate returns the new key and the IDs of
// the deleted keys.
//
// due, when not nil, is asked inside that same update with the keys src
// holds then; when it says no, nothing changes and Rotate returns a nil
// key. So replicas that all decide a rotation is due rotate once: the
// first adds a key, the others find it when their turn comes. The key is
// generated before the update, to keep the lock short.
func Rotate(ctx context.Context, src KeySource, alg string, rand io.Reader, now, notBefore time.Time, retireAfter time.Duration, due func(keys []*Key) bool) (*Key, []string, error) {
	if err := checkAlg(alg); err != nil {
		return nil, nil, fmt.Errorf("rotate keys: %w", err)
	}
	k, err := GenerateKey(rand, alg, now)
	if err != nil {
		return nil, nil, fmt.Errorf("rotate keys: %w", err)
	}
	if nb := notBefore.UTC().Truncate(time.Second); nb.After(k.Created) {
		k.NotBefore = nb
	}
	var added *Key
	var removed []string
	err = src.UpdateKeys(ctx, func(keys []*Key) ([]*Key, []string, error) {
		added, removed = nil, nil
		if due != nil && !due(keys) {
			return nil, nil, nil
		}
		// Key files keep times to the second, and on a tie activation
		// order falls to the random ID: a key rotated in the second
		// another key of alg activates might never sign. Such a key
		// signs from the next second instead.
		olds := slices.SortedFunc(slices.Values(keys), activationOrder)
		for _, old := range olds {
			if old.Alg == alg && old.NotBefore.Truncate(time.Second).Equal(k.NotBefore.Truncate(time.Second)) {
				k.NotBefore = old.NotBefore.Truncate(time.Second).Add(time.Second)
			}
		}
		for id := range Retired(append(slices.Clone(keys), k), alg, now, retireAfter) {
			removed = append(removed, id)
		}
		slices.Sort(removed)
		added = k
		return []*Key{k}, removed, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rotate keys: %w", err)
	}
	return added, removed, nil
}

// Load reads every key src holds, as LoadOrCreate does, but never adds
// one (nor creates a directory): it is for tools that inspect keys
// (credshield keys list). The active key is the newest of alg; Active
// returns nil when src holds none, and a source that does not exist yet
// is an empty set.
func Load(ctx context.Context, src KeySource, alg string) (*KeySet, error) {
	keys, err := src.LoadKeys(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	return newKeySet(keys, alg), nil
}

// loadKeys reads every key file in dir.
func loadKeys(dir string) ([]*Key, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var keys []*Key
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".pem") || strings.HasPrefix(name, ".") {
			continue
		}
		k, err := loadKeyFile(dir, e)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// loadKeyFile reads and checks one key file.
func loadKeyFile(dir string, e fs.DirEntry) (*Key, error) {
	path := filepath.Join(dir, e.Name())
	info, err := e.Info() // lstat: a symlink is not a regular file
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible by group or others (mode %04o); use chmod 600",
			ErrKeyFile, path, perm)
	}
	if info.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKeyFile, path, maxKeyFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	if want := k.ID + ".pem"; e.Name() != want {
		return nil, fmt.Errorf("%w: %s holds key %s (file should be named %s)", ErrKeyFile, path, k.ID, want)
	}
	return k, nil
}

// newestOf returns the newest key of alg (ties broken by ID), or nil.
func newestOf(keys []*Key, alg string) *Key {
	var best *Key
	for _, k := range keys {
		if k.Alg != alg {
			continue
		}
		if best == nil || k.Created.After(best.Created) || (k.Created.Equal(best.Created) && k.ID > best.ID) {
			best = k
		}
	}
	return best
}

// writeKeyFile writes k to dir/<kid>.pem with mode 0600, atomically.
func writeKeyFile(dir string, k *Key) (err error) {
	data, err := marshalKeyFile(k)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+k.ID+".tmp-*")
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, k.ID+".pem")); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Active returns the key that signs tokens issued now, or nil when none
// does. It is ActiveAt(time.Now()).
func (ks *KeySet) Active() *Key { return ks.ActiveAt(time.Now()) }

// ActiveAt returns the key that signs tokens issued at now: the key of the
// set's algorithm with the latest NotBefore not after now. Before the first
// key's NotBefore (a clock stepped back) the first key signs: there is no
// older one. It is nil only when the set holds no key of its algorithm.
func (ks *KeySet) ActiveAt(now time.Time) *Key { return ks.load().activeAt(now) }

func (s *keySnapshot) activeAt(now time.Time) *Key {
	for _, k := range s.signers {
		if !k.NotBefore.After(now) {
			return k
		}
	}
	if len(s.signers) > 0 {
		return s.signers[len(s.signers)-1]
	}
	return nil
}

// Keys returns every key, oldest first (for `credshield keys list`; compare
// each ID with Active().ID to mark the active one). The slice is a copy; the
// keys are shared and must not be modified.
func (ks *KeySet) Keys() []*Key { return slices.Clone(ks.load().keys) }

// PublicKey returns the public key and algorithm of the key named kid. It
// is the verifier's only way to a key: kid is a map key and nothing more.
func (ks *KeySet) PublicKey(kid string) (pub crypto.PublicKey, alg string, ok bool) {
	k, ok := ks.load().byID[kid]
	if !ok {
		return nil, "", false
	}
	return k.Public, k.Alg, true
}

// JWKS returns the public keys as a JSON Web Key Set (RFC 7517 §5), each with
// kid, alg and use "sig", for /.well-known/jwks.json. It never contains
// private key material.
func (ks *KeySet) JWKS() ([]byte, error) {
	s := ks.load()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("marshal jwks: %w", err)
	}
	return b, nil
}

// ErrClaims reports claims that Sign refuses to put in a token because the
// verifier would refuse the token.
var ErrClaims = errors.New("token: invalid claims")

// Sign returns a JWS compact token for c with the protected header
// {"alg":<alg>,"typ":"at+jwt","kid":<kid>}, signed by the key active at
// c.IssuedAt (so the switch to a staged key happens exactly at its
// NotBefore, with time a parameter). Numeric dates are written as whole
// seconds. It refuses claims the verifier would reject for being absent
// (iss, sub, aud, exp, iat, jti).
func (ks *KeySet) Sign(c Claims) (string, error) {
	payload, err := marshalClaims(&c)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	k := ks.ActiveAt(c.IssuedAt)
	if k == nil {
		return "", errors.New("sign token: key set has no active key")
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{k.Alg, TypeAccessToken, k.ID})
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(enc.EncodedLen(len(header)) + enc.EncodedLen(len(payload)) + 600)
	b.WriteString(enc.EncodeToString(header))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	sig, err := signInput(k, []byte(b.String()))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	return b.String(), nil
}

// signInput signs a JWS signing input with k, returning the JWS signature
// bytes (for ES256 the fixed 64-byte r||s of RFC 7518 §3.4, not ASN.1).
func signInput(k *Key, input []byte) ([]byte, error) {
	switch k.Alg {
	case EdDSA:
		return k.Signer.Sign(rand.Reader, input, crypto.Hash(0))
	case ES256:
		sum := sha256.Sum256(input)
		der, err := k.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return ecdsaRawSignature(der, 32)
	case RS256:
		sum := sha256.Sum256(input)
		return k.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, k.Alg)
}

// ecdsaRawSignature converts an ASN.1 ECDSA signature to r||s, each
// left-padded to size bytes.
func ecdsaRawSignature(der []byte, size int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("malformed ecdsa signature")
	}
	out := make([]byte, 2*size)
	if !fitInto(out[:size], r) || !fitInto(out[size:], s) {
		return nil, errors.New("ecdsa signature value too large")
	}
	return out, nil
}

// fitInto copies the big-endian unsigned integer v right-aligned into dst.
func fitInto(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}
