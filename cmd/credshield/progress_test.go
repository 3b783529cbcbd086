package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressLine steps the status line through its cases: redrawn in
// place at most every progressEvery, erased before other text, text of
// its own continued, cleared at the end, and nothing at all off a
// terminal.
func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	if p := newProgressLine(&buf); p != nil {
		t.Fatal("a progress line on a buffer: want none off a terminal")
	}
	var nilLine *progressLine // what newProgressLine gives off a terminal
	nilLine.show(time.Now(), "x")
	nilLine.clear()
	if n, err := nilLine.Write([]byte("x\n")); n != 2 || err != nil {
		t.Errorf("nil line Write = %d, %v", n, err)
	}

	p := &progressLine{w: &buf}
	t0 := time.Now()
	steps := []struct {
		do   func()
		want string
	}{
		{func() { p.show(t0, "a 1/3") }, "\r\x1b[Ka 1/3"},
		{func() { p.show(t0.Add(progressEvery/2), "a 2/3") }, ""}, // too soon
		{func() { p.show(t0.Add(progressEvery), "a 3/3") }, "\r\x1b[Ka 3/3"},
		{func() { _, _ = p.Write([]byte("a done\n")) }, "\r\x1b[Ka done\n"},
		{func() { _, _ = p.Write([]byte("\rhashing 1/2")) }, "\rhashing 1/2"},
		{func() { _, _ = p.Write([]byte("\n")) }, "\n"}, // its own line is kept
		{func() { p.show(t0.Add(progressEvery/2), "b 1/3") }, "\r\x1b[Kb 1/3"},
		{func() { p.clear() }, "\r\x1b[K"},
		{func() { p.clear() }, ""},
	}
	for i, s := range steps {
		buf.Reset()
		s.do()
		if got := buf.String(); got != s.want {
			t.Errorf("step %d wrote %q, want %q", i, got, s.want)
		}
	}
}

// TestProgressOnTerminalOnly runs scan and simulate as a user would, once
// on a pseudo-terminal (script(1)) and once with output to pipes. On the
// terminal the status line appears and is erased before the report; off
// it no progress byte is written.
func TestProgressOnTerminalOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds credshield and starts servers")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) (util-linux) not installed: no pseudo-terminal to test on")
	}
	bin := filepath.Join(t.TempDir(), "credshield")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" && r.Method == http.MethodPost {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Incorrect username or password"}`)
			return
		}
		w.WriteHeader(404)
	}))
	defer target.Close()
	tests := []struct {
		name   string
		args   []string
		status *regexp.Regexp // a status line
		report string         // the report's first words
	}{
		{"scan", []string{"scan", target.URL, "--rps", "2000", "--fail-on", "critical"},
			regexp.MustCompile(`\S+ +\d+/400 requests`), "credshield scan http"},
		{"simulate", []string{"simulate", "--scenario", "botnet", "--defence", "default", "--users", "40", "--pairs", "600",
			"--legit-users", "10", "--legit-logins", "40", "--legit-rate", "1000", "--quiet-logins", "0", "--attacker-budget", "1",
			"--botnet-size", "300", "--argon2-memory", "64", "--argon2-time", "1", "--insecure-weak-hash",
			"--server-arg=--challenge-difficulty=2", "--server-arg=--challenge-attack-difficulty=3"},
			regexp.MustCompile(`botnet vs default: \d+/600 attempts, \d+ compromised, budget \d+\.\d/1\.0 CPU-s, ETA (\S+)`), "scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" on a terminal", func(t *testing.T) {
			// script runs the command on a new pseudo-terminal and
			// copies what it shows (stdout and stderr) to its stdout.
			line := bin
			for _, a := range tt.args {
				line += " '" + a + "'"
			}
			out, _ := exec.Command("script", "-qec", line, os.DevNull).Output()
			shown := string(out)
			if !tt.status.MatchString(shown) || !strings.Contains(shown, "\r\x1b[K") {
				t.Fatalf("no status line on the terminal:\n%q", shown)
			}
			i := strings.Index(shown, tt.report)
			if i < 0 {
				t.Fatalf("no report on the terminal:\n%q", shown)
			}
			// The report starts on a clean line: after a newline, or
			// after the status line was erased.
			before := shown[:i]
			if !(strings.HasSuffix(before, "\n") || strings.HasSuffix(before, "\r\x1b[K") || strings.HasSuffix(before, "\n  ")) {
				t.Errorf("report starts on the remains of the status line: %q", before[max(0, len(before)-120):])
			}
		})
		t.Run(tt.name+" off a terminal", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			if !strings.Contains(stdout.String(), tt.report) {
				t.Fatalf("no report: stdout %q stderr %q", stdout.String(), stderr.String())
			}
			all := stdout.String() + stderr.String()
			if strings.ContainsAny(all, "\r\x1b") || tt.status.MatchString(all) {
				t.Errorf("progress bytes off a terminal:\n%q", stderr.String())
			}
		})
	}
}
