package loginapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// customFile is the YAML form of a custom profile; docs/login-profiles.md
// documents every key. It is decoded with KnownFields, so a misspelt key
// is an error naming it and its line, never a setting silently left at
// its default.
type customFile struct {
	Service     string        `yaml:"service"`
	Sources     []string      `yaml:"sources"`
	Logins      []string      `yaml:"logins"`
	PassThrough []string      `yaml:"pass_through"`
	Body        customBody    `yaml:"body"`
	Success     customSuccess `yaml:"success"`
	Refund      []int         `yaml:"refund"`
	ClientIP    customIP      `yaml:"client_ip"`
	Refusal     string        `yaml:"refusal"`
}

type customBody struct {
	Form       bool     `yaml:"form"`
	Identifier string   `yaml:"identifier"`
	Secret     string   `yaml:"secret"`
	Read       []string `yaml:"read"`
}

type customSuccess struct {
	Status    []int  `yaml:"status"`
	JSONField string `yaml:"json_field"`
	Cookie    string `yaml:"cookie"`
}

type customIP struct {
	Set  string   `yaml:"set"`
	Also []string `yaml:"also_read"`
}

// The shapes a custom profile's refusals take.
const (
	refuseAuto = "auto"
	refuseJSON = "json"
	refuseHTML = "html"
)

// LoadCustom reads a custom profile from the YAML file at path: the
// fields of a Profile for a service credshield ships no profile for. Its
// name is CustomName.
func LoadCustom(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the login profile: %w", err)
	}
	p, err := parseCustom(b, path)
	if err != nil {
		return nil, fmt.Errorf("login profile %s: %w", path, err)
	}
	return p, nil
}

// parseCustom decodes and checks one YAML document; source names it in
// Sources when the file lists none.
func parseCustom(b []byte, source string) (*Profile, error) {
	var f customFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, yamlError(err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file holds more than one YAML document")
	}
	return f.profile(source)
}

// yamlTypeName is the Go type yaml names in its errors, which say
// nothing to a user.
var yamlTypeName = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlError rewrites yaml's messages in the file's own terms: "line 3:
// unknown key nmae".
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		msgs[i] = yamlTypeName.ReplaceAllString(e, "unknown key $1")
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (f customFile) profile(source string) (*Profile, error) {
	c := custom{identifier: f.Body.Identifier, secret: f.Body.Secret, jsonField: f.Success.JSONField,
		cookie: f.Success.Cookie, success: f.Success.Status, refund: f.Refund, refusal: f.Refusal}
	if c.identifier == "" || c.secret == "" || c.identifier == c.secret {
		return nil, errors.New("body.identifier and body.secret must name two different fields")
	}
	c.read = append([]string{c.identifier, c.secret}, f.Body.Read...)
	for _, k := range c.read {
		if k == "" || CheckText(k) != nil {
			return nil, fmt.Errorf("body.read: %s is not a field name", QuoteShort(k))
		}
	}
	if c.jsonField == "" && c.cookie == "" {
		return nil, errors.New("success needs json_field or cookie (or both): a status alone proves no login")
	}
	if c.cookie != "" && !validCookieName(c.cookie) {
		return nil, fmt.Errorf("success.cookie: %s is not a cookie name", QuoteShort(c.cookie))
	}
	if len(c.success) == 0 {
		c.success = []int{http.StatusOK}
	}
	for _, s := range c.success {
		if s < 200 || s > 399 {
			return nil, fmt.Errorf("success.status: %d is not a success status (200 to 399)", s)
		}
	}
	for _, s := range c.refund {
		if s < 100 || s > 599 || slices.Contains(c.success, s) {
			return nil, fmt.Errorf("refund: %d is not a status that can mean \"not checked\"", s)
		}
	}
	switch c.refusal {
	case "":
		c.refusal = refuseAuto
	case refuseAuto, refuseJSON, refuseHTML:
	default:
		return nil, fmt.Errorf("refusal: %s; want auto, json or html", QuoteShort(c.refusal))
	}
	set := http.CanonicalHeaderKey(f.ClientIP.Set)
	if set == "" {
		return nil, errors.New("client_ip.set must name the header the service reads the client address from")
	}
	read := []string{set}
	for _, h := range append([]string{set}, f.ClientIP.Also...) {
		if !validHeaderName(h) {
			return nil, fmt.Errorf("client_ip: %s is not a header name", QuoteShort(h))
		}
		if h = http.CanonicalHeaderKey(h); !slices.Contains(read, h) {
			read = append(read, h)
		}
	}
	p := &Profile{
		Name: CustomName, Version: f.Service, Sources: f.Sources,
		FormBodies: f.Body.Form, ClientIPHeader: set, ClientIPHeadersRead: read, api: c,
	}
	if p.Version == "" {
		return nil, errors.New("service must say which service and version the profile describes")
	}
	if len(p.Sources) == 0 {
		p.Sources = []string{source}
	}
	var err error
	if p.Logins, err = customRoutes("logins", f.Logins); err != nil {
		return nil, err
	}
	if len(p.Logins) == 0 {
		return nil, errors.New("logins must list at least one route, such as \"POST /api/login\"")
	}
	for _, r := range p.Logins {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return nil, fmt.Errorf("logins: %s %s carries no body to read", r.Method, r.Path)
		}
	}
	if p.PassThrough, err = customRoutes("pass_through", f.PassThrough); err != nil {
		return nil, err
	}
	if err := p.checkClientIP(); err != nil {
		return nil, err
	}
	return p, nil
}

// customRoutes parses routes written "METHOD /path".
func customRoutes(key string, lines []string) ([]Route, error) {
	var rs []Route
	for _, line := range lines {
		method, path, ok := strings.Cut(strings.TrimSpace(line), " ")
		path = strings.TrimSpace(path)
		if !ok || method == "" || method != strings.ToUpper(method) || strings.ContainsAny(method, "/ ") {
			return nil, fmt.Errorf("%s: %s; want a method and a path, such as \"POST /api/login\"", key, QuoteShort(line))
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# ") {
			return nil, fmt.Errorf("%s: %s: want an absolute path without a query", key, QuoteShort(path))
		}
		if _, err := url.PathUnescape(path); err != nil {
			return nil, fmt.Errorf("%s: %s: malformed percent-encoding", key, QuoteShort(path))
		}
		rs = append(rs, Route{Method: method, Path: path})
	}
	return rs, nil
}

// validHeaderName reports whether name is an HTTP field name (RFC 9110
// §5.1: a token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validCookieName reports whether name is a cookie name net/http would
// parse back from a Set-Cookie line.
func validCookieName(name string) bool {
	cs := (&http.Response{Header: http.Header{"Set-Cookie": {name + "=v"}}}).Cookies()
	return len(cs) == 1 && cs[0].Name == name
}

// custom is a profile read from a file: one identifier field and one
// secret field; every request to a login route is a guess, and only one
// that names both may earn trust.
type custom struct {
	identifier, secret string
	read               []string
	jsonField, cookie  string
	success, refund    []int
	refusal            string
}

func (c custom) fields() []string { return c.read }

func (c custom) attempt(f map[string]string, _ url.Values) (Attempt, error) {
	name, ok := f[c.identifier]
	if !ok {
		return Attempt{}, missing(c.identifier)
	}
	return Attempt{Identifier: name, Guess: true, Earns: f[c.secret] != ""}, nil
}

// classify: a success needs a listed status and every proof the file
// names; a refund status gives the attempt back; all else is a failure.
func (c custom) classify(now time.Time, a Answer) Outcome {
	if slices.Contains(c.refund, a.Status) {
		return NotJudged
	}
	if !slices.Contains(c.success, a.Status) {
		return Failure
	}
	if c.jsonField != "" && (a.Truncated || jsonString(a.Body, c.jsonField) == "") {
		return Failure
	}
	if c.cookie != "" && !cookieSet(now, a.Header, c.cookie) {
		return Failure
	}
	return Success
}

func (c custom) render(r Refusal) (Response, bool) {
	if c.refusal == refuseHTML || (c.refusal == refuseAuto && r.formPost()) {
		return htmlRefusal(r), true
	}
	return Response{}, false
}
