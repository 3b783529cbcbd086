package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestValidateIssuer(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"https://auth.example.com", "https://auth.example.com", ""},
		{"https://auth.example.com/", "https://auth.example.com", ""},
		{"https://example.com/tenant/a", "https://example.com/tenant/a", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"http://127.9.9.9", "http://127.9.9.9", ""},
		{"http://localhost:8080", "http://localhost:8080", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{"http://example.com", "", "only on loopback"},
		{"http://10.0.0.1", "", "only on loopback"},
		{"ftp://example.com", "", "scheme must be https"},
		{"https://example.com?x=1", "", "query"},
		{"https://example.com#f", "", "fragment"},
		{"https://user@example.com", "", "user info"},
		{"/relative", "", "absolute"},
		{"", "", "absolute"},
	}
	for _, tt := range tests {
		got, err := ValidateIssuer(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ValidateIssuer(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateIssuer(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidateDefaults(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Issuer != "http://127.0.0.1:8080" || c.Audience != c.Issuer {
		t.Errorf("issuer %q audience %q", c.Issuer, c.Audience)
	}
	if c.Argon.MemoryKiB < 19456 || c.Argon.Time < 2 || c.Argon.Threads < 1 {
		t.Errorf("argon2 defaults below OWASP's minimum: %+v", c)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Serve)
		want string
	}{
		{"all interfaces needs issuer", func(c *Serve) { c.Listen = ":8080" }, "--issuer is required"},
		{"bad listen", func(c *Serve) { c.Listen = "nope" }, "--listen"},
		{"symmetric alg", func(c *Serve) { c.SigningAlg = "HS256" }, "--signing-alg"},
		{"leeway too long", func(c *Serve) { c.Leeway = 61e9 }, "--leeway"},
		{"ttl too short", func(c *Serve) { c.AccessTTL = 1e9 }, "--access-token-ttl"},
		{"wildcard origin", func(c *Serve) { c.CORSOrigins = []string{"*"} }, "not allowed"},
		{"origin with path", func(c *Serve) { c.CORSOrigins = []string{"https://a.example/x"} }, "scheme://host"},
		{"scope with a space", func(c *Serve) { c.AllowedScopes = []string{"read write"} }, "--allowed-scopes"},
		{"scope with a quote", func(c *Serve) { c.AllowedScopes = []string{`a"b`} }, "--allowed-scopes"},
		{"empty scope", func(c *Serve) { c.AllowedScopes = []string{""} }, "--allowed-scopes"},
		{"negative queue", func(c *Serve) { c.HasherQueue = -1 }, "--hasher-queue"},
		{"guard store not redis", func(c *Serve) { c.GuardStore = "http://secret@127.0.0.1:6379" }, "--guard-store: want redis://"},
		{"no replicas", func(c *Serve) { c.Replicas = 0 }, "--replicas"},
		{"idle refresh longer than absolute", func(c *Serve) { c.RefreshIdleTTL = 31 * 24 * time.Hour }, "--refresh-token-idle-ttl"},
		{"rotation shorter than lead", func(c *Serve) { c.KeyRotationInterval = 5 * time.Minute }, "--key-rotation-interval"},
		{"negative publish lead", func(c *Serve) { c.KeyPublishLead = -time.Second }, "--key-publish-lead"},
		{"resource url over http", func(c *Serve) { c.ResourceURL = "http://api.example" }, "--resource-url"},
		{"pprof without metrics listener", func(c *Serve) { c.Pprof = true }, "--pprof needs --metrics-listen"},
		{"assets prefix without a slash", func(c *Serve) { c.AssetsPrefix = "/assets" }, "--assets-prefix \"/assets\": want"},
		{"assets prefix taking every path", func(c *Serve) { c.AssetsPrefix = "/" }, "--assets-prefix"},
		{"two errors at once", func(c *Serve) { c.SigningAlg = "x"; c.HasherWorkers = -1 }, "--hasher-workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:9000"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"CREDSHIELD_LISTEN":       "127.0.0.1:7000", // the flag wins
		"CREDSHIELD_ISSUER":       "https://auth.example.com",
		"CREDSHIELD_CORS_ORIGINS": "https://a.example,https://b.example",
		"CREDSHIELD_ARGON2_TIME":  "3",
	}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Issuer != "https://auth.example.com" || len(c.CORSOrigins) != 2 || c.Argon.Time != 3 {
		t.Errorf("after env: %+v", c)
	}
	fresh := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c2 := Default()
	c2.RegisterFlags(fresh)
	bad := map[string]string{"CREDSHIELD_ARGON2_TIME": "many"}
	err := ApplyEnv(fresh, func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "CREDSHIELD_ARGON2_TIME") {
		t.Errorf("bad env value: %v", err)
	}
	if got := EnvName("data-dir"); got != "CREDSHIELD_DATA_DIR" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestBindIssuer(t *testing.T) {
	c := Default()
	c.Listen = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.BindIssuer("127.0.0.1:41234")
	if c.Issuer != "http://127.0.0.1:41234" || c.Audience != c.Issuer || c.ResourceURL != c.Issuer {
		t.Errorf("issuer %q audience %q", c.Issuer, c.Audience)
	}
	set := Default()
	set.Listen = "127.0.0.1:0"
	set.Issuer = "https://auth.example.com"
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	set.BindIssuer("127.0.0.1:41234")
	if set.Issuer != "https://auth.example.com" {
		t.Errorf("configured issuer replaced: %q", set.Issuer)
	}
}
