package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsGoSnippetsCompile builds every ```go block of the README and the
// docs as a program of its own inside this module, so an example that a
// user copies compiles against the packages as they are. A block must be
// a whole file (package clause and imports): a fragment that "almost"
// compiles is the kind of example that drifts unnoticed.
func TestDocsGoSnippetsCompile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	n := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range goBlocks(string(text)) {
			n++
			name := filepath.Base(f) + "#" + string(rune('0'+i))
			t.Run(name, func(t *testing.T) {
				if !strings.HasPrefix(strings.TrimSpace(block), "package ") {
					t.Fatalf("a go block must be a whole file, starting with its package clause:\n%s", block)
				}
				// Inside the module (a directory starting with a dot is
				// left out of ./... patterns), so the module's own
				// packages resolve as a user's import would.
				dir, err := os.MkdirTemp(root, ".snippet-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				src := filepath.Join(dir, "main.go")
				if err := os.WriteFile(src, []byte(block), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command("go", "build", "-o", os.DevNull, src)
				cmd.Dir = root
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("does not compile: %v\n%s\n%s", err, out, block)
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("no go blocks found: the README's verify example is gone or the fence changed")
	}
}

// goBlocks returns the bodies of the ```go fenced blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for {
		i := strings.Index(md, "```go\n")
		if i < 0 {
			return blocks
		}
		md = md[i+len("```go\n"):]
		j := strings.Index(md, "\n```")
		if j < 0 {
			return append(blocks, md)
		}
		blocks = append(blocks, md[:j+1])
		md = md[j+4:]
	}
}
