package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Enumeration sampling. Each pair is one failed login for the real
// username and one for a random unknown one, in random order, so drift in
// the target or the network hits both classes alike.
const (
	enumPairs      = 8                    // most pairs taken
	minTimingPairs = 5                    // fewest pairs a timing verdict rests on
	timingAlpha    = 0.01                 // significance of the rank test
	minTimingGap   = 5 * time.Millisecond // smallest median gap reported
)

// enumChecks compares failed logins for the configured (real) username
// with failed logins for a username that does not exist: in their answers
// (enum.response) and in their timing (enum.timing). It sends at most
// enumPairs wrong passwords for the real account, and stops at the first
// throttled answer, which is excluded (a throttle is not an enumeration
// signal, and the rate-limit checks judge it).
func (s *scanner) enumChecks(ctx context.Context) error {
	if s.opts.Username == "" {
		for _, id := range []string{EnumResponse, EnumTiming} {
			s.skip(id, "needs --username (a real account)")
		}
		return nil
	}
	s.c.setProbe("enumeration")
	known, unknown := s.opts.Username, s.randomName()
	var kr, ur []*response
	order := make([]byte, 1)
	var stop error
	for range enumPairs {
		pw := s.randomPassword()
		if _, err := io.ReadFull(s.rand, order); err != nil {
			return fmt.Errorf("scan: randomness: %w", err)
		}
		names := []string{known, unknown}
		if order[0]&1 == 1 {
			names[0], names[1] = unknown, known
		}
		var pair [2]*response
		for i, name := range names {
			r, err := s.attempt(ctx, name, pw, nil)
			if err != nil {
				stop = err
				break
			}
			pair[i] = r
		}
		if stop != nil {
			break
		}
		if s.throttled(pair[0]) || s.throttled(pair[1]) {
			break
		}
		if names[0] == known {
			kr, ur = append(kr, pair[0]), append(ur, pair[1])
		} else {
			kr, ur = append(kr, pair[1]), append(ur, pair[0])
		}
	}
	if stop != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	why := func(n int) string {
		if stop != nil {
			return fmt.Sprintf("only %d pairs of failed logins before: %v", n, stop)
		}
		return fmt.Sprintf("only %d pairs of failed logins before the target throttled", n)
	}

	n := len(kr)
	if n < 2 {
		s.inconclusive(EnumResponse, why(n))
	} else if diffs := responseDiff(kr, ur, known, unknown); len(diffs) > 0 {
		s.add(EnumResponse, fmt.Sprintf("over %d pairs of failed logins, a real username with a wrong password and an unknown username are answered differently: %s",
			n, strings.Join(diffs, "; ")), kr[0].ex, ur[0].ex)
	}

	if n < minTimingPairs {
		s.inconclusive(EnumTiming, why(n))
		return nil
	}
	ms := func(rs []*response) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = float64(r.took) / float64(time.Millisecond)
		}
		return out
	}
	kt, ut := ms(kr), ms(ur)
	p := mannWhitney(kt, ut)
	gap := median(kt) - median(ut)
	if p < timingAlpha && abs(int(gap*1000)) >= int(minTimingGap/time.Microsecond) {
		slower := "slower"
		if gap < 0 {
			slower = "faster"
		}
		s.add(EnumTiming, fmt.Sprintf("failed logins for the real username are %.1f ms %s (median of %d interleaved pairs; real %s ms, unknown %s ms; Mann-Whitney U exact p = %.4f)",
			abs64(gap), slower, n, fmtMs(kt), fmtMs(ut), p), kr[0].ex, ur[0].ex)
	}
	return nil
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func fmtMs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ignoredHeaders differ between any two answers and say nothing.
var ignoredHeaders = map[string]bool{"Date": true, "Content-Length": true, "Connection": true, "Keep-Alive": true}

// features flattens an answer into named values: status, headers, and the
// JSON body's leaves (or the whole body), with the username replaced so an
// echo of it does not count as a difference.
func features(r *response, username string) map[string]string {
	f := map[string]string{"status": fmt.Sprint(r.status)}
	for k, v := range r.header {
		k = http.CanonicalHeaderKey(k)
		if ignoredHeaders[k] {
			continue
		}
		if k == "Set-Cookie" {
			var names []string
			for _, c := range v {
				n, _, _ := strings.Cut(c, "=")
				names = append(names, n)
			}
			v = names
		}
		f["header "+k] = strings.Join(v, ", ")
	}
	body := strings.ReplaceAll(string(r.body), username, "<username>")
	var doc any
	if json.Unmarshal([]byte(body), &doc) == nil {
		flatten("body", doc, f)
	} else {
		f["body"] = body
	}
	return f
}

func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(prefix+"."+k, e, out)
		}
	case []any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

// responseDiff lists the features that are stable within each class and
// differ between them. Features that vary inside a class (request ids,
// counters) are noise and ignored.
func responseDiff(known, unknown []*response, knownName, unknownName string) []string {
	kf := make([]map[string]string, len(known))
	uf := make([]map[string]string, len(unknown))
	keys := map[string]bool{}
	for i, r := range known {
		kf[i] = features(r, knownName)
		for k := range kf[i] {
			keys[k] = true
		}
	}
	for i, r := range unknown {
		uf[i] = features(r, unknownName)
		for k := range uf[i] {
			keys[k] = true
		}
	}
	stable := func(fs []map[string]string, k string) (string, bool) {
		v, ok := fs[0][k]
		for _, f := range fs[1:] {
			w, ok2 := f[k]
			if w != v || ok2 != ok {
				return "", false
			}
		}
		if !ok {
			return "(absent)", true
		}
		return v, true
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		kv, ok1 := stable(kf, k)
		uv, ok2 := stable(uf, k)
		if ok1 && ok2 && kv != uv {
			diffs = append(diffs, fmt.Sprintf("%s: %s for the real username, %s for an unknown one", k, truncate(kv, 80), truncate(uv, 80)))
		}
	}
	return diffs
}
