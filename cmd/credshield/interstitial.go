package main

import (
	"context"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/interstitial"
)

// challengePage builds protect's challenge page for browsers: it loads
// the solver from the assets prefix (none without one: "" gives no page,
// and browsers keep the plain refusal) and seals login forms under the
// secret "interstitial.key" (sealed in the store with a KEK, so every
// proxy opens the forms of the others), spending each in the challenges'
// replay cache.
func challengePage(ctx context.Context, assetsPrefix string, sec secrets, replay challenge.ReplayCache) (*interstitial.Page, error) {
	if assetsPrefix == "" {
		return nil, nil
	}
	key, err := sec.load(ctx, "interstitial.key")
	if err != nil {
		return nil, err
	}
	sealer, err := interstitial.NewSealer(key, replay)
	if err != nil {
		return nil, err
	}
	return interstitial.New(assetsPrefix, sealer, interstitial.English)
}
