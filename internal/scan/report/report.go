// Package report renders a scan.Report as text for people, JSON for
// scripts and SARIF 2.1.0 for GitHub code scanning.
package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/credshield/credshield/internal/scan"
)

// JSON writes rep as indented JSON (the shape docs/scan.md documents).
func JSON(w io.Writer, rep *scan.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// ANSI colours for severities, used only when writing to a terminal.
var colour = map[scan.Severity]string{
	scan.Critical: "\x1b[1;97;41m", scan.High: "\x1b[1;31m", scan.Medium: "\x1b[33m", scan.Low: "\x1b[36m",
}

const reset = "\x1b[0m"

// Text writes a table of findings, their evidence and remediation, the
// undecided checks and a summary line. color adds ANSI colours.
func Text(w io.Writer, rep *scan.Report, color bool) error {
	sev := func(s scan.Severity) string {
		name := strings.ToUpper(s.String())
		if color {
			return colour[s] + name + reset
		}
		return name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "credshield scan %s\n\n", rep.Target)
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tCHECK\tTITLE")
		for _, f := range rep.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", sev(f.Severity), f.ID, f.Title)
		}
		tw.Flush()
		for _, f := range rep.Findings {
			fmt.Fprintf(&b, "\n%s %s\n  evidence: %s\n  fix: %s\n  see: %s\n", sev(f.Severity), f.ID, f.Evidence.Summary, f.Remediation, strings.Join(f.References, " "))
			for _, ex := range f.Evidence.Exchanges {
				fmt.Fprintf(&b, "    > %s\n    < %s\n", indent(ex.Request), indent(ex.Response))
			}
		}
	} else {
		b.WriteString("no findings\n")
	}
	if len(rep.Inconclusive) > 0 {
		b.WriteString("\ninconclusive:\n")
		for _, in := range rep.Inconclusive {
			fmt.Fprintf(&b, "  %s: %s\n", in.ID, in.Reason)
		}
	}
	if len(rep.Skipped) > 0 {
		b.WriteString("\nskipped:\n")
		for _, sk := range rep.Skipped {
			fmt.Fprintf(&b, "  %s: %s\n", sk.ID, sk.Reason)
		}
	}
	for _, n := range rep.Discovery.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if c := rep.Crack; c != nil {
		fmt.Fprintf(&b, "offline %s secret search: %d candidates, %.0f guesses/s\n", c.Alg, c.Candidates, c.GuessesPerSec)
	}
	fmt.Fprintf(&b, "\n%d findings (%d critical, %d high, %d medium, %d low), %d inconclusive, %d skipped, %d of %d requests\n",
		len(rep.Findings), rep.Count(scan.Critical), rep.Count(scan.High), rep.Count(scan.Medium), rep.Count(scan.Low),
		len(rep.Inconclusive), len(rep.Skipped), rep.RequestsSent, rep.MaxRequests)
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n      ") }

// securitySeverity is GitHub's CVSS-like score for each severity: it maps
// > 9.0 to critical, 7.0–8.9 high, 4.0–6.9 medium, below that low.
var securitySeverity = map[scan.Severity]string{scan.Critical: "9.5", scan.High: "8.0", scan.Medium: "5.5", scan.Low: "3.0"}

var level = map[scan.Severity]string{scan.Critical: "error", scan.High: "error", scan.Medium: "warning", scan.Low: "note"}

// SARIF writes rep as a SARIF 2.1.0 log that GitHub code scanning
// accepts. Every known check is a rule with a stable id; results are
// located in artifact (a repository file such as openapi.json: GitHub
// rejects URL locations); runAutomationDetails.id separates scans of
// different targets; version is the tool version.
func SARIF(w io.Writer, rep *scan.Report, artifact, version string) error {
	if artifact == "" {
		artifact = "openapi.json"
	}
	rules := scan.Rules()
	index := map[string]int{}
	var sr []map[string]any
	for i, r := range rules {
		index[r.ID] = i
		tags := []string{"security", "authentication"}
		for _, c := range r.CWE {
			tags = append(tags, fmt.Sprintf("external/cwe/cwe-%d", c))
		}
		refs := r.References()
		sr = append(sr, map[string]any{
			"id":                   r.ID,
			"name":                 ruleName(r.ID),
			"shortDescription":     map[string]string{"text": r.Title},
			"fullDescription":      map[string]string{"text": r.Description},
			"help":                 map[string]string{"text": r.Remediation + " See: " + strings.Join(refs, " "), "markdown": r.Remediation + "\n\n" + mdLinks(refs)},
			"helpUri":              refs[0],
			"defaultConfiguration": map[string]string{"level": level[r.Severity]},
			"properties": map[string]any{
				"security-severity": securitySeverity[r.Severity],
				"tags":              tags,
				"precision":         "high",
				"problem.severity":  map[string]string{"error": "error", "warning": "warning", "note": "recommendation"}[level[r.Severity]],
			},
		})
	}
	results := []map[string]any{}
	for _, f := range rep.Findings {
		fp := sha256.Sum256([]byte(f.ID + "\x00" + rep.Target))
		results = append(results, map[string]any{
			"ruleId":    f.ID,
			"ruleIndex": index[f.ID],
			"level":     level[f.Severity],
			"message":   map[string]string{"text": fmt.Sprintf("%s at %s: %s", f.Title, rep.Target, f.Evidence.Summary)},
			"locations": []any{map[string]any{"physicalLocation": map[string]any{
				"artifactLocation": map[string]string{"uri": artifact},
				"region":           map[string]int{"startLine": 1},
			}}},
			"partialFingerprints": map[string]string{"credshieldScan/v1": hex.EncodeToString(fp[:16])},
			"properties":          map[string]any{"target": rep.Target, "security-severity": securitySeverity[f.Severity]},
		})
	}
	var notes []map[string]any
	for _, in := range rep.Inconclusive {
		notes = append(notes, map[string]any{"level": "warning", "message": map[string]string{"text": in.ID + " inconclusive: " + in.Reason}})
	}
	for _, sk := range rep.Skipped {
		notes = append(notes, map[string]any{"level": "note", "message": map[string]string{"text": sk.ID + " skipped: " + sk.Reason}})
	}
	run := map[string]any{
		"tool": map[string]any{"driver": map[string]any{
			"name": "credshield", "informationUri": "https://github.com/credshield/credshield",
			"semanticVersion": version, "rules": sr,
		}},
		"automationDetails": map[string]string{"id": "credshield-scan/" + targetCategory(rep.Target) + "/"},
		"results":           results,
		"invocations": []any{map[string]any{
			"executionSuccessful":        true,
			"toolExecutionNotifications": notes,
		}},
	}
	log := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs":    []any{run},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("report: sarif: %w", err)
	}
	return nil
}

// ruleName turns "jwt.alg-none" into "JwtAlgNone", SARIF's rule name form.
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(id, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func mdLinks(refs []string) string {
	var out []string
	for _, r := range refs {
		out = append(out, "- <"+r+">")
	}
	return strings.Join(out, "\n")
}

// targetCategory is the host (and port) of the target, so that scans of
// several APIs upload as separate categories.
func targetCategory(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "target"
	}
	return strings.ReplaceAll(u.Host, ":", "-")
}
