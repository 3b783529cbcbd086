package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/challenge/interstitial"
	"github.com/credshield/credshield/internal/loginapi"
)

// Protect is the configuration of `credshield protect`: a reverse proxy
// that puts the guard in front of another app's own login endpoint. The
// login defence's settings are serve's (Defence, embedded, with the same
// flags), so one deployment's flags mean the same thing in both commands.
// The zero value is not usable; start from DefaultProtect.
type Protect struct {
	Defence
	TLS

	// DataDir holds the HMAC keys of device credentials and challenges
	// (unless a key-encryption key puts them in the store).
	DataDir string
	Listen  string
	// FailureFloor is the least time a failed login takes with
	// UniformFailureTiming.
	FailureFloor    time.Duration
	ShutdownTimeout time.Duration

	// Upstream is the app behind the proxy, http:// or https://.
	Upstream string
	// Profiles name the login APIs the upstream serves (loginapi.Names):
	// how its logins look, how it answers them and how a refusal is
	// written for its clients. Several may guard one upstream.
	Profiles []string
	// LoginPaths (fastapi) are the app's login endpoints: a POST to one
	// of them is a login attempt the guard sees first.
	LoginPaths []string
	// UsernameField (fastapi) names the form or JSON field that holds the
	// username.
	UsernameField string
	// SuccessStatus and FailureStatus (fastapi) class the app's answers
	// to a login: a success status whose body carries SuccessField
	// refunds the attempt and earns a device credential, failure keeps it
	// spent; any other status (5xx, 422, the app's own 429) refunds it,
	// since no password was judged.
	SuccessStatus StatusSet
	FailureStatus StatusSet
	// SuccessField (fastapi) is the JSON member a successful login answer
	// carries (a non-empty string).
	SuccessField string
	// InsecureSuccessByStatus (fastapi) reads a success from the status
	// alone: any failure the app answers with a success status then earns
	// the client a device credential.
	InsecureSuccessByStatus bool
	// PathPrefix is the path the service is served under (Authelia's
	// server.path), prefixed to every profile's routes.
	PathPrefix string
	// SessionCookie (authelia, kratos) is the upstream's session cookie
	// when it is not the service's default name.
	SessionCookie string
	// Realms (keycloak) are the realms whose logins are guarded; a realm
	// left out is not guarded at all, so there is no default.
	Realms []string
	// RateLimitHeader (gotrue) is the header GoTrue keys its rate limits
	// by (its GOTRUE_RATE_LIMIT_HEADER); the proxy sets it to the client
	// address.
	RateLimitHeader string
	// ProfileFile (custom) is the YAML file that describes the login of a
	// service no built-in profile knows.
	ProfileFile string
	// UniformFailureTiming pads failed logins to a floor learnt from the
	// app's own login latencies, so a fast "unknown user" path does not
	// tell which accounts exist.
	UniformFailureTiming bool
	// LoginFormOrigins are origins of the operator's own login pages
	// served apart from the login URL (a Kratos self-service UI on its own
	// host): their form posts get the challenge page too. Validate puts
	// each in canonical form.
	LoginFormOrigins []string

	// UpstreamURL is Upstream parsed, set by Validate.
	UpstreamURL *url.URL
	// LoginProfiles are Profiles built, set by Validate.
	LoginProfiles []*loginapi.Profile
}

// DefaultProtect returns protect's defaults: serve's defence defaults, the
// FastAPI OAuth2 password flow's POST /token with a username field, and
// RFC 6749's answers (2xx success; 400, 401 and 403 failure).
func DefaultProtect() Protect {
	return Protect{
		Defence:         DefaultDefence(),
		DataDir:         defaultDataDir,
		Listen:          defaultListen,
		ShutdownTimeout: defaultShutdownTimeout,
		Profiles:        []string{"fastapi"},
		LoginPaths:      []string{"/token"},
		UsernameField:   "username",
		SuccessField:    "access_token",
		RateLimitHeader: "X-Forwarded-For",
		SuccessStatus:   StatusSet{classes: 1 << 2},
		FailureStatus:   StatusSet{codes: []int{400, 401, 403}},
	}
}

// RegisterFlags binds every field of p to a flag on fs, with p's current
// values as defaults; each has a CREDSHIELD_<FLAG> twin (ApplyEnv).
func (p *Protect) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.Upstream, "upstream", p.Upstream, "the app to protect: http(s)://host:port[/prefix] (required)")
	fs.StringVar(&p.Listen, "listen", p.Listen, "address to listen on (host:port)")
	p.TLS.RegisterFlags(fs)
	fs.StringArrayVar(&p.Profiles, "profile", p.Profiles, "the login API the app serves: "+strings.Join(append(loginapi.Names(), loginapi.CustomName), ", ")+" (repeat the flag when one upstream serves several)")
	fs.StringArrayVar(&p.LoginPaths, "login-path", p.LoginPaths, "fastapi: the app's login path; a POST to it is guarded (repeat the flag for several)")
	fs.StringVar(&p.UsernameField, "username-field", p.UsernameField, "fastapi: form or JSON field of a login request that holds the username")
	fs.Var(&p.SuccessStatus, "success-status", "fastapi: the app's login answers that may mean success, codes and classes, comma separated (200,201 or 2xx); the body must also carry --success-field")
	fs.Var(&p.FailureStatus, "failure-status", "fastapi: the app's login answers that mean wrong credentials (other answers refund the attempt)")
	fs.StringVar(&p.SuccessField, "success-field", p.SuccessField, "fastapi: JSON member that a successful login answer carries as a non-empty string")
	fs.BoolVar(&p.InsecureSuccessByStatus, "insecure-success-by-status", p.InsecureSuccessByStatus, "fastapi: take a success status alone as a successful login, for an app whose answer carries no token; a failure the app answers with such a status then earns the client a device credential")
	fs.StringVar(&p.PathPrefix, "path-prefix", p.PathPrefix, "the path the app is served under, such as /authelia; prefixed to every built-in profile's login routes (a custom profile's file names its full paths)")
	fs.StringVar(&p.SessionCookie, "session-cookie", p.SessionCookie, "authelia, kratos: the app's session cookie, when not the service's default (authelia_session, ory_kratos_session)")
	fs.StringArrayVar(&p.Realms, "realm", p.Realms, "keycloak: a realm whose logins are guarded (required; repeat the flag for several: a realm not named is not guarded)")
	fs.StringVar(&p.RateLimitHeader, "rate-limit-header", p.RateLimitHeader, "gotrue: the header GoTrue keys its rate limits by, as its GOTRUE_RATE_LIMIT_HEADER says; set to the client address")
	fs.StringVar(&p.ProfileFile, "profile-file", p.ProfileFile, "custom: the YAML file that describes the app's login (see docs/login-profiles.md)")
	fs.StringArrayVar(&p.LoginFormOrigins, "login-form-origin", p.LoginFormOrigins, "an origin (https://login.example.com) of your own login page when it is served apart from the login URL, as a Kratos self-service UI on its own host: its form posts get the challenge page too; list only your own sites (repeat the flag for several)")
	fs.BoolVar(&p.UniformFailureTiming, "uniform-failure-timing", p.UniformFailureTiming, "pad failed logins to the slowest recent login answer of the app (at most 5s), so timing does not tell which accounts exist")
	fs.DurationVar(&p.FailureFloor, "failure-floor", p.FailureFloor, "with --uniform-failure-timing, the least time a failed login takes")
	fs.DurationVar(&p.ShutdownTimeout, "shutdown-timeout", p.ShutdownTimeout, "time allowed for in-flight requests on SIGTERM")
	p.Defence.RegisterFlags(fs)
}

// Validate checks p and parses the upstream URL. It reports every problem
// at once, each naming its flag.
func (p *Protect) Validate() error {
	var errs []error
	if p.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	u, err := url.Parse(p.Upstream)
	switch {
	case p.Upstream == "":
		errs = append(errs, errors.New("--upstream is required: the URL of the app to protect"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		errs = append(errs, fmt.Errorf("--upstream %q: want http://host:port or https://host:port", p.Upstream))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		errs = append(errs, errors.New("--upstream: must not carry user info, a query or a fragment"))
	default:
		p.UpstreamURL = u
	}
	if _, port, err := net.SplitHostPort(p.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", p.Listen, err))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("--listen %q: missing port", p.Listen))
	}
	if len(p.LoginPaths) == 0 {
		errs = append(errs, errors.New("--login-path: name at least one login path"))
	}
	for _, lp := range p.LoginPaths {
		if !strings.HasPrefix(lp, "/") || path.Clean(lp) != lp || strings.ContainsAny(lp, "?#") {
			errs = append(errs, fmt.Errorf("--login-path %q: want a clean absolute path such as /token", lp))
		}
	}
	if p.UsernameField == "" {
		errs = append(errs, errors.New("--username-field must not be empty"))
	}
	if p.SuccessField == "" {
		errs = append(errs, errors.New("--success-field must not be empty"))
	}
	p.LoginProfiles = nil
	if len(p.Profiles) == 0 {
		errs = append(errs, errors.New("--profile: name at least one login profile"))
	}
	opts := loginapi.Options{PathPrefix: p.PathPrefix, LoginPaths: p.LoginPaths, UsernameField: p.UsernameField, Success: p.SuccessStatus.Contains,
		Failure: p.FailureStatus.Contains, SuccessField: p.SuccessField, InsecureSuccessByStatus: p.InsecureSuccessByStatus,
		SessionCookie: p.SessionCookie, Realms: p.Realms, RateLimitHeader: p.RateLimitHeader}
	// A flag of a profile that is not named would guard nothing the user
	// meant it to: a realm left unguarded, a file never read.
	if len(p.Realms) > 0 && !slices.Contains(p.Profiles, "keycloak") {
		errs = append(errs, errors.New("--realm is read only with --profile keycloak"))
	}
	if p.ProfileFile != "" && !slices.Contains(p.Profiles, loginapi.CustomName) {
		errs = append(errs, fmt.Errorf("--profile-file is read only with --profile %s", loginapi.CustomName))
	}
	for i, name := range p.Profiles {
		if slices.Contains(p.Profiles[:i], name) {
			errs = append(errs, fmt.Errorf("--profile %s is named twice", name))
			continue
		}
		prof, err := p.loginProfile(name, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.LoginProfiles = append(p.LoginProfiles, prof)
		for _, r := range slices.Concat(prof.Logins, prof.PassThrough) {
			if p.AssetsPrefix != "" && strings.HasPrefix(r.Path+"/", p.AssetsPrefix) {
				errs = append(errs, fmt.Errorf("--profile %s: its path %q is under --assets-prefix %q, which protect serves itself", name, r.Path, p.AssetsPrefix))
			}
		}
	}
	if p.SuccessStatus.empty() || p.FailureStatus.empty() {
		errs = append(errs, errors.New("--success-status and --failure-status must each name at least one status"))
	}
	for code := 100; code < 600; code++ {
		if p.SuccessStatus.Contains(code) && p.FailureStatus.Contains(code) {
			errs = append(errs, fmt.Errorf("--success-status and --failure-status both contain %d", code))
			break
		}
	}
	for i, o := range p.LoginFormOrigins {
		c, ok := interstitial.CanonicalOrigin(o)
		if !ok {
			errs = append(errs, fmt.Errorf("--login-form-origin %q: want an origin such as https://login.example.com (a scheme and a host, no path)", o))
			continue
		}
		p.LoginFormOrigins[i] = c
	}
	if len(p.LoginFormOrigins) > 0 && p.AssetsPrefix == "" {
		errs = append(errs, errors.New("--login-form-origin needs the challenge page, which needs --assets-prefix"))
	}
	if p.FailureFloor < 0 || p.FailureFloor > 5*time.Second {
		errs = append(errs, fmt.Errorf("--failure-floor %s: want between 0 and 5s", p.FailureFloor))
	}
	if p.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", p.ShutdownTimeout))
	}
	if err := p.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Defence.Validate(p.Listen); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loginProfile builds the named profile: a custom one from --profile-file,
// the others from opts.
func (p *Protect) loginProfile(name string, opts loginapi.Options) (*loginapi.Profile, error) {
	if name != loginapi.CustomName {
		prof, err := loginapi.New(name, opts)
		if err != nil {
			return nil, fmt.Errorf("--profile: %w", err)
		}
		return prof, nil
	}
	if p.ProfileFile == "" {
		return nil, fmt.Errorf("--profile %s needs --profile-file, the file that describes the login", loginapi.CustomName)
	}
	prof, err := loginapi.LoadCustom(p.ProfileFile)
	if err != nil {
		return nil, fmt.Errorf("--profile-file: %w", err)
	}
	return prof, nil
}

// StatusSet is a set of HTTP status codes written as codes and classes,
// comma separated: "200,201", "2xx", "2xx,302". It is a pflag.Value. The
// zero value is empty.
type StatusSet struct {
	classes uint8 // bit c: every status from c*100 to c*100+99
	codes   []int
}

// ParseStatusSet parses the flag syntax of StatusSet.
func ParseStatusSet(s string) (StatusSet, error) {
	var set StatusSet
	for _, item := range strings.Split(s, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if len(item) == 3 && item[1:] == "xx" && item[0] >= '1' && item[0] <= '5' {
			set.classes |= 1 << (item[0] - '0')
			continue
		}
		code, err := strconv.Atoi(item)
		if err != nil || code < 100 || code > 599 {
			return StatusSet{}, fmt.Errorf("%q: want status codes (100-599) or classes (2xx), comma separated", item)
		}
		if !slices.Contains(set.codes, code) {
			set.codes = append(set.codes, code)
		}
	}
	return set, nil
}

// Contains reports whether status is in the set.
func (s StatusSet) Contains(status int) bool {
	if status >= 100 && status < 600 && s.classes&(1<<(status/100)) != 0 {
		return true
	}
	return slices.Contains(s.codes, status)
}

func (s StatusSet) empty() bool { return s.classes == 0 && len(s.codes) == 0 }

// String writes s as ParseStatusSet reads it.
func (s *StatusSet) String() string {
	var parts []string
	for c := 1; c <= 5; c++ {
		if s.classes&(1<<c) != 0 {
			parts = append(parts, strconv.Itoa(c)+"xx")
		}
	}
	for _, code := range s.codes {
		parts = append(parts, strconv.Itoa(code))
	}
	return strings.Join(parts, ",")
}

// Set replaces s with the parsed value.
func (s *StatusSet) Set(v string) error {
	set, err := ParseStatusSet(v)
	if err != nil {
		return err
	}
	*s = set
	return nil
}

// Type names the flag's value in help output.
func (*StatusSet) Type() string { return "statuses" }
