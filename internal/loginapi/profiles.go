package loginapi

import (
	"fmt"
	"slices"
	"strings"
)

// Options configure a profile. Each profile reads only the options that
// apply to it and says which in its documentation; the zero value gives
// every profile its documented defaults.
type Options struct {
	// PathPrefix is where the service is mounted behind the gateway
	// ("/auth" for Authelia served under /auth); it prefixes every route.
	PathPrefix string

	// LoginPaths (fastapi) are the login paths; default /token.
	LoginPaths []string
	// UsernameField (fastapi) is the form or JSON field of the username;
	// default "username".
	UsernameField string
	// Success and Failure (fastapi) class the answer's status: default
	// 2xx, and 400, 401 and 403.
	Success, Failure func(status int) bool
	// SuccessField (fastapi) is the JSON member of a successful answer
	// that must hold a non-empty string; default "access_token".
	SuccessField string
	// InsecureSuccessByStatus (fastapi) reads a success from the status
	// alone, for an app whose successful login answers with neither a
	// token nor a JSON body. A failure that the app answers with a
	// success status then earns a device credential.
	InsecureSuccessByStatus bool

	// SessionCookie (authelia, kratos browser flows) is the session
	// cookie's name; default authelia_session and ory_kratos_session.
	SessionCookie string

	// Realms (keycloak) are the realms whose logins are guarded; at
	// least one. A realm left out is not guarded at all, so there is no
	// default.
	Realms []string
	// RateLimitHeader (gotrue) is the header GoTrue keys its rate limits
	// by (GOTRUE_RATE_LIMIT_HEADER); the proxy sets it to the client
	// address. Default X-Forwarded-For.
	RateLimitHeader string
}

// Names lists the profiles New knows, for help text and validation.
func Names() []string { return []string{"fastapi", "authelia", "kratos", "keycloak", "gotrue"} }

// CustomName is the name of a profile read from a file with LoadCustom,
// for services credshield ships no profile for.
const CustomName = "custom"

// New returns the named profile configured by o, or an error naming the
// profiles there are.
func New(name string, o Options) (*Profile, error) {
	prefix := strings.TrimSuffix(o.PathPrefix, "/")
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?#")) {
		return nil, fmt.Errorf("path prefix %s: want an absolute path such as /auth", QuoteShort(o.PathPrefix))
	}
	var p *Profile
	var err error
	switch name {
	case "fastapi":
		p = newFastAPI(o)
	case "authelia":
		p = newAuthelia(o)
	case "kratos":
		p = newKratos(o)
	case "keycloak":
		p, err = newKeycloak(o)
	case "gotrue":
		p, err = newGoTrue(o)
	case CustomName:
		return nil, fmt.Errorf("the %s profile is described in a file: give its path", CustomName)
	default:
		return nil, fmt.Errorf("unknown login profile %s; want one of %s", QuoteShort(name), strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	for _, rs := range [][]Route{p.Logins, p.PassThrough} {
		for i := range rs {
			rs[i].Path = prefix + rs[i].Path
		}
	}
	if err := p.checkClientIP(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkClientIP refuses a profile that would set a client-address header
// the service does not read.
func (p *Profile) checkClientIP() error {
	if !slices.Contains(p.ClientIPHeadersRead, p.ClientIPHeader) {
		return fmt.Errorf("profile %s sets %s, which it does not read", p.Name, p.ClientIPHeader)
	}
	return nil
}
