// Package browsertest starts the headless Chromium that browser tests
// drive through the Chrome DevTools Protocol (chromedp).
//
// Tests find Chromium in CREDSHIELD_TEST_CHROMIUM (set by .ci/run) or on
// the PATH. Without one they are skipped, with a message saying how to
// install it, except under CI=true, where a missing Chromium fails: CI
// must never pass by not running the browser tests.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium executable, skipping (or, under CI, failing)
// t when there is none.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CREDSHIELD_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CREDSHIELD_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium: set CREDSHIELD_TEST_CHROMIUM or install it (apt-get install chromium) to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// New starts a headless Chromium with a fresh profile (no cookies) and
// returns a context for chromedp actions in its first tab, cancelled when
// t ends. Every action run with it must finish within timeout.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		// Root in a container has no user namespaces for the sandbox;
		// the pages are our own, on loopback.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	tctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser now, so a failure to launch is reported as such.
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return tctx
}
