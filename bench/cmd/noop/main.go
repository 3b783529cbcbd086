// Command noop is the benchmark's baseline server and upstream: a net/http
// handler that answers every request 200 "ok" without reading the body.
// It is deliberately the cheapest server net/http allows, so that no ratio
// can be flattered by a heavier baseline.
//
//	noop -listen 127.0.0.1:18700
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/credshield/credshield/bench/internal/loopback"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("noop", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := loopback.Listen(*listen)
	if err != nil {
		return err
	}
	fmt.Println("noop listening on", ln.Addr())
	hs := &http.Server{
		Handler:           http.HandlerFunc(ok),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return hs.Serve(ln)
}

func ok(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "ok")
}
