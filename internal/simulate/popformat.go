package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Population formats: what each service's own import reads.
const (
	// FormatCredshield is JSONL for `credshield user import`.
	FormatCredshield = "credshield"
	// FormatUserPass is "username:password" lines, plain text, for a
	// service that hashes on its own import (or a test stand-in).
	FormatUserPass = "userpass"
	// FormatKratosIdentities is a JSON array of identities for `kratos
	// import identities` (or POST /admin/identities one by one), each
	// with its argon2id hash in credentials.password.config.hashed_password
	// and the identifier in traits.email (Kratos's default email schema).
	FormatKratosIdentities = "kratos-identities"
	// FormatAutheliaYAML is Authelia's file backend, users_database.yml,
	// with argon2id hashes.
	FormatAutheliaYAML = "authelia-yaml"
)

// PopulationFormats lists the formats WritePopulation knows.
var PopulationFormats = []string{FormatCredshield, FormatUserPass, FormatKratosIdentities, FormatAutheliaYAML}

// NeedsHashes reports whether format carries password hashes (and so
// takes the time of hashing every account).
func NeedsHashes(format string) bool { return format != FormatUserPass }

// WritePopulation writes the accounts to path in format; h is needed by
// every format but FormatUserPass. The file is created 0600: it holds the
// passwords or their hashes.
func (p *Population) WritePopulation(path, format string, h HashedUsers) error {
	var write func(w io.Writer) error
	switch format {
	case FormatCredshield:
		return p.WriteJSONL(path, h)
	case FormatUserPass:
		write = p.writeUserPass
	case FormatKratosIdentities:
		write = func(w io.Writer) error { return p.writeKratos(w, h) }
	case FormatAutheliaYAML:
		write = func(w io.Writer) error { return p.writeAuthelia(w, h) }
	default:
		return fmt.Errorf("population format %q: want one of %v", format, PopulationFormats)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write population: %w", err)
	}
	w := bufio.NewWriter(f)
	if err := write(w); err != nil {
		f.Close()
		return fmt.Errorf("write population: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write population: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write population: %w", err)
	}
	return nil
}

func (p *Population) writeUserPass(w io.Writer) error {
	for i, name := range p.Usernames {
		if _, err := fmt.Fprintf(w, "%s:%s\n", name, p.Passwords[i]); err != nil {
			return err
		}
	}
	return nil
}

// kratosIdentity is the part of Kratos's CreateIdentityBody an import
// with a hashed password sets (identity/handler.go, CreateIdentityBody;
// the hash is one of the formats of hash/hash_comparator.go, argon2id in
// PHC form among them).
type kratosIdentity struct {
	SchemaID    string            `json:"schema_id"`
	Traits      map[string]string `json:"traits"`
	Credentials struct {
		Password struct {
			Config struct {
				HashedPassword string `json:"hashed_password"`
			} `json:"config"`
		} `json:"password"`
	} `json:"credentials"`
	State string `json:"state"`
}

func (p *Population) writeKratos(w io.Writer, h HashedUsers) error {
	ids := make([]kratosIdentity, len(p.Usernames))
	for i, name := range p.Usernames {
		ids[i] = kratosIdentity{SchemaID: "default", Traits: map[string]string{"email": name}, State: "active"}
		ids[i].Credentials.Password.Config.HashedPassword = h.Hashes[i]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ids)
}

// writeAuthelia writes users_database.yml as Authelia's file backend
// reads it (internal/authentication/file_user_provider.go: users, each
// with displayname, password, email and groups). Every scalar is a JSON
// string, which YAML reads as a double-quoted scalar.
func (p *Population) writeAuthelia(w io.Writer, h HashedUsers) error {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	if _, err := io.WriteString(w, "users:\n"); err != nil {
		return err
	}
	for i, name := range p.Usernames {
		email := name
		if !strings.Contains(name, "@") {
			email = name + "@example.com"
		}
		if _, err := fmt.Fprintf(w, "  %s:\n    displayname: %s\n    password: %s\n    email: %s\n    groups: []\n",
			q(name), q(name), q(h.Hashes[i]), q(email)); err != nil {
			return err
		}
	}
	return nil
}
