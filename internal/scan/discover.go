package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/credshield/credshield/internal/loginapi"
)

// openAPI is the part of an OpenAPI 3 or Swagger 2 document discovery reads.
type openAPI struct {
	OpenAPI    string                                `json:"openapi"`
	Swagger    string                                `json:"swagger"`
	Servers    []struct{ URL string }                `json:"servers"`
	BasePath   string                                `json:"basePath"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Security   []map[string][]string                 `json:"security"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
			Flows  struct {
				Password *struct {
					TokenURL string `json:"tokenUrl"`
				} `json:"password"`
			} `json:"flows"`
		} `json:"securitySchemes"`
	} `json:"components"`
	SecurityDefinitions map[string]struct {
		Type     string `json:"type"`
		Flow     string `json:"flow"`
		TokenURL string `json:"tokenUrl"`
	} `json:"securityDefinitions"`
}

type operation struct {
	Security *[]map[string][]string `json:"security"`
}

// discover finds the token endpoint and a protected operation: flags
// first, then the OpenAPI document, then FastAPI's conventional paths.
// Every URL is kept on the target's origin: the scanner never sends a
// request to a host the user did not name, and a spec that names another
// origin (a proxy's public URL, a placeholder port) is rebased onto it.
func (s *scanner) discover(ctx context.Context) error {
	s.c.setProbe("discovery")
	d := &s.rep.Discovery
	var err error
	if s.opts.TokenURL != "" {
		if d.TokenURL, err = s.resolve(s.target, s.opts.TokenURL); err != nil {
			return fmt.Errorf("--token-url: %w", err)
		}
	}
	if s.opts.ProtectedURL != "" {
		if d.ProtectedURL, err = s.resolve(s.target, s.opts.ProtectedURL); err != nil {
			return fmt.Errorf("--protected-url: %w", err)
		}
	}
	if s.opts.Profile != "" {
		p, err := loginapi.New(s.opts.Profile, s.profileOptions())
		if err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
		s.useProfile(p, "chosen with --profile")
		return nil
	}
	if d.TokenURL == "" || d.ProtectedURL == "" {
		if err := s.readSpec(ctx); err != nil {
			return err
		}
	}
	if d.TokenURL == "" && s.opts.TokenURL == "" {
		found, err := s.discoverService(ctx)
		if err != nil {
			return err
		}
		if found {
			return nil
		}
	}
	if d.TokenURL == "" {
		d.TokenURL, _ = s.resolve(s.target, "/token")
		d.Notes = append(d.Notes, "no OAuth2 password flow found in an OpenAPI document; assumed "+d.TokenURL)
	}
	if d.ProtectedURL == "" {
		d.ProtectedURL, _ = s.resolve(s.target, "/users/me")
		d.Notes = append(d.Notes, "no protected GET operation found in an OpenAPI document; assumed "+d.ProtectedURL)
	}
	return nil
}

// readSpec fetches the first OpenAPI document found and takes the token
// URL and a protected operation from it.
func (s *scanner) readSpec(ctx context.Context) error {
	d := &s.rep.Discovery
	var cands []string
	if strings.HasSuffix(s.target.Path, ".json") {
		cands = append(cands, s.target.String())
	} else {
		dir := *s.target
		if !strings.HasSuffix(dir.Path, "/") {
			dir.Path += "/"
		}
		rel, _ := dir.Parse("openapi.json")
		cands = append(cands, rel.String())
	}
	for _, p := range []string{"/openapi.json", "/docs/openapi.json", "/swagger.json"} {
		u, _ := s.resolve(s.target, p)
		if !slices.Contains(cands, u) {
			cands = append(cands, u)
		}
	}
	for _, u := range cands {
		res, err := s.c.get(ctx, u, map[string]string{"Accept": "application/json"})
		if err != nil {
			return err
		}
		if res.status != 200 {
			continue
		}
		var doc openAPI
		if json.Unmarshal(res.body, &doc) != nil || (doc.OpenAPI == "" && doc.Swagger == "") {
			continue
		}
		d.SpecURL = u
		s.useSpec(&doc, u)
		return nil
	}
	return nil
}

func (s *scanner) useSpec(doc *openAPI, specURL string) {
	d := &s.rep.Discovery
	specU, _ := url.Parse(specURL)
	base, _ := specU.Parse("/") // OpenAPI's default server is "/"
	if len(doc.Servers) > 0 && doc.Servers[0].URL != "" {
		if u, err := specU.Parse(doc.Servers[0].URL); err == nil {
			base = u
		}
	} else if doc.BasePath != "" {
		if u, err := specU.Parse(doc.BasePath); err == nil {
			base = u
		}
	}
	// Scheme names that can carry a bearer JWT.
	bearer := map[string]bool{}
	var tokenURL string
	names := make([]string, 0, len(doc.Components.SecuritySchemes))
	for n := range doc.Components.SecuritySchemes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sc := doc.Components.SecuritySchemes[n]
		if sc.Type == "oauth2" && sc.Flows.Password != nil {
			bearer[n] = true
			if tokenURL == "" {
				tokenURL = sc.Flows.Password.TokenURL
			}
		}
		if sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer") {
			bearer[n] = true
		}
	}
	names = names[:0]
	for n := range doc.SecurityDefinitions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sc := doc.SecurityDefinitions[n]
		if sc.Type == "oauth2" && sc.Flow == "password" {
			bearer[n] = true
			if tokenURL == "" {
				tokenURL = sc.TokenURL
			}
		}
	}
	if tokenURL != "" && d.TokenURL == "" {
		if u, err := s.rebase(base, tokenURL); err == nil {
			d.TokenURL = u
		}
	}
	if d.ProtectedURL != "" {
		return
	}
	var protected []string
	for path, ops := range doc.Paths {
		raw, ok := ops["get"]
		if !ok || strings.Contains(path, "{") {
			continue
		}
		var op operation
		if json.Unmarshal(raw, &op) != nil {
			continue
		}
		reqs := doc.Security
		if op.Security != nil {
			reqs = *op.Security
		}
		for _, req := range reqs {
			if slices.ContainsFunc(mapKeys(req), func(k string) bool { return bearer[k] }) {
				protected = append(protected, path)
				break
			}
		}
	}
	// Prefer the caller's own resource (/users/me), then the shortest path.
	sort.Slice(protected, func(i, j int) bool {
		mi, mj := strings.HasSuffix(protected[i], "/me"), strings.HasSuffix(protected[j], "/me")
		if mi != mj {
			return mi
		}
		if len(protected[i]) != len(protected[j]) {
			return len(protected[i]) < len(protected[j])
		}
		return protected[i] < protected[j]
	})
	if len(protected) > 0 {
		rel := strings.TrimPrefix(protected[0], "/")
		b := *base
		if !strings.HasSuffix(b.Path, "/") {
			b.Path += "/"
		}
		if u, err := s.rebase(&b, rel); err == nil {
			d.ProtectedURL = u
		}
	}
}

func mapKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// resolve resolves ref against base and refuses another origin.
func (s *scanner) resolve(base *url.URL, ref string) (string, error) {
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", ref, err)
	}
	if u.Scheme != s.target.Scheme || u.Host != s.target.Host {
		return "", errors.New("only URLs on the scanned origin " + s.target.Scheme + "://" + s.target.Host + " are probed")
	}
	return u.String(), nil
}

// rebase resolves ref against base and moves it onto the target's origin
// when it names another, with a note in the discovery record.
func (s *scanner) rebase(base *url.URL, ref string) (string, error) {
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", ref, err)
	}
	if u.Scheme != s.target.Scheme || u.Host != s.target.Host {
		orig := u.String()
		u.Scheme, u.Host = s.target.Scheme, s.target.Host
		s.rep.Discovery.Notes = append(s.rep.Discovery.Notes,
			fmt.Sprintf("the API document names %s; probed %s on the scanned origin instead", orig, u.String()))
	}
	return u.String(), nil
}

// findJWKS fetches the published keys: /.well-known/jwks.json, else the
// jwks_uri of RFC 8414 (or OpenID) metadata. Absent keys are not an error.
func (s *scanner) findJWKS(ctx context.Context) ([]byte, error) {
	get := func(ref string) ([]byte, string, error) {
		u, err := s.rebase(s.target, ref)
		if err != nil {
			return nil, "", nil
		}
		res, err := s.c.get(ctx, u, map[string]string{"Accept": "application/json"})
		if err != nil || res.status != 200 {
			return nil, u, err
		}
		return res.body, u, nil
	}
	body, u, err := get("/.well-known/jwks.json")
	if err != nil {
		return nil, err
	}
	if body != nil && json.Valid(body) {
		s.rep.Discovery.JWKSURL = u
		return body, nil
	}
	for _, meta := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		body, _, err := get(meta)
		if err != nil {
			return nil, err
		}
		var m struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if body == nil || json.Unmarshal(body, &m) != nil || m.JWKSURI == "" {
			continue
		}
		body, u, err := get(m.JWKSURI)
		if err != nil {
			return nil, err
		}
		if body != nil && json.Valid(body) {
			s.rep.Discovery.JWKSURL = u
			return body, nil
		}
		break
	}
	return nil, nil
}
