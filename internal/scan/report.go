package scan

import (
	"slices"
	"time"
)

// Report is the outcome of one scan: what was found, what could not be
// decided, and what it cost. It is plain data, safe to read concurrently
// once Run has returned.
type Report struct {
	Target       string         `json:"target"`
	Findings     []Finding      `json:"findings"`
	RequestsSent int            `json:"requests_sent"`
	Inconclusive []Inconclusive `json:"inconclusive"`
	// Skipped lists the checks that did not run because an input they
	// need was not given (a username, a token) or does not apply (an
	// access token that is not a JWT). Unlike inconclusive checks they do
	// not change the exit code: nothing was attempted and left undecided.
	Skipped []Skipped `json:"skipped"`
	// MaxRequests is the budget the scan ran under.
	MaxRequests int `json:"max_requests"`
	// Discovery says where the scan found the endpoints it probed.
	Discovery Discovery `json:"discovery"`
	// Crack describes the offline secret search; nil when the token is not
	// HMAC-signed or no token was available.
	Crack *CrackStats `json:"crack,omitempty"`
	// Duration is the wall time of the scan.
	Duration time.Duration `json:"-"`
}

// Finding is one proven weakness.
type Finding struct {
	ID          string   `json:"id"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Evidence    Evidence `json:"evidence"`
	Remediation string   `json:"remediation"`
	References  []string `json:"references"`
}

// Evidence is what proves a finding: a one-line summary and the exchanges
// (requests and responses, secrets redacted) it rests on.
type Evidence struct {
	Summary   string     `json:"summary"`
	Exchanges []Exchange `json:"exchanges,omitempty"`
}

// Exchange is one HTTP request and its response as text, redacted:
// passwords, the signatures of live tokens and recovered secrets never
// appear in full.
type Exchange struct {
	Request  string `json:"request"`
	Response string `json:"response"`
}

// Inconclusive names a check the scan could not decide, and why (budget
// spent, throttled too early, no baseline to compare with).
type Inconclusive struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Skipped names a check that did not run, and what it needs.
type Skipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Discovery records the endpoints the scan used and where they came from.
type Discovery struct {
	SpecURL string `json:"spec_url,omitempty"`
	// Profile is the login API the scan spoke (--profile or found), ""
	// for an OAuth2 password grant.
	Profile      string   `json:"profile,omitempty"`
	TokenURL     string   `json:"token_url,omitempty"`
	ProtectedURL string   `json:"protected_url,omitempty"`
	JWKSURL      string   `json:"jwks_url,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// CrackStats describes the offline secret search.
type CrackStats struct {
	Alg             string  `json:"alg"`
	Candidates      int64   `json:"candidates"`
	GuessesPerSec   float64 `json:"guesses_per_second"`
	SecretRecovered bool    `json:"secret_recovered"`
}

// Worst returns the highest severity among the findings, or 0 when there
// are none.
func (r *Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// Has reports whether a finding with id was reported.
func (r *Report) Has(id string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.ID == id })
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// sortFindings orders findings most severe first, then by the catalogue
// order, so output is stable between runs.
func (r *Report) sortFindings() {
	order := map[string]int{}
	for i, ru := range Rules() {
		order[ru.ID] = i
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity) - int(a.Severity)
		}
		return order[a.ID] - order[b.ID]
	})
}
