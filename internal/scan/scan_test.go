package scan

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// scanTarget scans u as alice with a fast pace and returns the report.
func scanTarget(t *testing.T, u string, mod func(*Options)) *Report {
	t.Helper()
	opts := Options{Target: u, Username: targetUser, Password: targetPass, RPS: 2000, Workers: 2}
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return rep
}

func ids(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.ID)
	}
	sort.Strings(out)
	return out
}

// TestFlawClasses builds one target per flaw class on the hardened base
// and requires exactly the planted findings: every flaw found, none
// invented, nothing left undecided, within the default budget.
func TestFlawClasses(t *testing.T) {
	bearer := JWTNotSenderBound // every target but one issues bearer tokens
	tests := []struct {
		name string
		f    flaws
		want []string
	}{
		{"hardened", flaws{}, []string{bearer}},
		{"hardened with cnf", flaws{cnf: true}, nil},
		{"alg none", flaws{algNone: true}, []string{JWTAlgNone, bearer}},
		{"signature not verified", flaws{sigNotVerified: true}, []string{JWTSigNotVerified, bearer}},
		{"weak secret", flaws{weakSecret: true}, []string{JWTWeakSecret, JWTSymmetricAlg, bearer}},
		{"strong HMAC secret", flaws{strongHMAC: true}, []string{JWTSymmetricAlg, bearer}},
		{"key confusion", flaws{keyConfusion: true}, []string{JWTKeyConfusion, bearer}},
		{"embedded jwk", flaws{embeddedJWK: true}, []string{JWTEmbeddedJWK, bearer}},
		{"kid injection", flaws{kidInjection: true}, []string{JWTKidInjection, bearer}},
		{"psychic signature", flaws{psychic: true}, []string{JWTPsychicSignature, bearer}},
		{"expired accepted", flaws{weakSecret: true, noExpCheck: true}, []string{JWTWeakSecret, JWTExpiredAccepted, JWTNoExpiry, JWTSymmetricAlg, bearer}},
		{"claims not checked", flaws{algNone: true, noClaimCheck: true}, []string{JWTAlgNone, JWTClaimNotChecked, bearer}},
		{"no expiry", flaws{noExpiry: true}, []string{JWTNoExpiry, bearer}},
		{"long lifetime", flaws{longLife: true}, []string{JWTLongLifetime, bearer}},
		{"no rate limit", flaws{limit: "none"}, []string{RateLimitMissing, bearer}},
		{"username-only rate limit", flaws{limit: "username"}, []string{RateLimitUsername, bearer}},
		{"forwarding header resets limit", flaws{limit: "xff"}, []string{RateLimitHeader, bearer}},
		{"enumeration by response", flaws{enumResponse: true}, []string{EnumResponse, bearer}},
		{"enumeration by timing", flaws{timingGap: 30 * time.Millisecond}, []string{EnumTiming, bearer}},
		{"reflected CORS", flaws{corsReflect: true}, []string{CORSReflected, bearer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t, tt.f)
			rep := scanTarget(t, tg.url(), nil)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if got := ids(rep); !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
				for _, f := range rep.Findings {
					t.Logf("%s: %s", f.ID, f.Evidence.Summary)
				}
			}
			if len(rep.Inconclusive) > 0 {
				t.Errorf("inconclusive: %+v", rep.Inconclusive)
			}
			if rep.RequestsSent > DefaultMaxRequests || rep.RequestsSent < 20 {
				t.Errorf("%d requests sent", rep.RequestsSent)
			}
			t.Logf("%d requests", rep.RequestsSent)
			for _, f := range rep.Findings {
				if f.Evidence.Summary == "" || f.Remediation == "" || len(f.References) < 2 {
					t.Errorf("%s: incomplete finding %+v", f.ID, f)
				}
				for _, ex := range f.Evidence.Exchanges {
					if strings.Contains(ex.Request+ex.Response, targetPass) || strings.Contains(ex.Request+ex.Response, weakSecret) {
						t.Errorf("%s: evidence shows a secret: %+v", f.ID, ex)
					}
				}
			}
		})
	}
}
