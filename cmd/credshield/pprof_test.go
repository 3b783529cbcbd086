package main

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
)

// TestPprofOnlyWhenAsked: Go's profiles are served on the metrics listener
// with --pprof and nowhere without it, and never on the public listener.
func TestPprofOnlyWhenAsked(t *testing.T) {
	get := func(t *testing.T, url string) int {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, tt := range []struct {
		name        string
		args        []string
		wantMetrics int
	}{
		{"default", nil, http.StatusNotFound},
		{"pprof", []string{"--pprof"}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			metrics := freeAddr(t)
			args := append([]string{"--data-dir", filepath.Join(t.TempDir(), "data"), "--metrics-listen", metrics}, cheapHash...)
			base := startServe(t, append(args, tt.args...)...)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
				if got := get(t, "http://"+metrics+path); got != tt.wantMetrics {
					t.Errorf("metrics listener %s: %d, want %d", path, got, tt.wantMetrics)
				}
				if got := get(t, base+path); got != http.StatusNotFound {
					t.Errorf("public listener %s: %d, want 404", path, got)
				}
			}
			if got := get(t, "http://"+metrics+"/metrics"); got != http.StatusOK {
				t.Errorf("/metrics: %d", got)
			}
		})
	}
}
