package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/redisstore"
)

// guardState is where the guard and the replay caches keep their state:
// this process's memory on one node, or Redis shared by every replica, with
// a local fallback for the budgets.
type guardState struct {
	budgets  limit.Store
	admin    guard.AdminStore // status and unlock over budgets
	local    *limit.Memory    // all of the budgets on one node; the fallback with Redis
	known    guard.KnownNetworks
	knownLen func() int // nil when not countable here
	// knownReserve folds the known-network lookup into the reservation
	// (one Redis round trip); nil on one node, where both are in memory.
	knownReserve    guard.KnownReserver
	challengeReplay challenge.ReplayCache
	dpopReplay      dpop.ReplayCache
	// detectorCounts adds up the attack detectors of every replica; nil
	// on one node.
	detectorCounts guard.SharedCounts
	// degraded reports that Redis is unreachable and the local fallback
	// decides; nil on one node.
	degraded func() bool
	close    func() error
}

// newGuardState builds the guard's stores from cfg, checking Redis and
// watching it from ctx (the command's context) until close. On error
// nothing is left open, the Redis client included. With --guard-store
// every budget, known network, replay entry and attack-detector count is
// shared through Redis;
// when Redis stops answering, budgets fall back to local memory divided by
// --replicas (logged, and onDegraded is told) and return to Redis by
// themselves. Known networks fall back to local memory. Replay caches do
// not fall back: without Redis a challenge or DPoP proof cannot be proved
// fresh on every replica, so while degraded none is issued or accepted
// (untrusted logins get 429, DPoP proofs 503, both with Retry-After).
func newGuardState(ctx context.Context, cfg config.Defence, log *slog.Logger, onDegraded func(bool)) (_ *guardState, err error) {
	local, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: cfg.GuardMaxKeys})
	if err != nil {
		return nil, fmt.Errorf("guard store: %w", err)
	}
	if cfg.GuardStore == "" {
		known := guard.NewMemoryKnownNetworks(cfg.GuardMaxKeys)
		replay, err := challenge.NewMemoryReplay(cfg.ChallengeReplayCapacity)
		if err != nil {
			return nil, err
		}
		return &guardState{
			budgets: local, admin: local, local: local, known: known, knownLen: known.Len,
			challengeReplay: replay,
			close:           func() error { return nil },
		}, nil
	}
	rdb, err := redisClient(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = rdb.Close() // its pool holds the connection Ping opened
		}
	}()
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		// Start anyway, on the fallback: a replica must not refuse to
		// start because Redis is briefly away.
		log.Warn("guard store unreachable at start; using divided local budgets until it answers", "error", err.Error())
	}
	shared, err := redisstore.NewLimiter(rdb, redisstore.Config{Prefix: cfg.RedisPrefix})
	if err != nil {
		return nil, err
	}
	fo, err := redisstore.NewFailover(shared, local, redisstore.FailoverConfig{
		Replicas: cfg.Replicas,
		// A call is a dial, a write and a read, each bounded by the
		// client's timeout; the whole call gets a little more.
		CallTimeout: cfg.GuardStoreTimeout * 5 / 4,
		OnChange: func(degraded bool, err error) {
			if degraded {
				log.Warn("guard.degraded", "store", "local", "replicas", cfg.Replicas, "error", fmt.Sprint(err))
			} else {
				log.Warn("guard.recovered", "store", "redis")
			}
			onDegraded(degraded)
		},
	})
	if err != nil {
		return nil, err
	}
	admin, err := redisstore.NewFailoverAdmin(fo, shared, local)
	if err != nil {
		return nil, err
	}
	knownLocal := guard.NewMemoryKnownNetworks(cfg.GuardMaxKeys)
	known, err := redisstore.NewFailoverKnownReserver(fo, redisstore.KnownLimiter{Limiter: shared, Known: redisstore.NewKnownNetworks(rdb, cfg.RedisPrefix)}, knownLocal)
	if err != nil {
		return nil, err
	}
	challengeLocal, err := challenge.NewMemoryReplay(cfg.ChallengeReplayCapacity)
	if err != nil {
		return nil, err
	}
	challengeReplay, err := redisstore.NewFailoverChallengeReplay(fo, redisstore.NewChallengeReplay(rdb, cfg.RedisPrefix), challengeLocal)
	if err != nil {
		return nil, err
	}
	dpopReplay, err := redisstore.NewFailoverDPoPReplay(fo, redisstore.NewDPoPReplay(rdb, cfg.RedisPrefix))
	if err != nil {
		return nil, err
	}
	detectorCounts, err := redisstore.NewDetectorCounts(rdb, cfg.RedisPrefix, fo)
	if err != nil {
		return nil, err
	}
	// Watch Redis even when no login comes, so an idle replica's /readyz
	// and metric follow it both ways.
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		fo.Watch(wctx, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	}()
	return &guardState{
		budgets:         fo,
		admin:           admin,
		local:           local,
		known:           known,
		knownReserve:    known,
		challengeReplay: challengeReplay,
		dpopReplay:      dpopReplay,
		detectorCounts:  detectorCounts,
		degraded:        fo.Degraded,
		close: func() error {
			stopWatch()
			<-watched
			return rdb.Close()
		},
	}, nil
}

// redisClient connects to --guard-store with short timeouts
// (--guard-store-timeout) and no retries (one dial attempt, no command
// retry), so an outage is noticed within a fraction of a second and the
// fallback takes over instead of requests hanging.
func redisClient(cfg config.Defence) (redis.UniversalClient, error) {
	timeout := cfg.GuardStoreTimeout
	if cfg.RedisSentinelMaster != "" {
		opt, err := redis.ParseFailoverURL(cfg.GuardStore)
		if err != nil {
			return nil, usageError{fmt.Errorf("--guard-store: not a Redis URL")}
		}
		opt.MasterName = cfg.RedisSentinelMaster
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = timeout, timeout, timeout, -1
		opt.DialerRetries = 1
		return redis.NewFailoverClient(opt), nil
	}
	opt, err := redis.ParseURL(cfg.GuardStore)
	if err != nil {
		return nil, usageError{fmt.Errorf("--guard-store: not a Redis URL")}
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = timeout, timeout, timeout, -1
	opt.DialerRetries = 1
	return redis.NewClient(opt), nil
}
