package freshredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Lease takes the lease on key for ttl (rounded up to a millisecond) if no one holds
// it, with SET NX PX on the key's lease string; the token is 128 random bits in hex,
// new for every attempt. When the lease is held, it returns how long it still runs.
// A lease string without an expiry, which a Store never writes, is given ttl so that
// it lapses. A ttl of zero or less is an error.
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (token string, granted bool, wait time.Duration, err error) {
	if ttl <= 0 {
		return "", false, 0, s.failKey("lease", key, fmt.Errorf("ttl %v is not positive", ttl))
	}
	if err := s.begin(ctx); err != nil {
		return "", false, 0, s.failKey("lease", key, err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := hex.EncodeToString(b[:])
	res, err := scriptLease.Run(ctx, s.client, []string{s.keys.lease(key)}, tok, strconv.FormatInt(ceilMillis(ttl), 10)).Slice()
	if err != nil {
		return "", false, 0, s.failKey("lease", key, err)
	}
	ok, err1 := replyInt(res, 0)
	left, err2 := replyInt(res, 1)
	if err := errors.Join(err1, err2); err != nil {
		return "", false, 0, s.failKey("lease", key, err)
	}
	if ok == 1 {
		return tok, true, 0, nil
	}
	return "", false, max(time.Duration(left)*time.Millisecond, time.Millisecond), nil
}

// Release ends the lease on key if token holds it, with a compare-and-delete script;
// otherwise it does nothing. An empty token is an error.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if token == "" {
		return s.failKey("release", key, errors.New("empty token"))
	}
	if err := s.begin(ctx); err != nil {
		return s.failKey("release", key, err)
	}
	if err := scriptRelease.Run(ctx, s.client, []string{s.keys.lease(key)}, token).Err(); err != nil {
		return s.failKey("release", key, err)
	}
	return nil
}
