// Command bareproxy is the pass-through baseline: the standard library's
// httputil.NewSingleHostReverseProxy with up to 256 idle connections to
// the upstream, and nothing else.
//
//	bareproxy -listen 127.0.0.1:18701 -upstream http://127.0.0.1:18700
package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"os"
	"time"

	"github.com/credshield/credshield/bench/internal/loopback"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	upstream := fs.String("upstream", "", "the upstream, http://127.0.0.1:PORT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	up, err := loopback.URL(*upstream)
	if err != nil {
		return fmt.Errorf("-upstream %w", err)
	}
	ln, err := loopback.Listen(*listen)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.Transport = tr
	fmt.Println("bareproxy listening on", ln.Addr())
	hs := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	return hs.Serve(ln)
}
