package freshredis

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeCheck is the reply of the monitor script.
type storeCheck struct {
	runID, oldRunID string
	version         string
	bumped          bool // the script started a new epoch: the run_id had changed
	pruned          int64
}

// check runs the monitor script once: it starts a new epoch if the server's run_id
// is not the one recorded in meta, and applies the retention rule.
func (s *Store) check(ctx context.Context) (storeCheck, error) {
	res, err := scriptMonitor.Run(ctx, s.client, s.keys.scriptKeys, s.retainArgs[:]...).Slice()
	if err != nil {
		return storeCheck{}, err
	}
	p, err := s.head(res, 0)
	if err != nil {
		return storeCheck{}, err
	}
	bumped, err := replyInt(res, 3)
	if err != nil {
		return storeCheck{}, err
	}
	var c storeCheck
	c.bumped = bumped == 1
	if c.pruned, err = replyInt(res, 4); err != nil {
		return storeCheck{}, err
	}
	if c.runID, err = replyString(res, 5); err != nil {
		return storeCheck{}, err
	}
	if c.oldRunID, err = replyString(res, 6); err != nil {
		return storeCheck{}, err
	}
	if c.version, err = replyString(res, 7); err != nil {
		return storeCheck{}, err
	}
	if c.bumped && s.started.Load() {
		s.log.Warn("freshredis: the Redis server's run_id changed (a restart or a failover); started a new epoch so that state restored from a snapshot or a lagging replica is not trusted",
			"namespace", s.Namespace(), "old_run_id", c.oldRunID, "run_id", c.runID, "epoch", p.Epoch)
	}
	return c, nil
}

// storeMonitorMaxRounds bounds the extra prune calls of one monitor tick.
const storeMonitorMaxRounds = 100

// monitor runs check every CheckInterval until Close. When a check removed as many
// tombstones as one call may, it calls again at once (up to storeMonitorMaxRounds
// times), so that a backlog of prunable tombstones drains. A failed check is logged
// once at Warn, and the recovery at Info.
func (s *Store) monitor(runID string) {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		for range storeMonitorMaxRounds {
			cctx, ccancel := context.WithTimeout(ctx, max(min(s.interval, storeProbeTimeout), 100*time.Millisecond)) // a check stuck in redials must not delay the next one
			c, err := s.check(cctx)
			ccancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.stats.errors.Add(1)
				if !failing {
					failing = true
					s.log.Warn("freshredis: store monitor: check failed; retrying every CheckInterval", "namespace", s.Namespace(), "error", err)
				}
				break
			}
			if failing {
				failing = false
				s.log.Info("freshredis: store monitor: checks succeed again", "namespace", s.Namespace())
			}
			if c.runID != "" && c.runID != runID && !c.bumped {
				s.log.Info("freshredis: the Redis server's run_id changed; another process started the new epoch",
					"namespace", s.Namespace(), "old_run_id", runID, "run_id", c.runID)
			}
			if c.runID != "" {
				runID = c.runID
			}
			if c.pruned < storePruneLimit {
				break
			}
		}
	}
}

// checkEvictionPolicy logs a warning if the server that owns the namespace evicts
// keys without an expiry, which could remove meta (detected: a new epoch starts) or
// tombs (not detectable: fills refused by a lost tombstone would be stored). An
// error (CONFIG may be disabled or renamed) is logged at Debug and otherwise
// ignored.
func (s *Store) checkEvictionPolicy(ctx context.Context) {
	var cfg redis.Cmdable = s.client
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, s.keys.meta)
		if err != nil {
			s.log.Debug("freshredis: could not find the namespace's cluster node to read maxmemory-policy", "namespace", s.Namespace(), "error", err)
			return
		}
		cfg = node
	}
	m, err := cfg.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		s.log.Debug("freshredis: could not read maxmemory-policy", "namespace", s.Namespace(), "error", err)
		return
	}
	policy := m["maxmemory-policy"]
	if strings.HasPrefix(policy, "allkeys-") {
		s.log.Warn("freshredis: Redis maxmemory-policy "+policy+" may evict the store's bookkeeping: an evicted meta is detected and starts a new epoch, but an evicted tombstone set is not, and fills it would have refused could be stored; use noeviction or a volatile-* policy",
			"namespace", s.Namespace(), "maxmemory-policy", policy)
	}
}
