package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// redisLog carries go-redis' own log lines ("redis: connection pool:
// failed to dial ...") into the command's slog logger, so they come out as
// JSON at a level like every other line instead of as bare text on stderr.
//
// go-redis has no per-client logger, only a process-wide one
// (redis.SetLogger); it is the one global credshield sets, because the
// alternative is unstructured lines that log pipelines cannot parse. main
// sets it once, to a redisLog, before running the command (routeRedisLogs);
// the command's logger is handed to it when it is built (env.logger).
// run, which tests call many times concurrently in one process, never sets
// the global, so servers started by tests do not swap it under each other
// (their go-redis lines keep go-redis' default stderr logger). Safe for
// concurrent use.
type redisLog struct {
	to atomic.Pointer[slog.Logger]
}

// use sends later lines to log.
func (r *redisLog) use(log *slog.Logger) { r.to.Store(log) }

// Printf implements go-redis' logging interface. Its lines report
// connections lost or refused, so they are warnings; before the command's
// logger exists they go to slog's default logger.
func (r *redisLog) Printf(ctx context.Context, format string, v ...any) {
	log := r.to.Load()
	if log == nil {
		log = slog.Default()
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", msg))
}

// routeRedisLogs is the run option main passes: it points go-redis'
// process-wide logger at a redisLog fed by the command's logger.
func routeRedisLogs(e *env) {
	r := &redisLog{}
	redis.SetLogger(r)
	e.onLogger = r.use
}
