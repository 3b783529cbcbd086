package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/scan"
)

func sample() *scan.Report {
	r := scan.Rules()[0]
	return &scan.Report{
		Target: "http://127.0.0.1:8000", RequestsSent: 12, MaxRequests: 400,
		Findings:     []scan.Finding{{ID: r.ID, Severity: r.Severity, Title: r.Title, Evidence: scan.Evidence{Summary: "accepted"}, Remediation: r.Remediation, References: r.References()}},
		Inconclusive: []scan.Inconclusive{{ID: scan.EnumTiming, Reason: "throttled"}},
	}
}

func TestSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, sample(), "api/openapi.json", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			AutomationDetails struct{ ID string } `json:"automationDetails"`
			Results           []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || len(run.Tool.Driver.Rules) != len(scan.Rules()) {
		t.Fatalf("version %q, %d rules", log.Version, len(run.Tool.Driver.Rules))
	}
	for _, r := range run.Tool.Driver.Rules {
		if r.Properties["security-severity"] == nil {
			t.Errorf("rule %s without security-severity", r.ID)
		}
	}
	res := run.Results[0]
	if res.RuleID != scan.JWTAlgNone || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID ||
		res.Locations[0].PhysicalLocation.ArtifactLocation.URI != "api/openapi.json" {
		t.Errorf("result %+v", res)
	}
	if run.AutomationDetails.ID != "credshield-scan/127.0.0.1-8000/" {
		t.Errorf("automation id %q", run.AutomationDetails.ID)
	}
}

func TestTextAndJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sample(), false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CRITICAL", "jwt.alg-none", "1 findings (1 critical", "enum.timing: throttled", "12 of 400 requests"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("colour without a terminal")
	}
	b.Reset()
	if err := JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"target", "findings", "requests_sent", "inconclusive"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json lacks %q", k)
		}
	}
	f := m["findings"].([]any)[0].(map[string]any)
	if f["severity"] != "critical" || f["id"] != "jwt.alg-none" {
		t.Errorf("finding %v", f)
	}
}

// TestSkippedListed: checks skipped for want of an input appear in every
// format, apart from the inconclusive ones.
func TestSkippedListed(t *testing.T) {
	rep := sample()
	rep.Skipped = []scan.Skipped{{ID: scan.EnumResponse, Reason: "needs --username (a real account)"}}
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
		want  []string
	}{
		{"text", func(b *bytes.Buffer) error { return Text(b, rep, false) },
			[]string{"\nskipped:\n  enum.response: needs --username (a real account)\n", "1 inconclusive, 1 skipped,"}},
		{"json", func(b *bytes.Buffer) error { return JSON(b, rep) },
			[]string{`"skipped": [`, `"reason": "needs --username (a real account)"`}},
		{"sarif", func(b *bytes.Buffer) error { return SARIF(b, rep, "openapi.json", "v1") },
			[]string{`"level": "note"`, "enum.response skipped: needs --username"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
