package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// ConfigFlag names the flag (and, through EnvName, the environment
// variable CREDSHIELD_CONFIG) that names the configuration file.
const ConfigFlag = "config"

// maxFileSize bounds a configuration file: a settings file is a few KiB,
// anything larger is a mistake (a binary, a log) rather than settings.
const maxFileSize = 1 << 20

// Origins says where each setting Apply made came from.
type Origins struct {
	// Of maps a flag name to where its value came from: "command line",
	// its CREDSHIELD_* variable, or FILE:LINE. A flag absent from it has
	// its default.
	Of map[string]string
	// Unused are the file's keys this command does not take (another
	// command does: a file may serve several), as "KEY (line N)".
	Unused []string
}

// Apply completes fs, after its command line was parsed, from the
// environment and then from the YAML file the --config flag (or
// CREDSHIELD_CONFIG) names, so the precedence is command line, then
// environment, then file, then default. It is the one place settings are
// layered. known reports whether a key is a setting of any command; a key
// that is not is an error naming it and its line, so a misspelt setting
// never silently keeps its default.
//
// The file is a flat mapping whose keys are the flag names without their
// dashes (guard-ip-limit: 20/1h); a list flag takes a YAML sequence or a
// comma-separated string.
func Apply(fs *pflag.FlagSet, lookup func(string) (string, bool), known func(key string) bool) (Origins, error) {
	o := Origins{Of: map[string]string{}}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			o.Of[f.Name] = "command line"
		}
	})
	if err := ApplyEnv(fs, lookup); err != nil {
		return o, err
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := o.Of[f.Name]; !ok && f.Changed {
			o.Of[f.Name] = EnvName(f.Name)
		}
	})
	cf := fs.Lookup(ConfigFlag)
	if cf == nil || cf.Value.String() == "" {
		return o, nil
	}
	return o, applyFile(fs, cf.Value.String(), known, &o)
}

// applyFile sets each flag of fs that is still unset from the file at path.
func applyFile(fs *pflag.FlagSet, path string, known func(string) bool, o *Origins) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("%s: larger than %d bytes: not a settings file", path, maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// The keys are checked against the flags below, which KnownFields
	// cannot do for a mapping; it still refuses what a future struct
	// decode would not know.
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file sets nothing
	} else if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want settings as key: value lines", path, root.Line)
	}
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		at := fmt.Sprintf("%s:%d", path, k.Line)
		switch {
		case k.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("%s: a key must be a setting name", at))
			continue
		case seen[key] != 0:
			errs = append(errs, fmt.Errorf("%s: %q is set twice (first on line %d)", at, key, seen[key]))
			continue
		case key == ConfigFlag:
			errs = append(errs, fmt.Errorf("%s: %q cannot name another file", at, key))
			continue
		case !known(key):
			errs = append(errs, fmt.Errorf("%s: unknown key %q", at, key))
			continue
		}
		seen[key] = k.Line
		fl := fs.Lookup(key)
		if fl == nil {
			o.Unused = append(o.Unused, fmt.Sprintf("%s (line %d)", key, k.Line))
			continue
		}
		if fl.Changed {
			continue // the command line or the environment wins
		}
		if err := setFromNode(fs, fl, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", at, key, err))
			continue
		}
		o.Of[key] = at
	}
	return errors.Join(errs...)
}

// setFromNode sets fl from a scalar (taken as written, as on the command
// line) or a sequence of scalars (a list flag's items).
func setFromNode(fs *pflag.FlagSet, fl *pflag.Flag, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return errors.New("no value (write \"\" for an empty one)")
		}
		return fs.Set(fl.Name, v.Value)
	case yaml.SequenceNode:
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return errors.New("want a list of plain values")
			}
			items = append(items, it.Value)
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(items); err != nil {
				return err
			}
			fl.Changed = true
			return nil
		}
		return fs.Set(fl.Name, strings.Join(items, ","))
	default:
		return errors.New("want a value or a list, not a mapping")
	}
}

// secretKeyWords end the names of settings whose values are secrets
// themselves; Redact hides them whole.
var secretKeyWords = []string{"token", "password", "secret"}

// Redact returns value as `config print` may show it: a secret setting
// (one named ...-token, ...-password or ...-secret) hidden whole, and the
// password of any URL (--db, --guard-store) replaced, so the output can be
// pasted into a ticket.
func Redact(name, value string) string {
	last := name[strings.LastIndex(name, "-")+1:]
	for _, w := range secretKeyWords {
		if last == w && value != "" {
			return "REDACTED"
		}
	}
	return redactURL(value)
}

// redactURL hides the secrets a URL value (--db, --guard-store) may carry:
// the userinfo password, and query parameters that drivers read as
// passwords (pgx takes password= and sslpassword=). A value that looks
// like a URL but does not parse is hidden whole: nothing unparsed is
// printed. A list flag's items come here one by one (WriteEffective), so
// a comma — legal inside a URL's password — never splits a value.
func redactURL(value string) string {
	if !strings.Contains(value, "://") {
		return value
	}
	u, err := url.Parse(value)
	if err != nil {
		return "REDACTED"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "REDACTED"
		}
		for k := range q {
			if lk := strings.ToLower(k); strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// WriteEffective writes every setting of fs as a configuration file that
// Apply reads back, each line commented with where its value came from
// (o) and secrets redacted (Redact).
func WriteEffective(w io.Writer, fs *pflag.FlagSet, o Origins) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range SortedNames(fs) {
		f := fs.Lookup(name)
		from, ok := o.Of[name]
		if !ok {
			from = "default"
		}
		k := &yaml.Node{Kind: yaml.ScalarNode, Value: name}
		var v *yaml.Node
		if sv, isList := f.Value.(pflag.SliceValue); isList {
			v = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, it := range sv.GetSlice() {
				v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: Redact(name, it)})
			}
		} else {
			v = &yaml.Node{Kind: yaml.ScalarNode, Value: Redact(name, f.Value.String())}
			if f.Value.Type() == "string" || v.Value == "" {
				v.Tag = "!!str" // quoted when it would read as something else
			}
		}
		v.LineComment = from
		m.Content = append(m.Content, k, v)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
		return fmt.Errorf("config print: %w", err)
	}
	return enc.Close()
}

// SortedNames lists the flags of fs by name, leaving out help and the
// configuration file itself: the settings `config print` shows.
func SortedNames(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && f.Name != ConfigFlag {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	return names
}
