package simulate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/credshield/credshield/internal/password"
)

// TestWritePopulationFormats writes a small population in each format and
// reads it back the way the service's import does: every account's
// password (or its hash, which must verify) under its identifier.
func TestWritePopulationFormats(t *testing.T) {
	pop, err := NewPopulation(7, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	pop = pop.WithDomain("example.com")
	h, err := pop.Hash(context.Background(), password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]func(t *testing.T, b []byte) map[string]string{
		FormatUserPass: func(t *testing.T, b []byte) map[string]string {
			out := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				name, pw, _ := strings.Cut(line, ":")
				out[name] = pw
			}
			return out
		},
		FormatKratosIdentities: func(t *testing.T, b []byte) map[string]string {
			var ids []struct {
				SchemaID    string            `json:"schema_id"`
				Traits      map[string]string `json:"traits"`
				Credentials struct {
					Password struct {
						Config struct {
							HashedPassword string `json:"hashed_password"`
						} `json:"config"`
					} `json:"password"`
				} `json:"credentials"`
			}
			if err := json.Unmarshal(b, &ids); err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, id := range ids {
				if id.SchemaID != "default" {
					t.Errorf("schema %q", id.SchemaID)
				}
				out[id.Traits["email"]] = id.Credentials.Password.Config.HashedPassword
			}
			return out
		},
		FormatAutheliaYAML: func(t *testing.T, b []byte) map[string]string {
			var db struct {
				Users map[string]struct {
					DisplayName string   `yaml:"displayname"`
					Password    string   `yaml:"password"`
					Email       string   `yaml:"email"`
					Groups      []string `yaml:"groups"`
				} `yaml:"users"`
			}
			if err := yaml.Unmarshal(b, &db); err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for name, u := range db.Users {
				if u.DisplayName == "" || !strings.Contains(u.Email, "@") {
					t.Errorf("%s: displayname %q, email %q", name, u.DisplayName, u.Email)
				}
				out[name] = u.Password
			}
			return out
		},
	}
	for format, parse := range read {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pop")
			if err := pop.WritePopulation(path, format, h); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode %v, %v; want 0600 (it holds passwords or hashes)", fi.Mode(), err)
			}
			b, _ := os.ReadFile(path)
			got := parse(t, b)
			if len(got) != len(pop.Usernames) {
				t.Fatalf("%d accounts read back, want %d", len(got), len(pop.Usernames))
			}
			for i, name := range pop.Usernames {
				secret := got[name]
				if format == FormatUserPass {
					if secret != pop.Passwords[i] {
						t.Errorf("%s: password %q, want %q", name, secret, pop.Passwords[i])
					}
					continue
				}
				if ok, _, err := password.Verify(secret, []byte(pop.Passwords[i]), password.DefaultParams()); err != nil || !ok {
					t.Errorf("%s: hash %q does not verify the password: %v", name, secret, err)
				}
			}
		})
	}
}
