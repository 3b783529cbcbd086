// Package config holds credshield's typed configuration: defaults, the flags
// that set it, the CREDSHIELD_* environment variables that stand in for flags,
// and the validation that runs before anything starts. Every part of the
// service is built from a validated Serve value, so a bad setting fails at
// start with a message naming the flag, never later under load.
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

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/browser"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
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

// Serve is the configuration of `credshield serve`. The zero value is not
// usable; start from Default and let flags and environment override it.
type Serve struct {
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

	// Argon2id parameters for new hashes and rehashes.
	ArgonMemoryKiB uint32
	ArgonTime      uint32
	ArgonThreads   uint8
	// PasswordMinLength is the least length of a new password, in
	// characters; 15 by default (NIST SP 800-63B rev. 4), never below 8.
	PasswordMinLength int

	// HasherWorkers bounds concurrent password hashes (0 = one per CPU);
	// HasherQueue bounds attempts waiting for a worker, beyond which the
	// service answers 503 instead of queueing.
	HasherWorkers int
	HasherQueue   int

	// TrustedProxies are the peers whose ClientIPHeader is believed; from
	// anyone else the socket address is the client.
	TrustedProxies []netip.Prefix
	ClientIPHeader string

	// Guard are the login budgets; GuardMaxKeys caps the keys the memory
	// guard store tracks, whatever an attacker sends.
	Guard        guard.Policy
	GuardMaxKeys int

	// DeviceLifetime is how long a device credential is trusted;
	// DeviceCookieSameSite is strict, lax or none.
	DeviceLifetime       time.Duration
	DeviceCookieSameSite string
	// Detector tunes the attack detector.
	Detector guard.DetectorConfig
	// ChallengeReplayCapacity bounds the challenge replay cache; when it
	// is full the guard denies instead of issuing challenges.
	ChallengeReplayCapacity int
	// AssetsPrefix is the URL path under which serve and protect give
	// browsers the challenge solver and credshield.js; "" serves none.
	AssetsPrefix string

	// GuardStore is where replicas share guard state: "" keeps it in this
	// process's memory; redis:// or rediss:// names a Redis (with
	// RedisSentinelMaster, the Sentinels of that master). Replicas is how
	// many serve processes share it: if Redis goes away each falls back to
	// its own memory with every budget divided by Replicas.
	GuardStore          string
	RedisSentinelMaster string
	RedisPrefix         string
	Replicas            int

	// MetricsListen is the address of the Prometheus /metrics listener;
	// empty disables it. It is never the public listener.
	MetricsListen string
	// Pprof serves Go's CPU and heap profiles (/debug/pprof/) on the
	// metrics listener, for measuring the service under load. Off by
	// default: a profile shows internals, and taking one costs CPU.
	Pprof bool

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
	c.Issuer = "http://" + addr
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
		DataDir:                 "./credshield-data",
		Listen:                  "127.0.0.1:8080",
		SigningAlg:              "EdDSA",
		AccessTTL:               15 * time.Minute,
		Leeway:                  30 * time.Second,
		ArgonMemoryKiB:          19 * 1024,
		ArgonTime:               2,
		ArgonThreads:            1,
		PasswordMinLength:       password.DefaultMinLen,
		HasherQueue:             64,
		ClientIPHeader:          clientip.DefaultHeader,
		Guard:                   guard.DefaultPolicy(),
		GuardMaxKeys:            limit.DefaultMaxKeys,
		DeviceLifetime:          device.DefaultLifetime,
		DeviceCookieSameSite:    "strict",
		Detector:                guard.DefaultDetectorConfig(),
		RedisPrefix:             "credshield:",
		Replicas:                1,
		ChallengeReplayCapacity: challenge.DefaultReplayCapacity,
		AssetsPrefix:            browser.DefaultPrefix,
		FailureFloor:            0,
		ShutdownTimeout:         15 * time.Second,
		RefreshTTL:              30 * 24 * time.Hour,
		RefreshIdleTTL:          7 * 24 * time.Hour,
		RefreshFamiliesPerUser:  100,
		KeyPublishLead:          DefaultKeyPublishLead,
	}
}

// RegisterFlags binds every field of c to a flag on fs, with c's current
// values as defaults. Flag names are the documented interface; each has an
// environment variable twin (see ApplyEnv).
func (c *Serve) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (host:port)")
	fs.StringVar(&c.Issuer, "issuer", c.Issuer, "public base URL of this service: the iss claim, metadata URLs and every URL the service compares against; https, or http on loopback (default http://<listen>)")
	fs.StringVar(&c.Audience, "audience", c.Audience, "aud claim of access tokens (default: the issuer)")
	fs.StringVar(&c.SigningAlg, "signing-alg", c.SigningAlg, "access-token signing algorithm: EdDSA, ES256 or RS256")
	fs.DurationVar(&c.AccessTTL, "access-token-ttl", c.AccessTTL, "lifetime of access tokens")
	fs.DurationVar(&c.Leeway, "leeway", c.Leeway, "clock-skew tolerance on exp/nbf/iat (at most 60s)")
	fs.StringSliceVar(&c.CORSOrigins, "cors-origins", c.CORSOrigins, "origins allowed to call the API from a browser (comma separated; none by default; * is refused)")
	fs.StringSliceVar(&c.AllowedScopes, "allowed-scopes", c.AllowedScopes, "scopes any account may request (comma separated; none by default); grant more to one account with 'credshield user scopes NAME --add SCOPE'; a request for any other scope is refused with invalid_scope")
	c.RegisterHashFlags(fs)
	c.RegisterGuardFlags(fs)
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

// RegisterGuardFlags binds the settings of the login defence alone — the
// hasher pool, client addresses, budgets, challenges, the detector, device
// credentials, the guard store and the metrics listener — for the commands
// that guard logins: serve, and protect in front of another app.
func (c *Serve) RegisterGuardFlags(fs *pflag.FlagSet) {
	fs.IntVar(&c.HasherWorkers, "hasher-workers", c.HasherWorkers, "password hashes computed at once (0 = one per CPU)")
	fs.IntVar(&c.HasherQueue, "hasher-queue", c.HasherQueue, "login attempts allowed to wait for a hasher; beyond it the service answers 503")
	fs.Var(prefixesValue{&c.TrustedProxies}, "trusted-proxies", "proxies (CIDRs, comma separated) whose --client-ip-header is believed; none by default, so the socket address is the client")
	fs.StringVar(&c.ClientIPHeader, "client-ip-header", c.ClientIPHeader, "the one header that carries the client address from a trusted proxy (X-Forwarded-For, Forwarded, X-Real-IP, ...)")
	fs.Var(limitValue{&c.Guard.IP}, "guard-ip-limit", "failed logins allowed per client address (IPv6: per /64), as BURST/PERIOD")
	fs.Var(limitValue{&c.Guard.Subnet}, "guard-subnet-limit", "failed logins allowed per IPv4 /24 and IPv6 /56")
	fs.Var(limitValue{&c.Guard.Subnet48}, "guard-subnet48-limit", "failed logins allowed per IPv6 /48")
	fs.Var(limitValue{&c.Guard.User}, "guard-user-limit", "failed logins allowed per username, from everywhere")
	fs.Var(limitValue{&c.Guard.UserIP}, "guard-user-ip-limit", "failed logins allowed per username from one address")
	fs.Var(limitValue{&c.Guard.IPSoft}, "guard-ip-soft-limit", "failed logins per client address before it must solve a challenge for each attempt")
	fs.Var(limitValue{&c.Guard.UserHard}, "guard-user-hard-limit", "failed logins and challenges per username before untrusted clients get 429 (NIST SP 800-63B caps consecutive failures at 100)")
	fs.Var(limitValue{&c.Guard.Device}, "guard-device-limit", "failed logins a device credential may make before it alone is locked")
	fs.Var(limitValue{&c.Guard.Network}, "guard-network-limit", "failed logins allowed per user from one of the user's known networks (keep it equal to --guard-user-hard-limit, or a neighbour can tell real accounts from made-up names)")
	fs.Var(limitValue{&c.Guard.Success}, "guard-success-limit", "successful logins allowed per account, per device credential, and per account from one address; beyond it, 429")
	fs.DurationVar(&c.Guard.KnownNetworkTTL, "known-network-ttl", c.Guard.KnownNetworkTTL, "how long a successful login makes its network (IPv4 /24, IPv6 /48) known for the user")
	fs.IntVar(&c.Guard.Difficulty, "challenge-difficulty", c.Guard.Difficulty, "proof-of-work difficulty past a soft budget: 2^N argon2id evaluations of 1 MiB on average, each step doubles the wait (6: about 0.1 s in a browser)")
	fs.IntVar(&c.Guard.AttackDifficulty, "challenge-attack-difficulty", c.Guard.AttackDifficulty, "proof-of-work difficulty while the service is under attack (10: about 1,000 evaluations, 1 to 3 s in a browser, docs/browser.md)")
	fs.StringVar(&c.AssetsPrefix, "assets-prefix", c.AssetsPrefix, "URL path under which browsers get credshield.js and the challenge solver (protect takes it from the app); empty serves none")
	fs.IntVar(&c.ChallengeReplayCapacity, "challenge-replay-capacity", c.ChallengeReplayCapacity, "solved challenges remembered until they expire (about 64 bytes each); when full, challenges give way to 429")
	fs.IntVar(&c.Detector.MinFailures, "attack-min-failures", c.Detector.MinFailures, "failed logins per minute below which the service is never considered under attack")
	fs.Float64Var(&c.Detector.Factor, "attack-factor", c.Detector.Factor, "failed logins per minute above this multiple of the usual rate mean an attack")
	fs.Float64Var(&c.Detector.UnknownRatio, "attack-unknown-ratio", c.Detector.UnknownRatio, "share of unknown usernames among failures that means an attack")
	fs.DurationVar(&c.Detector.Cooldown, "attack-cooldown", c.Detector.Cooldown, "quiet time before the service stands down from under-attack mode")
	fs.DurationVar(&c.DeviceLifetime, "device-lifetime", c.DeviceLifetime, "how long a device credential is trusted after a successful login")
	fs.StringVar(&c.DeviceCookieSameSite, "device-cookie-samesite", c.DeviceCookieSameSite, "SameSite of the device cookie: strict (same-site login page), lax, or none (cross-origin front ends in --cors-origins)")
	fs.StringVar(&c.GuardStore, "guard-store", c.GuardStore, "shared guard state for several replicas: redis://[user:password@]host:port/db or rediss://...; empty keeps it in memory (one node)")
	fs.StringVar(&c.RedisSentinelMaster, "redis-sentinel-master", c.RedisSentinelMaster, "with --guard-store, the Sentinel master name: the URL's host (and addr= parameters) are Sentinels")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of every key credshield writes in Redis")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "serve processes sharing --guard-store; when Redis is unreachable each falls back to local budgets divided by this")
	fs.IntVar(&c.GuardMaxKeys, "guard-max-keys", c.GuardMaxKeys, "most keys the in-memory guard tracks (about 40 bytes each); penalties survive eviction")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "address for Prometheus /metrics (for example 127.0.0.1:9464); empty disables it")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "also serve Go's profiles (/debug/pprof/) on --metrics-listen, for measuring the service under load")
}

// RegisterKeyFlags binds the key-rotation lead alone, for `keys rotate`.
func (c *Serve) RegisterKeyFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.KeyPublishLead, "key-publish-lead", c.KeyPublishLead, "how long a new signing key is published in the JWKS before it signs (longer than verifiers' JWKS cache)")
}

// RegisterHashFlags binds what new passwords need alone — the argon2id
// parameters and the minimum length — for the commands that set passwords
// without serving (user add, user reset).
func (c *Serve) RegisterHashFlags(fs *pflag.FlagSet) {
	fs.Uint32Var(&c.ArgonMemoryKiB, "argon2-memory", c.ArgonMemoryKiB, "argon2id memory per hash in KiB (OWASP minimum 19456)")
	fs.Uint32Var(&c.ArgonTime, "argon2-time", c.ArgonTime, "argon2id passes")
	fs.Uint8Var(&c.ArgonThreads, "argon2-threads", c.ArgonThreads, "argon2id parallelism")
	fs.IntVar(&c.PasswordMinLength, "password-min-length", c.PasswordMinLength,
		"least number of characters of a new password (8..64; 15 is NIST's minimum for a password used alone)")
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
	if err := (password.Policy{MinLen: c.PasswordMinLength}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--password-min-length: %w", err))
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
			c.Issuer = "http://" + c.Listen
			c.issuerFromListen = true
		}
	}
	if c.Issuer != "" {
		iss, err := ValidateIssuer(c.Issuer)
		if err != nil {
			errs = append(errs, fmt.Errorf("--issuer: %w", err))
		} else {
			c.Issuer = iss
		}
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
	errs = append(errs, c.validateGuard()...)
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

// validateGuard checks the settings RegisterGuardFlags binds.
func (c *Serve) validateGuard() []error {
	var errs []error
	if c.HasherWorkers < 0 {
		errs = append(errs, fmt.Errorf("--hasher-workers %d: must not be negative", c.HasherWorkers))
	}
	if c.HasherQueue < 0 {
		errs = append(errs, fmt.Errorf("--hasher-queue %d: must not be negative", c.HasherQueue))
	}
	if err := c.Guard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Detector.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DeviceLifetime < time.Hour || c.DeviceLifetime > 400*24*time.Hour {
		errs = append(errs, fmt.Errorf("--device-lifetime %s: want between 1h and 400 days (browsers cap cookies at 400 days)", c.DeviceLifetime))
	}
	switch c.DeviceCookieSameSite {
	case "strict", "lax", "none":
	default:
		errs = append(errs, fmt.Errorf("--device-cookie-samesite %q: want strict, lax or none", c.DeviceCookieSameSite))
	}
	if c.AssetsPrefix != "" {
		if err := browser.CheckPrefix(c.AssetsPrefix); err != nil {
			errs = append(errs, fmt.Errorf("--assets-prefix %w", err))
		}
	}
	if c.ChallengeReplayCapacity < 1024 {
		errs = append(errs, fmt.Errorf("--challenge-replay-capacity %d: want at least 1024", c.ChallengeReplayCapacity))
	}
	if c.GuardStore != "" {
		if u, err := url.Parse(c.GuardStore); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			// Never echo the value: it may hold a password.
			errs = append(errs, errors.New("--guard-store: want redis://host:port/db or rediss://host:port/db"))
		}
	}
	if c.Replicas < 1 || c.Replicas > 1000 {
		errs = append(errs, fmt.Errorf("--replicas %d: want between 1 and 1000", c.Replicas))
	}
	if c.GuardMaxKeys < 1024 {
		errs = append(errs, fmt.Errorf("--guard-max-keys %d: want at least 1024", c.GuardMaxKeys))
	}
	if c.ClientIPHeader == "" {
		errs = append(errs, errors.New("--client-ip-header must not be empty"))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-listen %q: %w", c.MetricsListen, err))
		} else if c.MetricsListen == c.Listen {
			errs = append(errs, errors.New("--metrics-listen must differ from --listen: metrics are not for the public"))
		}
	} else if c.Pprof {
		errs = append(errs, errors.New("--pprof needs --metrics-listen: profiles are served only there, never on the public listener"))
	}
	return errs
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
