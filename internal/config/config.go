// Package config holds credshield's typed configuration: defaults, the flags
// that set it, the CREDSHIELD_* environment variables that stand in for flags,
// and the validation that runs before anything starts. Every part of the
// service is built from a validated value, so a bad setting fails at
// start with a message naming the flag, never later under load.
//
// A command's configuration is built from parts, each owning its flags
// (one RegisterFlags per part) and its checks: Defence, the login defence
// serve and protect share; Passwords, how new passwords are hashed; KEK,
// where the key-encryption key comes from. Serve embeds Defence and
// Passwords, Protect embeds Defence alone, and the commands that keep
// secrets bind a KEK beside them, so each command's flags are exactly the
// ones it reads. Values are typed as their flags are parsed (budgets,
// CIDRs, the device cookie's SameSite, argon2id parameters), so what
// Validate accepts is what the parts are built from, without parsing again.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/scope"
)

// Signing algorithms accepted by --signing-alg. Symmetric algorithms are
// deliberately absent: a shared HMAC secret lets every verifier mint tokens.
var signingAlgs = []string{"EdDSA", "ES256", "RS256"}

// DefaultKeyPublishLead is how long a staged key is published before it
// signs: twice the default JWKS cache lifetime of package verify (5 min), so
// every verifier has fetched it before the first token it signs arrives.
const DefaultKeyPublishLead = 10 * time.Minute

// MaxLeeway caps clock-skew tolerance on token time claims; more than a
// minute turns an expired token into a live one.
const MaxLeeway = 60 * time.Second

// Defaults serve and protect share.
const (
	defaultDataDir         = "./credshield-data"
	defaultListen          = "127.0.0.1:8080"
	defaultShutdownTimeout = 15 * time.Second
)

// Serve is the configuration of `credshield serve`: the token service's
// own settings, the login defence it shares with protect (Defence,
// embedded) and how it hashes passwords (Passwords, embedded). The zero
// value is not usable; start from Default and let flags and environment
// override it.
type Serve struct {
	Defence
	Passwords
	TLS

	DataDir     string
	DB          string // the store, --db (see ParseDB); "" is SQLite in DataDir
	Listen      string
	Issuer      string
	Audience    string
	SigningAlg  string
	AccessTTL   time.Duration
	Leeway      time.Duration
	CORSOrigins []string
	// AllowedScopes are the scopes any account may request (RFC 6749
	// §3.3 scope tokens); an account may also request those granted to it
	// alone (credshield user scopes). None by default.
	AllowedScopes []string

	// FailureFloor is the least time any failed login takes. The server
	// raises it at start to cover the slowest stored hash scheme, so the
	// configured value is only a lower bound.
	FailureFloor time.Duration

	ShutdownTimeout time.Duration

	// RequireDPoP makes sender-constrained tokens mandatory (RFC 9449):
	// /token needs a proof, protected resources refuse Bearer tokens.
	RequireDPoP bool
	// DPoPNonce makes DPoP proofs carry a server nonce (RFC 9449 §8).
	DPoPNonce bool
	// ResourceURL is the public base URL that /verify resolves a trusted
	// proxy's X-Original-URI against for DPoP htu checks (default: the
	// issuer).
	ResourceURL string

	// RefreshTTL is the absolute lifetime of a refresh-token family (from
	// the login); RefreshIdleTTL how long one refresh token stays usable
	// without being redeemed.
	RefreshTTL     time.Duration
	RefreshIdleTTL time.Duration
	// RefreshFamiliesPerUser caps a user's live refresh-token families;
	// a login beyond it revokes the oldest.
	RefreshFamiliesPerUser int

	// KeyPublishLead is how long a staged signing key is published in the
	// JWKS before it signs; it must outlast verifiers' JWKS caches.
	KeyPublishLead time.Duration
	// KeyRotationInterval stages a new signing key this often (0: never).
	KeyRotationInterval time.Duration

	// Set by Validate when the issuer (and audience) were derived from
	// --listen rather than given, so BindIssuer may replace a port 0.
	issuerFromListen, audienceFromIssuer, resourceFromIssuer bool
}

// BindIssuer replaces an issuer derived from --listen with the address the
// listener actually bound (which differs when --listen asks for port 0).
// A configured --issuer is never changed: it is the public URL.
func (c *Serve) BindIssuer(addr string) {
	if !c.issuerFromListen {
		return
	}
	c.Issuer = c.Scheme() + "://" + addr
	if c.audienceFromIssuer {
		c.Audience = c.Issuer
	}
	if c.resourceFromIssuer {
		c.ResourceURL = c.Issuer
	}
}

// Default returns the secure defaults: every one of them is safe without a
// flag.
func Default() Serve {
	return Serve{
		Defence:                DefaultDefence(),
		Passwords:              DefaultPasswords(),
		DataDir:                defaultDataDir,
		Listen:                 defaultListen,
		SigningAlg:             "EdDSA",
		AccessTTL:              15 * time.Minute,
		Leeway:                 30 * time.Second,
		FailureFloor:           0,
		ShutdownTimeout:        defaultShutdownTimeout,
		RefreshTTL:             30 * 24 * time.Hour,
		RefreshIdleTTL:         7 * 24 * time.Hour,
		RefreshFamiliesPerUser: 100,
		KeyPublishLead:         DefaultKeyPublishLead,
	}
}

// RegisterFlags binds every field of c to a flag on fs, with c's current
// values as defaults. Flag names are the documented interface; each has an
// environment variable twin (see ApplyEnv).
func (c *Serve) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (host:port)")
	c.TLS.RegisterFlags(fs)
	fs.StringVar(&c.Issuer, "issuer", c.Issuer, "public base URL of this service: the iss claim, metadata URLs and every URL the service compares against; https, or http on loopback (default http://<listen>, https://<listen> with --tls-cert); https without --tls-cert means a proxy in front ends TLS")
	fs.StringVar(&c.Audience, "audience", c.Audience, "aud claim of access tokens (default: the issuer)")
	fs.StringVar(&c.SigningAlg, "signing-alg", c.SigningAlg, "access-token signing algorithm: EdDSA, ES256 or RS256")
	fs.DurationVar(&c.AccessTTL, "access-token-ttl", c.AccessTTL, "lifetime of access tokens")
	fs.DurationVar(&c.Leeway, "leeway", c.Leeway, "clock-skew tolerance on exp/nbf/iat (at most 60s)")
	fs.StringSliceVar(&c.CORSOrigins, "cors-origins", c.CORSOrigins, "origins allowed to call the API from a browser (comma separated; none by default; * is refused)")
	fs.StringSliceVar(&c.AllowedScopes, "allowed-scopes", c.AllowedScopes, "scopes any account may request (comma separated; none by default); grant more to one account with 'credshield user scopes NAME --add SCOPE'; a request for any other scope is refused with invalid_scope")
	c.Passwords.RegisterFlags(fs)
	c.Defence.RegisterFlags(fs)
	fs.DurationVar(&c.FailureFloor, "failure-floor", c.FailureFloor, "least time a failed login takes (raised automatically to the slowest stored hash scheme)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time allowed for in-flight requests on SIGTERM")
	fs.BoolVar(&c.RequireDPoP, "require-dpop", c.RequireDPoP, "require DPoP-bound tokens (RFC 9449): /token needs a DPoP proof and Bearer tokens are refused")
	fs.BoolVar(&c.DPoPNonce, "dpop-nonce", c.DPoPNonce, "require a server nonce in DPoP proofs (DPoP-Nonce, use_dpop_nonce)")
	fs.StringVar(&c.ResourceURL, "resource-url", c.ResourceURL, "public base URL of the API behind /verify, for DPoP htu checks of X-Original-URI (default: the issuer)")
	fs.DurationVar(&c.RefreshTTL, "refresh-token-ttl", c.RefreshTTL, "absolute lifetime of a refresh-token family, from the login")
	fs.DurationVar(&c.RefreshIdleTTL, "refresh-token-idle-ttl", c.RefreshIdleTTL, "how long a refresh token stays usable without being redeemed")
	fs.IntVar(&c.RefreshFamiliesPerUser, "refresh-families-per-user", c.RefreshFamiliesPerUser, "live refresh-token sessions a user may hold; a login beyond it ends the oldest")
	c.RegisterKeyFlags(fs)
	fs.DurationVar(&c.KeyRotationInterval, "key-rotation-interval", c.KeyRotationInterval, "stage a new signing key this often (0 = never; rotate by hand with credshield keys rotate)")
}

// RegisterKeyFlags binds the key-rotation lead alone, for `keys rotate`.
func (c *Serve) RegisterKeyFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.KeyPublishLead, "key-publish-lead", c.KeyPublishLead, "how long a new signing key is published in the JWKS before it signs (longer than verifiers' JWKS cache)")
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// the environment variable CREDSHIELD_<NAME>, where NAME is the flag name in
// upper case with dashes as underscores (--data-dir -> CREDSHIELD_DATA_DIR).
// Command-line flags win, so a wrapper script can override a deployment's
// environment.
func ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment variable that stands in for a flag.
func EnvName(flag string) string {
	return "CREDSHIELD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Validate checks c and fills the derived defaults (issuer, audience). It
// reports every problem at once, each naming its flag.
func (c *Serve) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	} else {
		c.DataDir = filepath.Clean(c.DataDir)
	}
	if _, err := ParseDB(c.DB); err != nil {
		errs = append(errs, err)
	}
	if err := c.Passwords.Validate(); err != nil {
		errs = append(errs, err)
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("--listen %q: missing port", c.Listen))
	}
	if c.Issuer == "" && err == nil {
		if host == "" || isUnspecified(host) {
			errs = append(errs, fmt.Errorf("--issuer is required when --listen %q is not a single host: the issuer is the public URL clients use", c.Listen))
		} else {
			c.Issuer = c.Scheme() + "://" + c.Listen
			c.issuerFromListen = true
		}
	}
	if c.Issuer != "" {
		iss, err := ValidateIssuer(c.Issuer)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--issuer: %w", err))
		case c.TLS.Enabled() && strings.HasPrefix(iss, "http:"):
			errs = append(errs, fmt.Errorf("--issuer %q is http, but --tls-cert makes this service speak https: clients would be told the wrong URL", iss))
		default:
			c.Issuer = iss
		}
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
		c.audienceFromIssuer = true
	}
	if !slices.Contains(signingAlgs, c.SigningAlg) {
		errs = append(errs, fmt.Errorf("--signing-alg %q: want one of %s", c.SigningAlg, strings.Join(signingAlgs, ", ")))
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--access-token-ttl %s: want between 1m and 24h", c.AccessTTL))
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("--leeway %s: want between 0 and %s", c.Leeway, MaxLeeway))
	}
	for _, o := range c.CORSOrigins {
		if err := validateOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("--cors-origins: %w", err))
		}
	}
	for _, sc := range c.AllowedScopes {
		if !scope.ValidToken(sc) {
			errs = append(errs, fmt.Errorf("--allowed-scopes %q: %w (a scope is printable ASCII without spaces, '\"' or '\\')", sc, scope.ErrSyntax))
		}
	}
	if err := c.Defence.Validate(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if c.FailureFloor < 0 || c.FailureFloor > 10*time.Second {
		errs = append(errs, fmt.Errorf("--failure-floor %s: want between 0 and 10s", c.FailureFloor))
	}
	if c.ResourceURL == "" {
		c.ResourceURL = c.Issuer
		c.resourceFromIssuer = true
	} else if u, err := ValidateIssuer(c.ResourceURL); err != nil {
		errs = append(errs, fmt.Errorf("--resource-url: %w", err))
	} else {
		c.ResourceURL = u
	}
	if c.RefreshIdleTTL < time.Minute || c.RefreshIdleTTL > c.RefreshTTL || c.RefreshTTL > 400*24*time.Hour {
		errs = append(errs, fmt.Errorf("--refresh-token-idle-ttl %s, --refresh-token-ttl %s: want 1m <= idle <= absolute <= 400 days", c.RefreshIdleTTL, c.RefreshTTL))
	}
	if c.RefreshFamiliesPerUser < 1 || c.RefreshFamiliesPerUser > 100000 {
		errs = append(errs, fmt.Errorf("--refresh-families-per-user %d: want between 1 and 100000", c.RefreshFamiliesPerUser))
	}
	if c.KeyPublishLead < 0 || c.KeyPublishLead > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("--key-publish-lead %s: want between 0 and 7 days", c.KeyPublishLead))
	}
	if c.KeyRotationInterval != 0 && (c.KeyRotationInterval < time.Hour || c.KeyRotationInterval <= c.KeyPublishLead) {
		errs = append(errs, fmt.Errorf("--key-rotation-interval %s: want 0 (off), or at least 1h and longer than --key-publish-lead", c.KeyRotationInterval))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// ValidateIssuer checks that raw is an absolute https URL (http only for a
// loopback host), without query, fragment or user info, and returns it
// without a trailing slash so "iss" comparisons are exact.
func ValidateIssuer(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%q must not carry user info, a query or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "", fmt.Errorf("%q: http is allowed only on loopback; use https", raw)
		}
	default:
		return "", fmt.Errorf("%q: scheme must be https", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsLoopbackHost reports whether host names this machine only: "localhost",
// 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func isUnspecified(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

// validateOrigin accepts a serialized origin: scheme://host[:port], nothing
// else. "*" is refused because a wildcard with credentials is never safe.
func validateOrigin(o string) error {
	if o == "*" || o == "null" {
		return fmt.Errorf("origin %q is not allowed; list each origin", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("origin %q: want scheme://host[:port]", o)
	}
	return nil
}
