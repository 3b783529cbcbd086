package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// testClient connects to CREDSHIELD_TEST_REDIS and returns a client and a
// key prefix of the test's own, whose keys are deleted at cleanup. It
// skips the test when the variable is unset, unless CI=true.
func testClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("CREDSHIELD_TEST_REDIS")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CREDSHIELD_TEST_REDIS not set, and CI=true")
		}
		t.Skip("CREDSHIELD_TEST_REDIS not set: e.g. redis://127.0.0.1:6379/0")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse CREDSHIELD_TEST_REDIS: %v", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redis at CREDSHIELD_TEST_REDIS does not answer: %v", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "credshield-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

// keysUnder returns every key under prefix.
func keysUnder(t testing.TB, rdb *redis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}
