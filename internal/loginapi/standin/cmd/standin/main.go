// Command standin serves one of the stand-in services on loopback, with
// the accounts of a "name:password" file (credshield simulate
// --population-out FILE --population-format userpass), so that a
// simulation or a scan can run against it from the command line:
//
//	go run ./internal/loginapi/standin/cmd/standin -service kratos -users pop.txt -listen 127.0.0.1:4455
//
// Its first line on stdout is "serving http://ADDR". It is test tooling:
// the stand-ins mirror the services' login APIs and weaknesses, never
// their whole behaviour.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/credshield/credshield/internal/loginapi/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	service := fs.String("service", "", "kratos, authelia, keycloak (realm test, client app) or gotrue")
	usersFile := fs.String("users", "", `file of "name:password" lines`)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	accounts, err := readUsers(*usersFile)
	if err != nil {
		return err
	}
	var h http.Handler
	switch *service {
	case "kratos":
		h = standin.NewKratos(accounts)
	case "authelia":
		h = standin.NewAuthelia(accounts)
	case "keycloak":
		h = standin.NewKeycloak(accounts)
	case "gotrue":
		h = standin.NewGoTrue(accounts)
	default:
		return fmt.Errorf("-service %q: want kratos, authelia, keycloak or gotrue", *service)
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: want a loopback address and port", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "serving http://%s (%s stand-in, %d accounts)\n", ln.Addr(), *service, len(accounts))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func readUsers(path string) (map[string]string, error) {
	if path == "" {
		return nil, errors.New("-users FILE is required")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	accounts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, pw, ok := strings.Cut(sc.Text(), ":")
		if !ok || name == "" {
			continue
		}
		accounts[name] = pw
	}
	return accounts, sc.Err()
}
