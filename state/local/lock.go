package local

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

// Acquire takes the connector's run lock for ttl. The lock is not reentrant: a
// second Acquire by the same owner fails with ErrLocked too, so two runs started by
// one process cannot both write. An expired lock is taken over with the next token.
func (b *Backend) Acquire(ctx context.Context, connector, owner string, ttl time.Duration) (state.Lease, error) {
	if err := checkConnector(connector); err != nil {
		return state.Lease{}, err
	}
	if ttl <= 0 {
		return state.Lease{}, fmt.Errorf("acquire lock of %q: ttl %s is not positive", connector, ttl)
	}
	var lease state.Lease
	err := b.update(ctx, func(tx *bolt.Tx) error {
		meta, err := createSubBucket(tx, connector, bucketConnMeta)
		if err != nil {
			return err
		}
		now := b.now()
		held, ok, err := loadLease(meta)
		if err != nil {
			return err
		}
		dead := ok && now.Before(held.Expires) && ownerGone(held.Owner)
		if ok && now.Before(held.Expires) && !dead {
			return fmt.Errorf("%w (owner %q, until %s)",
				state.ErrLocked, held.Owner, held.Expires.Format(time.RFC3339))
		}
		// The counter lives apart from the lock so Release can drop the lock
		// without the next token starting over.
		// Tokens also never go below the clock (in microseconds): a state file that
		// is deleted or restored from a backup must not hand out tokens the store
		// has already seen, or every write would be refused as stale.
		token := uint64(now.UnixMicro())
		if v := meta.Get(keyToken); len(v) == 8 {
			token = max(token, binary.BigEndian.Uint64(v)+1)
		}
		if err := meta.Put(keyToken, binary.BigEndian.AppendUint64(nil, token)); err != nil {
			return err
		}
		lease = state.Lease{
			Connector: connector,
			Owner:     owner,
			Token:     token,
			// Round(0) drops the monotonic reading, which the file cannot keep, so
			// the caller's lease equals the stored one.
			Expires: now.Add(ttl).Round(0),
		}
		if dead {
			b.log.Warn("taking over the run lock of a process that no longer runs",
				zap.String("connector", connector),
				zap.String("previous_owner", held.Owner),
				zap.Uint64("previous_token", held.Token),
				zap.Time("would_expire", held.Expires))
		} else if ok {
			b.log.Info("taking over expired run lock",
				zap.String("connector", connector),
				zap.String("previous_owner", held.Owner),
				zap.Uint64("previous_token", held.Token),
				zap.Time("expired", held.Expires))
		}
		return storeLease(meta, lease)
	})
	if err != nil {
		return state.Lease{}, fmt.Errorf("acquire lock of %q: %w", connector, err)
	}
	b.log.Debug("run lock acquired", zap.String("connector", connector),
		zap.String("owner", owner), zap.Uint64("token", lease.Token))
	return lease, nil
}

// ownerGone reports whether a lock's owner ("host:pid", as the engine names
// it) is a process of this machine that no longer runs: a `dirsync sync` that
// was killed. The local file is only ever shared by processes of one machine,
// so such a lock needs no waiting out. Anything else (another host's name, a
// pid that is alive or cannot be checked, an owner of another shape) counts as
// running.
func ownerGone(owner string) bool {
	i := strings.LastIndexByte(owner, ':')
	if i <= 0 {
		return false
	}
	pid, err := strconv.Atoi(owner[i+1:])
	host, herr := os.Hostname()
	if err != nil || pid <= 0 || herr != nil || owner[:i] != host {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Renew extends a lease that is still the current one. A lease past its expiry that
// nobody took over is still current: the token, not the clock, decides.
func (b *Backend) Renew(ctx context.Context, lease state.Lease, ttl time.Duration) (state.Lease, error) {
	if err := checkConnector(lease.Connector); err != nil {
		return state.Lease{}, err
	}
	if ttl <= 0 {
		return state.Lease{}, fmt.Errorf("renew lock of %q: ttl %s is not positive", lease.Connector, ttl)
	}
	var renewed state.Lease
	err := b.update(ctx, func(tx *bolt.Tx) error {
		meta := subBucket(connBucket(tx, lease.Connector), bucketConnMeta)
		if err := checkLease(meta, lease); err != nil {
			return err
		}
		renewed = lease
		renewed.Expires = b.now().Add(ttl).Round(0)
		return storeLease(meta, renewed)
	})
	if err != nil {
		return state.Lease{}, fmt.Errorf("renew lock of %q: %w", lease.Connector, err)
	}
	return renewed, nil
}

// Release drops the lock if lease still holds it; a stale lease changes nothing.
func (b *Backend) Release(ctx context.Context, lease state.Lease) error {
	if err := checkConnector(lease.Connector); err != nil {
		return err
	}
	released := false
	err := b.update(ctx, func(tx *bolt.Tx) error {
		meta := subBucket(connBucket(tx, lease.Connector), bucketConnMeta)
		if err := checkLease(meta, lease); err != nil {
			if errors.Is(err, state.ErrStaleLease) {
				return nil
			}
			return err
		}
		released = true
		return meta.Delete(keyLock)
	})
	if err != nil {
		return fmt.Errorf("release lock of %q: %w", lease.Connector, err)
	}
	if released {
		b.log.Debug("run lock released", zap.String("connector", lease.Connector),
			zap.Uint64("token", lease.Token))
	}
	return nil
}

// checkLease returns ErrStaleLease unless lease is the one stored in meta (which may
// be nil: a connector never locked has no current lease).
func checkLease(meta *bolt.Bucket, lease state.Lease) error {
	held, ok, err := loadLease(meta)
	if err != nil {
		return err
	}
	if !ok || held.Token != lease.Token || held.Owner != lease.Owner {
		return fmt.Errorf("lease token %d of %q: %w", lease.Token, lease.Owner, state.ErrStaleLease)
	}
	return nil
}

func loadLease(meta *bolt.Bucket) (state.Lease, bool, error) {
	if meta == nil {
		return state.Lease{}, false, nil
	}
	v := meta.Get(keyLock)
	if v == nil {
		return state.Lease{}, false, nil
	}
	var l state.Lease
	if err := json.Unmarshal(v, &l); err != nil {
		return state.Lease{}, false, fmt.Errorf("decode run lock: %w", err)
	}
	return l, true, nil
}

func storeLease(meta *bolt.Bucket, l state.Lease) error {
	v, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode run lock: %w", err)
	}
	return meta.Put(keyLock, v)
}
