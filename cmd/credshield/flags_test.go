package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/config"
)

var updateFlags = flag.Bool("update-flags", false, "rewrite testdata/flags.txt from the commands")

// flagCommands are the commands whose flags are a documented interface:
// every flag keeps its name, type, default and CREDSHIELD_* variable.
var flagCommands = []string{"serve", "protect", "keys list", "keys rotate", "user add", "user reset", "simulate"}

// TestFlagSets holds every flag of the commands that take the service's
// settings to testdata/flags.txt, which was first written from the
// commands before their configuration was reorganised: a flag that
// disappears, is added to the wrong command (protect lists only what it
// uses), or changes its default or environment variable fails here. A
// changed help text shows in the file's diff.
func TestFlagSets(t *testing.T) {
	got := dumpFlags(t)
	path := filepath.Join("testdata", "flags.txt")
	if *updateFlags {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			g, w := at(gl, i), at(wl, i)
			if g != w {
				t.Fatalf("flags differ from %s at line %d:\n got %s\nwant %s", path, i+1, g, w)
			}
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}

// dumpFlags writes one line per flag of each command in flagCommands
// (local and inherited): command, name, type, default, environment
// variable, usage.
func dumpFlags(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	for _, path := range flagCommands {
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
		root := newRoot(e)
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.CommandPath() != "credshield "+path {
			t.Fatalf("command %q not found: %v", path, err)
		}
		var lines []string
		add := func(f *pflag.Flag) {
			lines = append(lines, fmt.Sprintf("%s\t--%s\t%s\t%q\t%s\t%s", path, f.Name, f.Value.Type(), f.DefValue, config.EnvName(f.Name), f.Usage))
		}
		cmd.LocalFlags().VisitAll(add)
		cmd.InheritedFlags().VisitAll(add)
		sort.Strings(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
