package main

import (
	"strings"
	"testing"
)

// TestSimulateRefuses checks the options simulate refuses before it hashes
// or starts anything: above all, a target that is not on loopback. The
// simulation itself is tested in package simulate.
func TestSimulateRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"remote target", []string{"--target", "http://example.com"}, "not on loopback"},
		{"remote target by address", []string{"--target", "https://192.0.2.1:8443"}, "not on loopback"},
		{"target not a URL", []string{"--target", "127.0.0.1:8080"}, "not an http(s) URL"},
		{"target with defence", []string{"--target", "http://127.0.0.1:1", "--defence", "username-limit"}, "--defence"},
		{"unknown scenario", []string{"--scenario", "ddos"}, "--scenario"},
		{"unknown defence", []string{"--defence", "none"}, "--defence"},
		{"format", []string{"--format", "xml"}, "--format"},
		{"budget", []string{"--attacker-budget", "0"}, "--attacker-budget"},
		{"no users", []string{"--users", "0"}, "sizes"},
		{"more legitimate users than users", []string{"--users", "10", "--legit-users", "20"}, "sizes"},
		{"weak hash params", []string{"--argon2-time", "0"}, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := credshield(t, "", nil, append([]string{"simulate"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}
