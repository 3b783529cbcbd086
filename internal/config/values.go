package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/limit"
)

// limitValue is a pflag.Value for a limit.Limit written BURST/PERIOD, as in
// "20/1h": twenty at once, refilled to twenty per hour.
type limitValue struct{ l *limit.Limit }

func (v limitValue) String() string {
	if v.l == nil {
		return ""
	}
	return FormatLimit(*v.l)
}

func (v limitValue) Set(s string) error {
	l, err := ParseLimit(s)
	if err != nil {
		return err
	}
	*v.l = l
	return nil
}

func (limitValue) Type() string { return "burst/period" }

// ParseLimit parses BURST/PERIOD ("20/1h", "5/15m").
func ParseLimit(s string) (limit.Limit, error) {
	b, p, ok := strings.Cut(s, "/")
	if !ok {
		return limit.Limit{}, fmt.Errorf("%q: want BURST/PERIOD, for example 20/1h", s)
	}
	burst, err := strconv.Atoi(strings.TrimSpace(b))
	if err != nil || burst < 1 || burst > 1<<30 {
		return limit.Limit{}, fmt.Errorf("%q: burst must be a whole number from 1", s)
	}
	period, err := time.ParseDuration(strings.TrimSpace(p))
	if err != nil || period < time.Second || period > 30*24*time.Hour {
		return limit.Limit{}, fmt.Errorf("%q: period must be a duration from 1s to 720h", s)
	}
	return limit.Limit{Burst: burst, Period: period}, nil
}

// FormatLimit writes l as ParseLimit reads it.
func FormatLimit(l limit.Limit) string {
	d := l.Period.String()
	d = strings.TrimSuffix(strings.TrimSuffix(d, "0s"), "0m")
	return fmt.Sprintf("%d/%s", l.Burst, d)
}

// prefixesValue is a pflag.Value for a comma-separated list of CIDRs (a bare
// address is a single host).
type prefixesValue struct{ p *[]netip.Prefix }

func (v prefixesValue) String() string {
	if v.p == nil {
		return ""
	}
	parts := make([]string, len(*v.p))
	for i, p := range *v.p {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (v prefixesValue) Set(s string) error {
	ps, err := clientip.ParsePrefixes(s)
	if err != nil {
		return err
	}
	*v.p = ps
	return nil
}

func (prefixesValue) Type() string { return "cidrs" }

// sameSiteNames are the device cookie's SameSite modes as
// --device-cookie-samesite writes them.
var sameSiteNames = map[http.SameSite]string{
	http.SameSiteStrictMode: "strict",
	http.SameSiteLaxMode:    "lax",
	http.SameSiteNoneMode:   "none",
}

// sameSiteValue is a pflag.Value for an http.SameSite written strict, lax
// or none, so the cookie's mode is parsed once, when the flag is set.
type sameSiteValue struct{ s *http.SameSite }

func (v sameSiteValue) String() string {
	if v.s == nil {
		return ""
	}
	return sameSiteNames[*v.s]
}

func (v sameSiteValue) Set(s string) error {
	for mode, name := range sameSiteNames {
		if s == name {
			*v.s = mode
			return nil
		}
	}
	return errors.New("want strict, lax or none")
}

// Type is "string", as the flag was before it was typed, so help reads
// the same.
func (sameSiteValue) Type() string { return "string" }
