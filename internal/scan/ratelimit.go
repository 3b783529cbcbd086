package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Rate-limit probing. Every attempt uses a random username that exists
// nowhere and a random password, so no real account is touched.
const (
	sameNameAttempts    = 15 // failures for one username before concluding it is not limited
	rotatingAttempts    = 40 // failures with fresh usernames before concluding the client is not limited
	rotatingPerSameName = 4  // rotating attempts needed per attempt the username limit took
)

// isThrottled reports whether an answer is a throttle: 429, or a demand to
// solve a challenge first (credshield's challenge_required and the like).
func isThrottled(r *response) bool {
	if r.status == 429 {
		return true
	}
	if r.status/100 != 4 {
		return false
	}
	var body struct {
		Error  string `json:"error"`
		Detail any    `json:"detail"`
	}
	if json.Unmarshal(r.body, &body) == nil && strings.Contains(strings.ToLower(body.Error), "challenge") {
		return true
	}
	return strings.Contains(string(r.body), "challenge_required")
}

// throttleRun is the outcome of one series of failed logins.
type throttleRun struct {
	sent     int         // attempts made
	at       int         // 1-based attempt at which throttling was confirmed; 0 if never
	evidence []*response // the last allowed answer and the two throttled ones
	all      []*response
}

// probe sends up to n failed logins; name returns the username of attempt
// i. Throttling counts only when two answers in a row are throttled.
func (s *scanner) probe(ctx context.Context, n int, name func(i int) string, hdr func(i int) map[string]string) (throttleRun, error) {
	var run throttleRun
	var last, first *response
	for i := range n {
		var h map[string]string
		if hdr != nil {
			h = hdr(i)
		}
		r, err := s.attempt(ctx, name(i), s.randomPassword(), h)
		if err != nil {
			return run, err
		}
		run.sent++
		run.all = append(run.all, r)
		if !s.throttled(r) {
			first, last = nil, r
			continue
		}
		if first == nil {
			first = r
			continue
		}
		run.at = run.sent - 1
		run.evidence = []*response{last, first, r}
		return run, nil
	}
	return run, nil
}

// rateLimitChecks decides ratelimit.missing, ratelimit.username-only and
// ratelimit.header-bypass. It runs last: it leaves the scanning client
// throttled.
func (s *scanner) rateLimitChecks(ctx context.Context) error {
	s.c.setProbe("rate limit: one username")
	one := s.randomName()
	same, err := s.probe(ctx, sameNameAttempts, func(int) string { return one }, nil)
	if err != nil {
		for _, id := range []string{RateLimitMissing, RateLimitUsername, RateLimitHeader} {
			if err := s.undecided(ctx, id, err); err != nil {
				return err
			}
		}
		return nil
	}
	s.c.setProbe("rate limit: rotating usernames")
	want := rotatingAttempts
	if same.at > 0 {
		want = max(rotatingAttempts, rotatingPerSameName*same.at)
	}
	rot, err := s.probe(ctx, want, func(int) string { return s.randomName() }, nil)
	if err != nil {
		for _, id := range []string{RateLimitMissing, RateLimitUsername, RateLimitHeader} {
			if err := s.undecided(ctx, id, err); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case same.at == 0 && rot.at == 0 && s.profile != nil && s.profile.SilentUsernameBan:
		// The service's own ban answers like a wrong password: only
		// the absence of any limit per client is seen, and it is the
		// weakness that matters to a botnet.
		s.add(RateLimitUsername, fmt.Sprintf("%d failed logins with a fresh username each, from one client, were all answered without throttling; "+
			"%s's own limit bans a username only, and answers a banned username exactly as a wrong password, so %d failures for one username showed no throttle either (%s)",
			rot.sent, s.profile.Name, same.sent, banTiming(same.all)), exchanges(rot.all[0], rot.all[len(rot.all)-1], same.all[len(same.all)-1])...)
		return nil
	case same.at == 0 && rot.at == 0:
		s.add(RateLimitMissing, fmt.Sprintf("%d failed logins for one username and %d with a fresh username each, from one client, were all answered without throttling",
			same.sent, rot.sent), exchanges(same.all[len(same.all)-1], rot.all[0], rot.all[len(rot.all)-1])...)
		return nil
	case same.at > 0 && rot.at == 0:
		s.add(RateLimitUsername, fmt.Sprintf("one username was throttled from failed login %d on, but %d failed logins rotating usernames from the same client never were",
			same.at, rot.sent), exchanges(same.evidence...)...)
	}

	// A throttled client now tries to reset its limit with forwarding
	// headers naming an address of its choosing.
	s.c.setProbe(RateLimitHeader)
	name := func(int) string { return s.randomName() }
	if rot.at == 0 { // only the username limit holds: spoof against it
		name = func(int) string { return one }
	}
	var bypass []string
	var bypassEx []*response
	for _, h := range []string{"X-Forwarded-For", "X-Real-IP", "Forwarded"} {
		addrs := []string{s.fakeIP(), s.fakeIP()}
		spoof := func(i int) map[string]string {
			if h == "Forwarded" {
				return map[string]string{h: "for=" + addrs[i]}
			}
			return map[string]string{h: addrs[i]}
		}
		r, err := s.probe(ctx, 2, name, spoof)
		if err != nil {
			return s.undecided(ctx, RateLimitHeader, err)
		}
		if r.sent < 2 || s.throttled(r.all[0]) || s.throttled(r.all[1]) {
			continue
		}
		// Two spoofed attempts got through; is the client itself still
		// throttled?
		ctl, err := s.probe(ctx, 2, name, nil)
		if err != nil {
			return s.undecided(ctx, RateLimitHeader, err)
		}
		if ctl.at == 0 {
			s.inconclusive(RateLimitHeader, "the throttle lifted during the probe")
			return nil
		}
		bypass = append(bypass, h)
		bypassEx = append(bypassEx, r.all[0], ctl.all[0])
	}
	if len(bypass) > 0 {
		s.add(RateLimitHeader, fmt.Sprintf("a throttled client was let through twice by adding %s with an address of its choosing, and throttled again without it",
			strings.Join(bypass, ", ")), exchanges(bypassEx...)...)
	}
	return nil
}

// fakeIP returns a random address from the documentation ranges (RFC
// 5737), which no real client has.
func (s *scanner) fakeIP() string {
	b := make([]byte, 2)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		panic("scan: randomness failed: " + err.Error())
	}
	nets := []string{"192.0.2", "198.51.100", "203.0.113"}
	return fmt.Sprintf("%s.%d", nets[int(b[0])%3], 1+int(b[1])%254)
}

// banTiming describes how long one username's failures took before and
// after the third: a ban that skips the password hash answers faster.
func banTiming(rs []*response) string {
	if len(rs) < 5 {
		return "too few answers to time"
	}
	ms := func(rs []*response) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = float64(r.took) / float64(time.Millisecond)
		}
		return median(xs)
	}
	return fmt.Sprintf("median answer %.1f ms for the first 3, %.1f ms after them; a ban that skips the password hash answers faster", ms(rs[:3]), ms(rs[3:]))
}
