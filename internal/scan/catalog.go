package scan

import (
	"fmt"
	"strings"
)

// Severity ranks a finding. The zero value is not a severity.
type Severity int

// Severities, lowest first, so that they compare with < and >.
const (
	Low Severity = iota + 1
	Medium
	High
	Critical
)

// String returns the lower-case name used in every output format.
func (s Severity) String() string {
	switch s {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity reads a severity name, as --fail-on takes it.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range []Severity{Low, Medium, High, Critical} {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("severity %q: want critical, high, medium or low", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Check ids. They are the contract with users (CI filters, SARIF rule ids,
// suppressions): never rename one.
const (
	JWTAlgNone          = "jwt.alg-none"
	JWTSigNotVerified   = "jwt.signature-not-verified"
	JWTWeakSecret       = "jwt.weak-secret"
	JWTKeyConfusion     = "jwt.key-confusion"
	JWTEmbeddedJWK      = "jwt.embedded-jwk"
	JWTKidInjection     = "jwt.kid-injection"
	JWTPsychicSignature = "jwt.psychic-signature"
	JWTExpiredAccepted  = "jwt.expired-accepted"
	JWTClaimNotChecked  = "jwt.claim-not-validated"
	JWTNoExpiry         = "jwt.no-expiry"
	JWTLongLifetime     = "jwt.long-lifetime"
	JWTSymmetricAlg     = "jwt.symmetric-alg"
	JWTNotSenderBound   = "jwt.not-sender-constrained"
	RateLimitMissing    = "ratelimit.missing"
	RateLimitUsername   = "ratelimit.username-only"
	RateLimitHeader     = "ratelimit.header-bypass"
	EnumResponse        = "enum.response"
	EnumTiming          = "enum.timing"
	CORSReflected       = "cors.reflected-origin"
)

// Rule describes one check: what it finds, how bad it is, how to fix it.
type Rule struct {
	ID          string
	Severity    Severity
	Title       string
	Description string // why it matters, for SARIF's fullDescription
	Remediation string
	CWE         []int
	OWASP       []string // OWASP API Security Top 10 2023 ids, e.g. "API2:2023"
	Extra       []string // further reference URLs (RFCs, CVEs)
}

// References lists the rule's OWASP, CWE and other references as URLs.
func (r Rule) References() []string {
	var out []string
	for _, o := range r.OWASP {
		out = append(out, owaspURL[o])
	}
	for _, c := range r.CWE {
		out = append(out, fmt.Sprintf("https://cwe.mitre.org/data/definitions/%d.html", c))
	}
	return append(out, r.Extra...)
}

var owaspURL = map[string]string{
	"API2:2023": "https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/",
	"API4:2023": "https://owasp.org/API-Security/editions/2023/en/0xa4-unrestricted-resource-consumption/",
	"API8:2023": "https://owasp.org/API-Security/editions/2023/en/0xa8-security-misconfiguration/",
}

const (
	rfc8725 = "https://www.rfc-editor.org/rfc/rfc8725"
	rfc9449 = "https://www.rfc-editor.org/rfc/rfc9449"
)

// Rules returns every check the scanner knows, most severe first, in a
// fixed order (SARIF rule indexes depend on it).
func Rules() []Rule {
	return []Rule{
		{JWTAlgNone, Critical, "Tokens with alg \"none\" are accepted",
			"The server accepts an unsigned token (alg none): anyone can mint a token with any claims.",
			"Verify with an allow-list of algorithms fixed by the key (never the token's alg header); refuse \"none\" in every spelling.",
			[]int{347, 327}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTSigNotVerified, Critical, "Token signatures are not verified",
			"A token whose payload was changed, or whose signature was removed, is still accepted: the signature is decoded but never checked.",
			"Verify the signature before reading any claim (for example PyJWT's jwt.decode with a key and algorithms=[...], never verify_signature=False or an unverified decode).",
			[]int{347}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTWeakSecret, Critical, "The HMAC signing secret is guessable",
			"The token's HS* secret was recovered offline from one token, and a token forged with it was accepted: anyone holding one token can mint any other.",
			"Replace the secret with at least 256 random bits from a secrets manager, rotate it now (every issued token is forgeable), and prefer an asymmetric algorithm (EdDSA, ES256) so verifiers cannot mint tokens.",
			[]int{1391, 798}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTKeyConfusion, Critical, "HS256 tokens signed with the public key are accepted (algorithm confusion)",
			"The server uses the published public key as an HMAC secret when the token says HS256: anyone can forge tokens with the public JWKS.",
			"Bind each key to one algorithm and ignore the token's alg for key selection; never pass the public key to an HMAC verifier.",
			[]int{347, 327}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTEmbeddedJWK, Critical, "Tokens are verified with a key they carry themselves",
			"A token signed with the scanner's own key and carrying that key in its jwk header was accepted.",
			"Ignore jwk, jku, x5u and x5c headers; verify only with keys you configured or fetched from your own JWKS.",
			[]int{347}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTKidInjection, Critical, "The kid header selects attacker-controlled key material",
			"A token whose kid points at a predictable file or an injected query result, signed with the matching value, was accepted.",
			"Treat kid as an opaque map key into your own key set; never use it in a file path, URL or query.",
			[]int{22, 89, 347}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTPsychicSignature, Critical, "ECDSA signatures of zeros are accepted (psychic signatures)",
			"A token with an ECDSA signature of r = s = 0 was accepted, the bug of CVE-2022-21449 (Java 15–18).",
			"Update the JDK (17.0.3, 18.0.1 or later) or the verifying library; reject r or s outside [1, n-1].",
			[]int{347}, []string{"API2:2023"}, []string{"https://nvd.nist.gov/vuln/detail/CVE-2022-21449"}},
		{JWTExpiredAccepted, High, "Expired tokens are accepted",
			"A token whose exp lies an hour in the past was accepted, so a stolen token never stops working.",
			"Check exp (and nbf, iat) on every request with a small leeway (at most a minute).",
			[]int{613}, []string{"API2:2023"}, []string{rfc8725}},
		{RateLimitMissing, High, "Login attempts are not rate limited",
			"Dozens of failed logins from one client were answered without any throttling: credential stuffing and password guessing run at full speed.",
			"Limit failed logins per client address (IPv6: per /64) and per network, add a global failure-rate signal that switches untrusted clients to a challenge, and answer 429 with Retry-After.",
			[]int{307}, []string{"API2:2023", "API4:2023"}, nil},
		{RateLimitUsername, High, "Login rate limiting is per username only",
			"Repeated failures for one username are throttled, but the same client rotating usernames never is: credential stuffing tries each username once and is never stopped. A per-username lockout also lets anyone lock real users out.",
			"Limit failures per client address and network (and per username and address) as well; keep a username limit only with a trusted-device exemption so owners are not locked out.",
			[]int{307}, []string{"API2:2023", "API4:2023"}, nil},
		{RateLimitHeader, High, "A spoofed forwarding header resets the rate limit",
			"After the client was throttled, the same client sending X-Forwarded-For, X-Real-IP or Forwarded with an address of its choice was let through: the limiter trusts a header the client writes.",
			"Read the client address from the socket; trust one forwarding header only from configured proxy addresses, taking the right-most address that is not a trusted proxy.",
			[]int{348, 307}, []string{"API2:2023", "API4:2023"}, nil},
		{EnumResponse, Medium, "Login responses reveal whether a username exists",
			"A failed login for an unknown username is answered differently (status, body or headers) from a wrong password for a real one.",
			"Answer every failed login identically (for example 400 invalid_grant, one description), whatever the reason.",
			[]int{204}, []string{"API2:2023"}, nil},
		{EnumTiming, Medium, "Login timing reveals whether a username exists",
			"Failed logins for a real username take measurably longer (or shorter) than for an unknown one, typically because the password hash runs only for real users.",
			"Do the same work for unknown users (verify against a dummy hash) and pad every failure to one fixed floor.",
			[]int{208}, []string{"API2:2023"}, nil},
		{JWTNoExpiry, Medium, "Tokens without expiry are issued or accepted",
			"The issued token has no exp claim, or a token without one was accepted: such a token works forever once stolen.",
			"Issue every access token with exp (minutes, not days) and require exp when verifying.",
			[]int{613}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTClaimNotChecked, Medium, "Token claims (nbf, iss or aud) are not validated",
			"A token that is not yet valid, or names another issuer or audience, was accepted: tokens minted for other services or environments are honoured here.",
			"Require iss and aud to equal your issuer and this API's audience, and check nbf.",
			[]int{345}, []string{"API2:2023"}, []string{rfc8725}},
		{CORSReflected, Medium, "CORS reflects any Origin",
			"The API echoes an arbitrary Origin in Access-Control-Allow-Origin, so any web page can call it from a victim's browser and read the answers.",
			"Allow only a fixed list of origins; never reflect the request's Origin, and never combine a wildcard with credentials.",
			[]int{942}, []string{"API8:2023"}, nil},
		{JWTLongLifetime, Low, "Access tokens live longer than an hour",
			"The access token's lifetime exceeds one hour, widening the window in which a stolen token works.",
			"Issue access tokens for minutes (5–15) and use refresh tokens with rotation for longer sessions.",
			[]int{613}, []string{"API2:2023"}, nil},
		{JWTSymmetricAlg, Low, "Access tokens use a shared HMAC secret",
			"HS* tokens are verified with the secret that signs them: every service that verifies tokens can also mint them, and one leak compromises all.",
			"Sign with an asymmetric algorithm (EdDSA, ES256, RS256) and publish the public keys in a JWKS.",
			[]int{522}, []string{"API2:2023"}, []string{rfc8725}},
		{JWTNotSenderBound, Low, "Access tokens are bearer tokens, not sender-constrained",
			"The token carries no confirmation (cnf) claim: a token stolen from a log, a proxy or a browser replays from anywhere.",
			"Bind tokens to a client key with DPoP (RFC 9449) or mutual TLS (RFC 8705), and reject unbound use.",
			[]int{294}, []string{"API2:2023"}, []string{rfc9449}},
	}
}

// rule returns the catalogue entry for id; ids are constants, so a miss
// is a bug.
func rule(id string) Rule {
	for _, r := range Rules() {
		if r.ID == id {
			return r
		}
	}
	panic("scan: unknown check id " + id)
}
