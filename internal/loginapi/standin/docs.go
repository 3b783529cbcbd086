package standin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CustomProfileDoc is the page, from the module's root, whose example
// custom profile describes Acme.
const CustomProfileDoc = "docs/login-profiles.md"

// customExampleMarker precedes the example's YAML block in the page.
const customExampleMarker = "<!-- custom-profile-example -->\n```yaml\n"

// DocsCustomProfile returns the custom profile example of
// CustomProfileDoc, verbatim: the profile a user writes from the
// documentation alone, which the tests load to guard Acme, a service it
// has never seen. The page is found from the working directory up to
// the module's root, so any package's tests can read it.
func DocsCustomProfile() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", CustomProfileDoc, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("finding %s: no go.mod above the working directory", CustomProfileDoc)
		}
		dir = parent
	}
	doc, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(CustomProfileDoc)))
	if err != nil {
		return "", fmt.Errorf("reading the custom profile example: %w", err)
	}
	_, rest, ok := strings.Cut(string(doc), customExampleMarker)
	example, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		return "", errors.New(CustomProfileDoc + " has no custom profile example")
	}
	return example, nil
}

// WriteDocsCustomProfile writes DocsCustomProfile to a file in dir, as a
// user copies it, and returns its path.
func WriteDocsCustomProfile(dir string) (string, error) {
	example, err := DocsCustomProfile()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "acme.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		return "", fmt.Errorf("writing the custom profile example: %w", err)
	}
	return path, nil
}
