package local

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

// FuzzStoredValues puts a fuzzed key and value where the backend keeps each
// kind of record (a damaged file, or one edited by hand) and reads it back
// through the backend: never a panic, and an error names what it read.
func FuzzStoredValues(f *testing.F) {
	b, err := Open(filepath.Join(f.TempDir(), "state.db"), zap.NewNop())
	require.NoError(f, err)
	seq := binary.BigEndian.AppendUint64(nil, 7)
	entry, _ := json.Marshal(state.Entry{Fingerprint: "f", Kind: "user", Address: "a@example.com"})
	run, _ := json.Marshal(state.Run{ID: "r1", Status: "ok"})
	hold, _ := json.Marshal(holdRecord{ID: "h1", Operations: []byte(`[]`)})
	retry, _ := json.Marshal(state.Retry{Anchor: "a1", Attempts: 1})
	ledger, _ := json.Marshal(state.Destructive{RunID: "r", Kind: "disable", Count: 1})
	lease, _ := json.Marshal(state.Lease{Owner: "me", Token: 3, Expires: time.Unix(1, 0)})
	for kind, seed := range [][2][]byte{
		{[]byte("a1"), entry}, {seq, run}, {[]byte("h1"), hold}, {[]byte("a1"), retry},
		{seq, ledger}, {[]byte("lock"), lease}, {[]byte("cursor"), []byte("anything")},
	} {
		for _, v := range [][]byte{seed[1], []byte("{"), []byte(`{"count":"x"}`), []byte("null"), {0xff}} {
			f.Add(uint8(kind), seed[0], v)
		}
		f.Add(uint8(kind), []byte{1, 2, 3}, seed[1]) // a key shorter than the 8 bytes of a sequence or time
	}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, kind uint8, key, v []byte) {
		if len(key) == 0 || len(key) > bolt.MaxKeySize {
			key = []byte("k")
		}
		ctx := t.Context()
		conn := "c" + strconv.FormatInt(n.Add(1), 10)
		put := func(bucket, k []byte) {
			require.NoError(t, b.update(ctx, func(tx *bolt.Tx) error {
				bk, err := createSubBucket(tx, conn, bucket)
				if err != nil {
					return err
				}
				return bk.Put(k, v)
			}))
		}
		t.Cleanup(func() {
			_ = b.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketConnectors).DeleteBucket([]byte(conn)) })
		})
		switch kind % 7 {
		case 0:
			put(bucketSnapshot, key)
			snap, err := b.Snapshot(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, strconv.Quote(string(key)))
				return
			}
			require.Len(t, snap, 1)
		case 1:
			put(bucketRuns, key)
			runs, err := b.Runs(ctx, conn, 10)
			if err != nil {
				require.ErrorContains(t, err, "run ")
				return
			}
			require.Len(t, runs, 1)
			require.Len(t, key, 8)
		case 2:
			put(bucketHolds, key)
			holds, err := b.Holds(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, strconv.Quote(string(key)))
				return
			}
			require.Len(t, holds, 1)
		case 3:
			put(bucketRetries, key)
			list, err := b.Retries(ctx, conn)
			if err != nil {
				require.ErrorContains(t, err, strconv.Quote(string(key)))
				return
			}
			require.Len(t, list, 1)
		case 4:
			put(bucketLedger, key)
			lines, err := b.DestructiveSince(ctx, conn, time.Time{})
			if err != nil {
				require.ErrorContains(t, err, "ledger line")
				require.ErrorContains(t, err, strconv.Quote(conn))
				return
			}
			require.LessOrEqual(t, len(lines), 1)
		case 5:
			put(bucketConnMeta, keyLock)
			lease, err := b.Acquire(ctx, conn, "me", time.Minute)
			if err != nil {
				require.ErrorContains(t, err, "run lock")
				return
			}
			require.Equal(t, "me", lease.Owner)
			require.NoError(t, b.Release(ctx, lease))
		case 6:
			put(bucketConnMeta, keyCursor)
			cur, err := b.Cursor(ctx, conn)
			require.NoError(t, err)
			require.Equal(t, v, cur, "the cursor is the connector's bytes, given back as stored")
		}
	})
}
