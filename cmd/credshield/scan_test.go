package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fastScan are the flags every scan test passes: a pace that keeps the
// suite quick (the default 20/s is for real targets).
var fastScan = []string{"--rps", "2000"}

// TestScanSelf runs credshield scan against a running credshield serve:
// the service must show nothing above LOW.
func TestScanSelf(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	base := startServe(t, append([]string{"--data-dir", dir}, cheapHash...)...)
	out := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"scan", base, "--username", "alice",
		"--format", "json", "--out", out, "--fail-on", "medium"}, fastScan...)
	code, stdout, stderr := credshield(t, "", map[string]string{"CREDSHIELD_SCAN_PASSWORD": "correct horse battery"}, args...)
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("scan exit %d, no report: %v; %s %s", code, err, stdout, stderr)
	}
	var rep struct {
		Findings []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
			Evidence struct {
				Summary string `json:"summary"`
			} `json:"evidence"`
		} `json:"findings"`
		Inconclusive []struct{ ID, Reason string } `json:"inconclusive"`
		RequestsSent int                           `json:"requests_sent"`
		Discovery    struct {
			TokenURL string   `json:"token_url"`
			Notes    []string `json:"notes"`
		} `json:"discovery"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Logf("%s %s: %s", f.Severity, f.ID, f.Evidence.Summary)
		if f.Severity != "low" {
			t.Errorf("credshield serve has a %s finding: %s", f.Severity, f.ID)
		}
	}
	if len(rep.Inconclusive) > 0 {
		t.Errorf("inconclusive: %+v", rep.Inconclusive)
	}
	if code != 0 {
		t.Errorf("scan exit %d, want 0; stderr %s", code, stderr)
	}
	t.Logf("%d requests; notes %v", rep.RequestsSent, rep.Discovery.Notes)
	if strings.Contains(string(body), "correct horse battery") {
		t.Error("the report contains the password")
	}
}

// TestScanExitCodes checks the exit code contract and the output formats
// against small loopback targets.
func TestScanExitCodes(t *testing.T) {
	// An API whose login is open to stuffing: no rate limit, so
	// ratelimit.missing (high) is found. No username nor token is given,
	// so the token and enumeration checks are skipped, which alone does
	// not exit 3.
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" && r.Method == http.MethodPost {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Incorrect username or password"}`)
			return
		}
		w.WriteHeader(404)
		io.WriteString(w, `{"detail":"Not Found"}`)
	}))
	defer open.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"high finding", []string{open.URL}, 1, "ratelimit.missing"},
		{"below fail-on, skipped checks", []string{open.URL, "--fail-on", "critical"}, 0, "enum.timing: needs --username"},
		{"json", []string{open.URL, "--format", "json", "--fail-on", "critical"}, 0, `"skipped": [`},
		{"opaque token", []string{open.URL, "--token", "opaque", "--fail-on", "critical"}, 0, "not a JWT"},
		{"sarif", []string{open.URL, "--format", "sarif"}, 1, `"security-severity"`},
		{"budget spent: undecided", []string{open.URL, "--max-requests", "10", "--fail-on", "critical"}, 3, "budget"},
		{"bad fail-on", []string{open.URL, "--fail-on", "severe"}, 2, ""},
		{"bad format", []string{open.URL, "--format", "xml"}, 2, ""},
		{"no URL", nil, 2, ""},
		{"password without username", []string{open.URL, "--password", "x"}, 2, ""},
		{"not http", []string{"ftp://example.com"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := credshield(t, "", nil, append(append([]string{"scan"}, tt.args...), fastScan...)...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout %s\nstderr %s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}

// TestScanTokenAloneExitsZero: a token without a username cannot run the
// enumeration checks, which need a real account. That is a check skipped
// for want of an input, listed in the report, not an inconclusive one:
// the scan exited 3 for it, failing CI jobs that had nothing to fix.
func TestScanTokenAloneExitsZero(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, stderr := credshield(t, "correct horse battery\n", nil, append([]string{"user", "add", "alice", "--data-dir", dir}, cheapHash...)...); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	base := startServe(t, append([]string{"--data-dir", dir}, cheapHash...)...)
	tok := passwordToken(t, base, "alice", "correct horse battery")
	args := append([]string{"scan", base, "--fail-on", "medium"}, fastScan...)
	code, stdout, stderr := credshield(t, "", map[string]string{"CREDSHIELD_SCAN_TOKEN": tok}, args...)
	if code != 0 {
		t.Errorf("scan --token alone: exit %d, want 0\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, want := range []string{"skipped:", "enum.response: needs --username", "enum.timing: needs --username"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
}
