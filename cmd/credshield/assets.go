package main

import (
	"net/http"

	"github.com/credshield/credshield/internal/challenge/browser"
)

// serveAssets puts the browser's challenge solver and credshield.js in
// front of hs's handler under prefix; "" leaves hs alone. serve and
// protect both call it, so the assets never touch their routes.
func serveAssets(hs *http.Server, prefix string) error {
	if prefix == "" {
		return nil
	}
	h, err := browser.New(prefix)
	if err != nil {
		return err
	}
	hs.Handler = h.Wrap(hs.Handler)
	return nil
}
