package simulate

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteText writes the report as a table, one row per scenario and
// defence, followed by the cost ratio of each scenario's defences.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdefence\tcompromised\tvalid tried\trequests\tchallenges\tcost CPU-s\tCPU-s/compromise\trejected pre-hash\tserver µs/attempt\tlegit logins\tknown-dev ok\tknown-dev challenged\tnew-dev ok\tp50 ms\tp99 ms\tknown-dev p99 ms\tquiet p99 ms\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%s\t%.1f%%\t%.0f\t%d\t%.2f%%\t%d\t%.1f%%\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			x.Scenario, x.Defence, x.Compromised, x.ValidPairsTried, x.AttackerRequests, x.AttackerChallengesSolved,
			x.AttackerCostSeconds, costPer(x.CostPerCompromiseSeconds), 100*x.RejectedBeforeHashRatio, x.ServerCPUPerAttemptUS,
			x.LegitLogins, 100*x.LegitKnownDeviceSuccess, x.LegitKnownDeviceChallenged, 100*x.LegitNewDeviceSuccess,
			x.LegitP50Ms, x.LegitP99Ms, x.LegitKnownDeviceP99Ms, x.QuietKnownDeviceP99Ms)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(w, "\nmachine: %s; %s; argon2id hash %s; %.0f µs/evaluation, %.0f µs/request (attacker CPU)\n",
		r.Machine, r.Date, r.hashTime(), r.Calibration.NsPerEvaluation/1e3, r.Calibration.NsPerRequest/1e3)
	if r.Profile != "" {
		fmt.Fprintf(w, "login profile: %s (written against %s); target version: %s\n", r.Profile, r.ProfileVersion, r.TargetVersion)
	}
	for _, line := range r.Ratios() {
		fmt.Fprintln(w, line)
	}
	return nil
}

// hashTime says how long one population hash took, or that it was not
// measured (with --target the target hashed the population, not
// simulate); "0.0 ms" would read as a measurement.
func (r *Report) hashTime() string {
	if r.HashMs == nil {
		return "not measured"
	}
	s := fmt.Sprintf("%.1f ms", *r.HashMs)
	if r.HashP99Ms != nil {
		s += fmt.Sprintf(" (p99 %.1f ms)", *r.HashP99Ms)
	}
	return s
}

// Ratios compares, per scenario, the default defence's cost per
// compromised account with the username-limit defence's.
func (r *Report) Ratios() []string {
	var out []string
	for _, s := range r.Results {
		if s.Defence != DefenceUsernameLimit {
			continue
		}
		for _, d := range r.Results {
			if d.Scenario != s.Scenario || d.Defence != DefenceDefault {
				continue
			}
			switch {
			case s.CostPerCompromiseSeconds == nil:
				out = append(out, fmt.Sprintf("%s: the username-limit defence lost no account", s.Scenario))
			case d.CostPerCompromiseSeconds == nil:
				out = append(out, fmt.Sprintf("%s: default lost no account for %.1f CPU-s of attack; username-limit lost one per %.4f CPU-s (ratio > %.0f×)",
					s.Scenario, d.AttackerCostSeconds, *s.CostPerCompromiseSeconds, d.AttackerCostSeconds / *s.CostPerCompromiseSeconds))
			default:
				out = append(out, fmt.Sprintf("%s: cost per compromise default/username-limit = %.0f×", s.Scenario, *d.CostPerCompromiseSeconds / *s.CostPerCompromiseSeconds))
			}
		}
	}
	return out
}

func costPer(v *float64) string {
	if v == nil {
		return "none lost"
	}
	return fmt.Sprintf("%.4f", *v)
}

// chart colours per answer kind.
var kindColours = [numKinds]string{"#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#888"}

// WriteHTML writes a self-contained page: the table and, per result, the
// attacker's answers per second by kind and the legitimate users'
// latencies, as inline SVG. It loads nothing from the network.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>credshield simulate</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f4f4f4}.c{display:inline-block;margin:0 1em 1em 0;vertical-align:top}svg{background:#fafafa;border:1px solid #ddd}</style></head><body>
<h1>credshield simulate</h1>`)
	fmt.Fprintf(&b, "<p>%s — %s; argon2id hash %s; attacker CPU %.0f µs per challenge evaluation, %.0f µs per request.</p>\n",
		html.EscapeString(r.Machine), html.EscapeString(r.Date), html.EscapeString(r.hashTime()), r.Calibration.NsPerEvaluation/1e3, r.Calibration.NsPerRequest/1e3)
	var text strings.Builder
	_ = r.WriteText(&text)
	b.WriteString("<pre>" + html.EscapeString(text.String()) + "</pre>\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "<h2>%s vs %s</h2>\n", html.EscapeString(x.Scenario), html.EscapeString(x.Defence))
		b.WriteString(`<div class="c"><div>attacker answers per second</div>`)
		timelineSVG(&b, x.Timeline)
		b.WriteString(`</div><div class="c"><div>legitimate accepted logins: latency (ms), in order</div>`)
		latencySVG(&b, x.Latencies)
		b.WriteString("</div>\n")
	}
	b.WriteString("</body></html>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

const chartW, chartH, pad = 520.0, 220.0, 30.0

func timelineSVG(b *strings.Builder, t []Second) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f">`, chartW, chartH+20)
	peak := 1
	for _, s := range t {
		for _, n := range s {
			peak = max(peak, n)
		}
	}
	axes(b, fmt.Sprintf("%d/s", peak), fmt.Sprintf("%d s", len(t)))
	for k := range numKinds {
		var pts []string
		for i, s := range t {
			x := pad + (chartW-2*pad)*float64(i)/float64(max(len(t)-1, 1))
			y := chartH - pad - (chartH-2*pad)*float64(s[k])/float64(peak)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		if len(pts) > 0 {
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, kindColours[k], strings.Join(pts, " "))
		}
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" fill="%s" font-size="11">%s</text>`, pad+float64(k)*90, chartH+12, kindColours[k], Kind(k))
	}
	b.WriteString("</svg>")
}

func latencySVG(b *strings.Builder, lat []float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f">`, chartW, chartH+20)
	peak := 1.0
	for _, v := range lat {
		peak = max(peak, v)
	}
	axes(b, fmt.Sprintf("%.0f ms", peak), fmt.Sprintf("%d logins", len(lat)))
	for i, v := range lat {
		x := pad + (chartW-2*pad)*float64(i)/float64(max(len(lat)-1, 1))
		y := chartH - pad - (chartH-2*pad)*v/peak
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="1.5" fill="#264653"/>`, x, y)
	}
	b.WriteString("</svg>")
}

func axes(b *strings.Builder, top, right string) {
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`, pad, pad, pad, chartH-pad)
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`, pad, chartH-pad, chartW-pad, chartH-pad)
	fmt.Fprintf(b, `<text x="2" y="%.0f" font-size="10">%s</text>`, pad-6, html.EscapeString(top))
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end">%s</text>`, chartW-pad, chartH-pad+14, html.EscapeString(right))
}
