// Command credshield is the login and token service that stops credential
// stuffing, and the tools around it. main only wires the process to run;
// everything else is testable through run.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv, routeRedisLogs)
	stop()
	os.Exit(code)
}
