package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/credshield/credshield/internal/loginapi"
)

// A target that publishes no OAuth2 password flow may be one of the
// services the login profiles describe. Discovery asks each its own
// harmless question (a GET that carries no secret) and speaks the first
// that answers as that service does; --profile skips the questions.

// serviceProbe recognises one service from one GET.
type serviceProbe struct {
	profile string
	// path is the GET's.
	path string
	// is reports whether the answer is the service's.
	is func(r *response) bool
	// protected is the service's "who am I" route, for the CORS check.
	protected string
}

// serviceProbes are the questions discovery asks, in order; realm is
// --realm (Keycloak's routes name it, so it is asked only with one).
func serviceProbes(realm string) []serviceProbe {
	probes := []serviceProbe{
		{
			// Kratos creates an API login flow for a GET: 200 with the
			// flow's id and its ui form (selfservice/flow/login/handler.go).
			profile: "kratos", path: "/self-service/login/api", protected: "/sessions/whoami",
			is: func(r *response) bool {
				var flow struct {
					ID string `json:"id"`
					UI *struct {
						Action string `json:"action"`
					} `json:"ui"`
				}
				return r.status == http.StatusOK && json.Unmarshal(r.body, &flow) == nil && flow.ID != "" && flow.UI != nil && flow.UI.Action != ""
			},
		},
		{
			// Authelia's first factor takes only POST: its router
			// answers another method with 405, where an app without the
			// route answers 404 (and a catch-all front end 200).
			profile: "authelia", path: "/api/firstfactor", protected: "/api/state",
			is: func(r *response) bool { return r.status == http.StatusMethodNotAllowed },
		},
	}
	if realm != "" {
		// Keycloak publishes each realm's OpenID metadata; its
		// token_endpoint is the realm's direct grant.
		base := "/realms/" + url.PathEscape(realm)
		probes = append(probes, serviceProbe{
			profile: "keycloak", path: base + "/.well-known/openid-configuration", protected: base + "/protocol/openid-connect/userinfo",
			is: func(r *response) bool {
				var m struct {
					TokenEndpoint string `json:"token_endpoint"`
				}
				return r.status == http.StatusOK && json.Unmarshal(r.body, &m) == nil &&
					strings.HasSuffix(m.TokenEndpoint, base+"/protocol/openid-connect/token")
			},
		})
	}
	for _, prefix := range []string{"/auth/v1", ""} {
		// GoTrue names itself at GET /health (api/api.go, HealthCheck);
		// behind Supabase's gateway under /auth/v1.
		probes = append(probes, serviceProbe{
			profile: "gotrue", path: prefix + "/health", protected: prefix + "/user",
			is: func(r *response) bool {
				var h struct {
					Name string `json:"name"`
				}
				return r.status == http.StatusOK && json.Unmarshal(r.body, &h) == nil && h.Name == "GoTrue"
			},
		})
	}
	return probes
}

// discoverService asks the well-known questions and speaks the first
// service that answers; it reports whether one did.
func (s *scanner) discoverService(ctx context.Context) (bool, error) {
	for _, sp := range serviceProbes(s.opts.Realm) {
		if !slices.Contains(loginapi.Names(), sp.profile) {
			continue
		}
		u, _ := s.resolve(s.target, sp.path)
		r, err := s.c.get(ctx, u, map[string]string{"Accept": "application/json"})
		if err != nil {
			return false, err
		}
		if !sp.is(r) {
			continue
		}
		p, err := loginapi.New(sp.profile, s.profileOptions())
		if err != nil {
			return false, err
		}
		s.useProfile(p, fmt.Sprintf("GET %s answered %d as %s does", sp.path, r.status, sp.profile))
		if sp.profile == "gotrue" && strings.HasPrefix(sp.path, "/auth/v1/") {
			// Behind Supabase's gateway: its second login route.
			s.rep.Discovery.TokenURL, _ = s.resolve(s.target, "/auth/v1/token")
			s.gotruePrefix = "/auth/v1"
		}
		return true, nil
	}
	return false, nil
}

// profileOptions are the options of the scanned service's profile.
func (s *scanner) profileOptions() loginapi.Options {
	var o loginapi.Options
	if s.opts.Realm != "" {
		o.Realms = []string{s.opts.Realm}
	}
	return o
}

// useProfile makes every login of the scan speak p; how says why.
func (s *scanner) useProfile(p *loginapi.Profile, how string) {
	s.profile = p
	d := &s.rep.Discovery
	d.Profile = p.Name
	d.TokenURL, _ = s.resolve(s.target, p.Logins[0].Path)
	if d.ProtectedURL == "" {
		for _, sp := range serviceProbes(s.opts.Realm) {
			if sp.profile == p.Name && d.ProtectedURL == "" {
				d.ProtectedURL, _ = s.resolve(s.target, sp.protected)
			}
		}
	}
	d.Notes = append(d.Notes, fmt.Sprintf("logins speak the %s login API (profile written against %s): %s", p.Name, p.Version, how))
	if len(p.ClientIPHeadersRead) > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("%s reads the client address from %s: a proxy in front of it must replace that header, or every client picks the address %s limits and logs",
			p.Name, strings.Join(p.ClientIPHeadersRead, ", "), p.Name))
	}
}

// attempt sends one login for name with the secret pw, with the extra
// headers hdr: the OAuth2 password grant, or the profile's login (with the
// requests it needs first, counted against the budget like any other).
func (s *scanner) attempt(ctx context.Context, name, pw string, hdr map[string]string) (*response, error) {
	if s.profile == nil {
		return s.c.postForm(ctx, s.rep.Discovery.TokenURL, map[string][]string{
			"grant_type": {"password"}, "username": {name}, "password": {pw},
		}, hdr)
	}
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	base := s.target.Scheme + "://" + s.target.Host + s.gotruePrefix
	req, body, err := s.profile.NewAttempt(ctx, budgetDoer{ctx, s.c}, loginapi.Login{Base: base, Identifier: name, Secret: pw, Header: h, ClientID: s.opts.ClientID})
	if err != nil {
		return nil, fmt.Errorf("scan: %s login: %w", s.profile.Name, err)
	}
	return s.c.do(ctx, req, body)
}

// throttled reports whether an answer to a login is a throttle: the
// generic signs, or a refusal in the profile's shape.
func (s *scanner) throttled(r *response) bool {
	if isThrottled(r) {
		return true
	}
	if s.profile == nil {
		return false
	}
	kind, _ := s.profile.ReadRefusal(loginapi.Answer{Status: r.status, Header: r.header, Body: r.body})
	return kind != 0
}

// loginSucceeded reports whether the answer to the scanner's own login is
// a success, by the profile's rule where there is one.
func (s *scanner) loginSucceeded(r *response) bool {
	return s.profile.Classify(s.now(), loginapi.Answer{Status: r.status, Header: r.header, Body: r.body}) == loginapi.Success
}

// budgetDoer sends the requests a profile's login needs before its POST
// through the scan's client, within its budget and pace.
type budgetDoer struct {
	ctx context.Context
	c   *client
}

func (d budgetDoer) Do(req *http.Request) (*http.Response, error) {
	r, err := d.c.do(d.ctx, req, nil)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body))}, nil
}
