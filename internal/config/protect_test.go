package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestStatusSet(t *testing.T) {
	tests := []struct {
		in       string
		in2, out []int
		str      string
		err      bool
	}{
		{in: "2xx", in2: []int{200, 201, 204, 299}, out: []int{199, 300, 401}, str: "2xx"},
		{in: "400, 401,403,401", in2: []int{400, 401, 403}, out: []int{402, 404, 200}, str: "400,401,403"},
		{in: "2XX,302", in2: []int{200, 302}, out: []int{301, 303}, str: "2xx,302"},
		{in: "6xx", err: true},
		{in: "99", err: true},
		{in: "", err: true},
		{in: "20x", err: true},
	}
	for _, tt := range tests {
		s, err := ParseStatusSet(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("%q: error %v", tt.in, err)
			continue
		}
		for _, c := range tt.in2 {
			if !s.Contains(c) {
				t.Errorf("%q does not contain %d", tt.in, c)
			}
		}
		for _, c := range tt.out {
			if s.Contains(c) {
				t.Errorf("%q contains %d", tt.in, c)
			}
		}
		if !tt.err && s.String() != tt.str {
			t.Errorf("%q prints as %q, want %q", tt.in, s.String(), tt.str)
		}
	}
}

func TestProtectFlagsAndEnv(t *testing.T) {
	p := DefaultProtect()
	fs := pflag.NewFlagSet("protect", pflag.ContinueOnError)
	p.RegisterFlags(fs)
	if err := fs.Parse([]string{"--upstream", "http://127.0.0.1:8000/api", "--login-path", "/login", "--login-path", "/api/token"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CREDSHIELD_SUCCESS_STATUS": "200,303", "CREDSHIELD_GUARD_IP_LIMIT": "5/1m", "CREDSHIELD_UPSTREAM": "http://ignored:1"}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.UpstreamURL.Host != "127.0.0.1:8000" || strings.Join(p.LoginPaths, " ") != "/login /api/token" ||
		!p.SuccessStatus.Contains(303) || p.SuccessStatus.Contains(201) || p.Guard.IP.Burst != 5 || !p.FailureStatus.Contains(401) {
		t.Errorf("parsed %+v", p)
	}
	if fs.Lookup("issuer") != nil || fs.Lookup("signing-alg") != nil {
		t.Error("protect registers serve's token flags")
	}
}

// TestProtectProfiles: --profile builds each named profile with the
// options that apply to it; an unknown or repeated profile is an error
// naming the flag.
func TestProtectProfiles(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		want  []string // profile names built
		error string
	}{
		{"default fastapi", nil, []string{"fastapi"}, ""},
		{"authelia and kratos", []string{"--profile", "authelia", "--profile", "kratos", "--session-cookie", "sid"}, []string{"authelia", "kratos"}, ""},
		{"unknown", []string{"--profile", "keycloak2"}, nil, "--profile: unknown login profile"},
		{"twice", []string{"--profile", "kratos", "--profile", "kratos"}, nil, "--profile kratos is named twice"},
		{"path prefix", []string{"--profile", "authelia", "--path-prefix", "/authelia"}, []string{"authelia"}, ""},
		{"relative path prefix", []string{"--profile", "authelia", "--path-prefix", "authelia"}, nil, "want an absolute path"},
		{"no success field", []string{"--success-field", ""}, nil, "--success-field must not be empty"},
		{"under the assets prefix", []string{"--profile", "authelia", "--assets-prefix", "/api/"}, nil, "is under --assets-prefix"},
		{"keycloak realms", []string{"--profile", "keycloak", "--realm", "acme", "--realm", "staff"}, []string{"keycloak"}, ""},
		{"keycloak without a realm", []string{"--profile", "keycloak"}, nil, "needs the realms to guard (--realm)"},
		{"a realm without keycloak", []string{"--realm", "master"}, nil, "--realm is read only with --profile keycloak"},
		{"gotrue", []string{"--profile", "gotrue"}, []string{"gotrue"}, ""},
		{"gotrue rate-limit header", []string{"--profile", "gotrue", "--rate-limit-header", "cf-connecting-ip"}, []string{"gotrue"}, ""},
		{"gotrue bad rate-limit header", []string{"--profile", "gotrue", "--rate-limit-header", "X Real IP"}, nil, "is not a header name"},
		{"custom", []string{"--profile", "custom", "--profile-file", "FILE"}, []string{"custom"}, ""},
		{"custom beside keycloak", []string{"--profile", "keycloak", "--realm", "acme", "--profile", "custom", "--profile-file", "FILE"}, []string{"keycloak", "custom"}, ""},
		{"custom without a file", []string{"--profile", "custom"}, nil, "--profile custom needs --profile-file"},
		{"a file without custom", []string{"--profile-file", "FILE"}, nil, "--profile-file is read only with --profile custom"},
		{"custom file missing", []string{"--profile", "custom", "--profile-file", "/nonexistent/acme.yaml"}, nil, "--profile-file: reading the login profile"},
		{"custom file typo", []string{"--profile", "custom", "--profile-file", "TYPO"}, nil, "--profile-file: login profile"},
		{"login form origins", []string{"--profile", "kratos", "--login-form-origin", "https://UI.example.com:443", "--login-form-origin", "http://127.0.0.1:4455"}, []string{"kratos"}, ""},
		{"login form origin with a path", []string{"--login-form-origin", "https://ui.example.com/login"}, nil, "--login-form-origin \"https://ui.example.com/login\": want an origin"},
		{"login form origin without a scheme", []string{"--login-form-origin", "ui.example.com"}, nil, "want an origin"},
		{"login form origin without the page", []string{"--login-form-origin", "https://ui.example.com", "--assets-prefix", ""}, nil, "--login-form-origin needs the challenge page"},
	}
	dir := t.TempDir()
	const custom = "service: Example 1\nlogins: [POST /login]\nbody: {identifier: user, secret: pass}\nsuccess: {json_field: token}\nclient_ip: {set: X-Forwarded-For}\n"
	file, typo := filepath.Join(dir, "custom.yaml"), filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(file, []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(typo, []byte(custom+"refusl: html\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultProtect()
			fs := pflag.NewFlagSet("protect", pflag.ContinueOnError)
			p.RegisterFlags(fs)
			args := slices.Clone(tt.args)
			for i, a := range args {
				args[i] = map[string]string{"FILE": file, "TYPO": typo}[a]
				if args[i] == "" {
					args[i] = a
				}
			}
			if err := fs.Parse(append([]string{"--upstream", "http://127.0.0.1:8000"}, args...)); err != nil {
				t.Fatal(err)
			}
			err := p.Validate()
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("error %v, want %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, prof := range p.LoginProfiles {
				got = append(got, prof.Name)
			}
			if tt.name == "path prefix" && p.LoginProfiles[0].Logins[0].Path != "/authelia/api/firstfactor" {
				t.Errorf("login route %v", p.LoginProfiles[0].Logins)
			}
			if tt.name == "login form origins" && !slices.Equal(p.LoginFormOrigins, []string{"https://ui.example.com", "http://127.0.0.1:4455"}) {
				t.Errorf("login form origins %q; want them canonical", p.LoginFormOrigins)
			}
			switch tt.name {
			case "keycloak realms":
				if !p.LoginProfiles[0].Match("POST", "/realms/staff/protocol/openid-connect/token") {
					t.Errorf("the second realm is not guarded: %v", p.LoginProfiles[0].Logins)
				}
			case "gotrue rate-limit header":
				if p.LoginProfiles[0].ClientIPHeader != "Cf-Connecting-Ip" {
					t.Errorf("gotrue sets %s", p.LoginProfiles[0].ClientIPHeader)
				}
			case "custom":
				if !p.LoginProfiles[0].Match("POST", "/login") {
					t.Errorf("custom login routes %v", p.LoginProfiles[0].Logins)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("profiles %v, want %v", got, tt.want)
			}
		})
	}
}
