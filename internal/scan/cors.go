package scan

import (
	"context"
	"fmt"
)

// corsCheck asks, as a page on a random foreign origin, whether the API
// lets it read answers: a simple GET at the protected URL and a preflight
// at the token endpoint.
func (s *scanner) corsCheck(ctx context.Context) error {
	s.c.setProbe(CORSReflected)
	origin := "https://" + s.nonce(6) + ".credshield-scan.invalid"
	hdr := map[string]string{"Origin": origin}
	if s.token != nil {
		hdr["Authorization"] = "Bearer " + s.token.raw
	}
	get, err := s.c.get(ctx, s.rep.Discovery.ProtectedURL, hdr)
	if err != nil {
		return s.undecided(ctx, CORSReflected, err)
	}
	pre, err := s.c.options(ctx, s.rep.Discovery.TokenURL, map[string]string{
		"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	if err != nil {
		return s.undecided(ctx, CORSReflected, err)
	}
	for _, r := range []*response{get, pre} {
		if r.header.Get("Access-Control-Allow-Origin") != origin {
			continue
		}
		creds := ""
		if r.header.Get("Access-Control-Allow-Credentials") == "true" {
			creds = ", with Access-Control-Allow-Credentials: true"
		}
		s.add(CORSReflected, fmt.Sprintf("the random origin %s was echoed in Access-Control-Allow-Origin%s", origin, creds), r.ex)
		return nil
	}
	return nil
}
