package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/browser"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// Defence is the login defence's configuration: the settings every
// command that guards logins shares — serve in front of its own /token,
// protect in front of another app's login — so one deployment's flags
// mean the same thing in both. Serve and Protect embed it. Every value is
// typed (budgets, CIDRs, the cookie's SameSite) and parsed when its flag
// is set, so what Validate accepts is what the parts are built from,
// without parsing again. The zero value is not usable; start from
// DefaultDefence.
type Defence struct {
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
	// DeviceCookieSameSite is the SameSite of its cookie (strict, lax or
	// none on the command line).
	DeviceLifetime       time.Duration
	DeviceCookieSameSite http.SameSite
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
	// many processes share it: if Redis goes away each falls back to its
	// own memory with every budget divided by Replicas.
	GuardStore          string
	RedisSentinelMaster string
	RedisPrefix         string
	Replicas            int
	// GuardStoreTimeout bounds each Redis dial, read and write: past it
	// the budgets fall back to local memory. Short, so that an outage
	// costs a login a fraction of a second, not the request's deadline.
	GuardStoreTimeout time.Duration

	// MetricsListen is the address of the Prometheus /metrics listener;
	// empty disables it. It is never the public listener.
	MetricsListen string
	// Pprof serves Go's CPU and heap profiles (/debug/pprof/) on the
	// metrics listener, for measuring the service under load. Off by
	// default: a profile shows internals, and taking one costs CPU.
	Pprof bool
}

// DefaultDefence returns the defence's secure defaults.
func DefaultDefence() Defence {
	return Defence{
		HasherQueue:             64,
		ClientIPHeader:          clientip.DefaultHeader,
		Guard:                   guard.DefaultPolicy(),
		GuardMaxKeys:            limit.DefaultMaxKeys,
		DeviceLifetime:          device.DefaultLifetime,
		DeviceCookieSameSite:    http.SameSiteStrictMode,
		Detector:                guard.DefaultDetectorConfig(),
		ChallengeReplayCapacity: challenge.DefaultReplayCapacity,
		AssetsPrefix:            browser.DefaultPrefix,
		RedisPrefix:             "credshield:",
		Replicas:                1,
		GuardStoreTimeout:       200 * time.Millisecond,
	}
}

// RegisterFlags binds every field of d to a flag on fs, with d's current
// values as defaults; each has a CREDSHIELD_<FLAG> twin (ApplyEnv).
func (d *Defence) RegisterFlags(fs *pflag.FlagSet) {
	fs.IntVar(&d.HasherWorkers, "hasher-workers", d.HasherWorkers, "password hashes computed at once (0 = one per CPU)")
	fs.IntVar(&d.HasherQueue, "hasher-queue", d.HasherQueue, "login attempts allowed to wait for a hasher; beyond it the service answers 503")
	fs.Var(prefixesValue{&d.TrustedProxies}, "trusted-proxies", "proxies (CIDRs, comma separated) whose --client-ip-header is believed; none by default, so the socket address is the client")
	fs.StringVar(&d.ClientIPHeader, "client-ip-header", d.ClientIPHeader, "the one header that carries the client address from a trusted proxy (X-Forwarded-For, Forwarded, X-Real-IP, ...)")
	fs.Var(limitValue{&d.Guard.IP}, "guard-ip-limit", "failed logins allowed per client address (IPv6: per /64), as BURST/PERIOD")
	fs.Var(limitValue{&d.Guard.Subnet}, "guard-subnet-limit", "failed logins allowed per IPv4 /24 and IPv6 /56")
	fs.Var(limitValue{&d.Guard.Subnet48}, "guard-subnet48-limit", "failed logins allowed per IPv6 /48")
	fs.Var(limitValue{&d.Guard.User}, "guard-user-limit", "failed logins allowed per username, from everywhere")
	fs.Var(limitValue{&d.Guard.UserIP}, "guard-user-ip-limit", "failed logins allowed per username from one address")
	fs.Var(limitValue{&d.Guard.IPSoft}, "guard-ip-soft-limit", "failed logins per client address before it must solve a challenge for each attempt")
	fs.Var(limitValue{&d.Guard.UserHard}, "guard-user-hard-limit", "failed logins and challenges per username before untrusted clients get 429 (NIST SP 800-63B caps consecutive failures at 100)")
	fs.Var(limitValue{&d.Guard.Device}, "guard-device-limit", "failed logins a device credential may make before it alone is locked")
	fs.Var(limitValue{&d.Guard.Network}, "guard-network-limit", "failed logins allowed per user from one of the user's known networks (keep it equal to --guard-user-hard-limit, or a neighbour can tell real accounts from made-up names)")
	fs.Var(limitValue{&d.Guard.Success}, "guard-success-limit", "successful logins allowed per account, per device credential, and per account from one address; beyond it, 429")
	fs.DurationVar(&d.Guard.KnownNetworkTTL, "known-network-ttl", d.Guard.KnownNetworkTTL, "how long a successful login makes its network (IPv4 /24, IPv6 /48) known for the user")
	fs.IntVar(&d.Guard.Difficulty, "challenge-difficulty", d.Guard.Difficulty, "proof-of-work difficulty past a soft budget: 2^N argon2id evaluations of 1 MiB on average, each step doubles the wait (6: under 0.1 s in a browser)")
	fs.IntVar(&d.Guard.AttackDifficulty, "challenge-attack-difficulty", d.Guard.AttackDifficulty, "proof-of-work difficulty while the service is under attack (10: about 1,000 evaluations, a median under 0.5 s in a browser, docs/browser.md)")
	fs.StringVar(&d.AssetsPrefix, "assets-prefix", d.AssetsPrefix, "URL path under which browsers get credshield.js and the challenge solver (protect takes it from the app); empty serves none")
	fs.IntVar(&d.ChallengeReplayCapacity, "challenge-replay-capacity", d.ChallengeReplayCapacity, "solved challenges remembered until they expire (about 64 bytes each); when full, challenges give way to 429")
	fs.IntVar(&d.Detector.MinFailures, "attack-min-failures", d.Detector.MinFailures, "failed logins per minute below which the service is never considered under attack")
	fs.Float64Var(&d.Detector.Factor, "attack-factor", d.Detector.Factor, "failed logins per minute above this multiple of the usual rate mean an attack")
	fs.Float64Var(&d.Detector.UnknownRatio, "attack-unknown-ratio", d.Detector.UnknownRatio, "share of unknown usernames among failures that means an attack")
	fs.DurationVar(&d.Detector.Cooldown, "attack-cooldown", d.Detector.Cooldown, "quiet time before the service stands down from under-attack mode")
	fs.DurationVar(&d.DeviceLifetime, "device-lifetime", d.DeviceLifetime, "how long a device credential is trusted after a successful login")
	fs.Var(sameSiteValue{&d.DeviceCookieSameSite}, "device-cookie-samesite", "SameSite of the device cookie: strict (same-site login page), lax, or none (a login page on another site)")
	fs.StringVar(&d.GuardStore, "guard-store", d.GuardStore, "shared guard state for several replicas: redis://[user:password@]host:port/db or rediss://...; empty keeps it in memory (one node)")
	fs.StringVar(&d.RedisSentinelMaster, "redis-sentinel-master", d.RedisSentinelMaster, "with --guard-store, the Sentinel master name: the URL's host (and addr= parameters) are Sentinels")
	fs.StringVar(&d.RedisPrefix, "redis-prefix", d.RedisPrefix, "prefix of every key credshield writes in Redis")
	fs.DurationVar(&d.GuardStoreTimeout, "guard-store-timeout", d.GuardStoreTimeout, "with --guard-store, how long a Redis call may take before the budgets fall back to this replica's memory (raise it for a distant Redis)")
	fs.IntVar(&d.Replicas, "replicas", d.Replicas, "processes sharing --guard-store; when Redis is unreachable each falls back to local budgets divided by this")
	fs.IntVar(&d.GuardMaxKeys, "guard-max-keys", d.GuardMaxKeys, "most keys the in-memory guard tracks (about 40 bytes each); penalties survive eviction")
	fs.StringVar(&d.MetricsListen, "metrics-listen", d.MetricsListen, "address for Prometheus /metrics (for example 127.0.0.1:9464); empty disables it")
	fs.BoolVar(&d.Pprof, "pprof", d.Pprof, "also serve Go's profiles (/debug/pprof/) on --metrics-listen, for measuring the service under load")
}

// Validate checks d; listen is the public listener's address, which the
// metrics listener must not share. It reports every problem at once, each
// naming its flag.
func (d *Defence) Validate(listen string) error {
	var errs []error
	if d.HasherWorkers < 0 {
		errs = append(errs, fmt.Errorf("--hasher-workers %d: must not be negative", d.HasherWorkers))
	}
	if d.HasherQueue < 0 {
		errs = append(errs, fmt.Errorf("--hasher-queue %d: must not be negative", d.HasherQueue))
	}
	if err := d.Guard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := d.Detector.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d.DeviceLifetime < time.Hour || d.DeviceLifetime > 400*24*time.Hour {
		errs = append(errs, fmt.Errorf("--device-lifetime %s: want between 1h and 400 days (browsers cap cookies at 400 days)", d.DeviceLifetime))
	}
	if _, ok := sameSiteNames[d.DeviceCookieSameSite]; !ok {
		errs = append(errs, fmt.Errorf("--device-cookie-samesite %v: want strict, lax or none", d.DeviceCookieSameSite))
	}
	if d.AssetsPrefix != "" {
		if err := browser.CheckPrefix(d.AssetsPrefix); err != nil {
			errs = append(errs, fmt.Errorf("--assets-prefix %w", err))
		}
	}
	if d.ChallengeReplayCapacity < 1024 {
		errs = append(errs, fmt.Errorf("--challenge-replay-capacity %d: want at least 1024", d.ChallengeReplayCapacity))
	}
	if d.GuardStore != "" {
		if u, err := url.Parse(d.GuardStore); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			// Never echo the value: it may hold a password.
			errs = append(errs, errors.New("--guard-store: want redis://host:port/db or rediss://host:port/db"))
		}
	}
	if d.GuardStoreTimeout < 10*time.Millisecond || d.GuardStoreTimeout > 10*time.Second {
		errs = append(errs, fmt.Errorf("--guard-store-timeout %v: want between 10ms and 10s", d.GuardStoreTimeout))
	}
	if d.Replicas < 1 || d.Replicas > 1000 {
		errs = append(errs, fmt.Errorf("--replicas %d: want between 1 and 1000", d.Replicas))
	}
	if d.GuardMaxKeys < 1024 {
		errs = append(errs, fmt.Errorf("--guard-max-keys %d: want at least 1024", d.GuardMaxKeys))
	}
	if d.ClientIPHeader == "" {
		errs = append(errs, errors.New("--client-ip-header must not be empty"))
	} else if _, err := clientip.NewResolver(d.TrustedProxies, d.ClientIPHeader); err != nil {
		errs = append(errs, fmt.Errorf("--client-ip-header: %w", err))
	}
	if d.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(d.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-listen %q: %w", d.MetricsListen, err))
		} else if d.MetricsListen == listen {
			errs = append(errs, errors.New("--metrics-listen must differ from --listen: metrics are not for the public"))
		}
	} else if d.Pprof {
		errs = append(errs, errors.New("--pprof needs --metrics-listen: profiles are served only there, never on the public listener"))
	}
	return errors.Join(errs...)
}
