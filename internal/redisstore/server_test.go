package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/credshield/credshield/internal/redisstore/redistest"
)

// ownRedis is a redis-server the test starts and stops itself
// (redistest), with a client that gives up fast.
type ownRedis struct {
	*redistest.Server
	t testing.TB
}

// startOwnRedis starts a redis-server for t, or skips t when the binary
// is missing (fails under CI=true). It is stopped at cleanup.
func startOwnRedis(t testing.TB) *ownRedis {
	t.Helper()
	return &ownRedis{Server: redistest.Start(t), t: t}
}

// client returns a client of the server that gives up fast.
func (r *ownRedis) client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: r.Addr(), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
	})
	r.t.Cleanup(func() { c.Close() })
	return c
}
