package config

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDeviceCookieSameSite: the flag's word is parsed once, into the
// http.SameSite the cookie is written with, so no consumer maps strings.
func TestDeviceCookieSameSite(t *testing.T) {
	tests := []struct {
		name, arg string
		want      http.SameSite
		err       string
	}{
		{"default", "", http.SameSiteStrictMode, ""},
		{"strict", "strict", http.SameSiteStrictMode, ""},
		{"lax", "lax", http.SameSiteLaxMode, ""},
		{"none", "none", http.SameSiteNoneMode, ""},
		{"upper case is not a mode", "Lax", 0, "want strict, lax or none"},
		{"default mode has no word", "default", 0, "want strict, lax or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DefaultDefence()
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			d.RegisterFlags(fs)
			var args []string
			if tt.arg != "" {
				args = []string{"--device-cookie-samesite", tt.arg}
			}
			err := fs.Parse(args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.DeviceCookieSameSite != tt.want {
				t.Errorf("SameSite %v, want %v", d.DeviceCookieSameSite, tt.want)
			}
			if err := d.Validate("127.0.0.1:8080"); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	d := DefaultDefence()
	d.DeviceCookieSameSite = http.SameSiteDefaultMode
	if err := d.Validate("127.0.0.1:8080"); err == nil || !strings.Contains(err.Error(), "--device-cookie-samesite") {
		t.Errorf("a mode the flag cannot spell validated: %v", err)
	}
}

func TestDefenceValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Defence)
		want string
	}{
		{"metrics on the public listener", func(d *Defence) { d.MetricsListen = "127.0.0.1:8080" }, "--metrics-listen must differ from --listen"},
		{"client ip header not a header name", func(d *Defence) { d.ClientIPHeader = "X Forwarded" }, "--client-ip-header"},
		{"empty client ip header", func(d *Defence) { d.ClientIPHeader = "" }, "--client-ip-header must not be empty"},
		{"replay cache too small", func(d *Defence) { d.ChallengeReplayCapacity = 10 }, "--challenge-replay-capacity"},
		{"short device lifetime", func(d *Defence) { d.DeviceLifetime = 1 }, "--device-lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DefaultDefence()
			if err := d.Validate("127.0.0.1:8080"); err != nil {
				t.Fatalf("defaults: %v", err)
			}
			tt.mod(&d)
			if err := d.Validate("127.0.0.1:8080"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestProtectFlagsAreDefenceAndItsOwn: protect binds the defence's flags,
// the listener's TLS flags and its own, nothing of serve's token service.
func TestProtectFlagsAreDefenceAndItsOwn(t *testing.T) {
	names := func(register func(*pflag.FlagSet)) []string {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		register(fs)
		var n []string
		fs.VisitAll(func(f *pflag.Flag) { n = append(n, f.Name) })
		return n
	}
	d, p, s, tl := DefaultDefence(), DefaultProtect(), Default(), TLS{}
	defence := names(d.RegisterFlags)
	shared := append(names(tl.RegisterFlags), defence...)
	protect := names(p.RegisterFlags)
	serve := names(s.RegisterFlags)
	own := []string{"failure-floor", "failure-status", "insecure-success-by-status", "listen", "login-form-origin", "login-path", "path-prefix", "profile", "profile-file", "rate-limit-header", "realm", "session-cookie", "shutdown-timeout", "success-field", "success-status", "uniform-failure-timing", "upstream", "username-field"}
	for _, n := range protect {
		if !slices.Contains(shared, n) && !slices.Contains(own, n) {
			t.Errorf("protect registers --%s, neither the defence's, the listener's nor its own", n)
		}
	}
	for _, n := range shared {
		if !slices.Contains(protect, n) || !slices.Contains(serve, n) {
			t.Errorf("--%s is not registered by both serve and protect", n)
		}
	}
}

func TestPasswordsValidate(t *testing.T) {
	p := DefaultPasswords()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.MinLength = 4
	p.Argon.Threads = 0
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "--password-min-length") || !strings.Contains(err.Error(), "parallelism") {
		t.Errorf("error %v, want both the length and the argon2 threads", err)
	}
}
