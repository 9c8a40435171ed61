// Package local is the embedded state backend: the whole state in one bbolt file on
// local disk, for single-node deployments.
//
// The daemon (dirsync serve) and a one-shot dirsync sync may use the same file from
// two processes at once, and bbolt holds an exclusive lock on the file for as long as
// a database is open. So a Backend never keeps the file open: every operation opens
// it, runs one transaction and closes it again, and a second process waits for the
// lock (up to lockWait, or the context's deadline) instead of failing. Reads open the
// file read-only, under a shared lock, so readers do not wait for each other.
//
// Layout of the file:
//
//	meta/version                  schema version
//	meta (bucket sequence)        global run counter, orders runs across connectors
//	connectors/<name>/snapshot    anchor → JSON of state.Entry
//	connectors/<name>/meta        cursor, lock (JSON of state.Lease), token counter
//	connectors/<name>/runs        8-byte run sequence → JSON of state.Run
//	connectors/<name>/holds       hold ID → JSON of holdRecord
//	connectors/<name>/retries     anchor → JSON of state.Retry (the retry set)
//	connectors/<name>/ledger      8-byte time + run, kind, domain → JSON of
//	                              state.Destructive (the brakes' window)
//	reports                       run ID → JSON of reportRecord (a run's full report)
//	reportexp                     8-byte expiry (Unix ns) + run ID → nothing: the
//	                              expiry index each SaveReport prunes a little of
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

const (
	// lockWait bounds how long an operation waits for another process to let go of
	// the file; operations are single short transactions, so this is generous.
	lockWait = 30 * time.Second
	// defaultKeepRuns is how many runs of each connector's history are kept.
	defaultKeepRuns = 500
	// schemaVersion changes when the layout does, so an old build refuses a file it
	// would misread instead of corrupting it.
	schemaVersion = "1"
)

var (
	bucketMeta       = []byte("meta")
	bucketConnectors = []byte("connectors")
	keyVersion       = []byte("version")

	// Sub-buckets and keys of a connector's bucket.
	bucketSnapshot = []byte("snapshot")
	bucketConnMeta = []byte("meta")
	bucketRuns     = []byte("runs")
	bucketHolds    = []byte("holds")
	keyCursor      = []byte("cursor")
	keyLock        = []byte("lock")
	keyToken       = []byte("token")
)

// errClosed is returned by every operation after Close.
var errClosed = errors.New("local state backend is closed")

// errReadOnly is returned by every write to a Backend from OpenReadOnly.
var errReadOnly = errors.New("local state: opened read-only (dry run)")

// fileLocks maps a state file's absolute path to the *sync.RWMutex shared by every
// Backend on that file in this process. bbolt's file lock alone would also serialise
// them, but it polls every 50 ms; the mutex hands over at once.
var fileLocks sync.Map

var _ state.Backend = (*Backend)(nil)

// Backend is the state stored in one local bbolt file. It is safe for concurrent use,
// and several Backends, in this process or others, may share a file.
type Backend struct {
	path string
	log  *zap.Logger
	mu   *sync.RWMutex
	// keepRuns and now are fields so the package's tests can shrink the history
	// bound and move the clock.
	keepRuns int
	now      func() time.Time
	closed   atomic.Bool
	readOnly bool // OpenReadOnly: write transactions are refused
}

// Open returns a Backend on the file at path, creating the file (mode 0600) and its
// directory if missing. It opens the file once to check it is a state file this
// build can read.
func Open(path string, log *zap.Logger) (*Backend, error) {
	if path == "" {
		return nil, errors.New("local state: empty file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("local state path %q: %w", path, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("local state directory: %w", err)
	}
	mu, _ := fileLocks.LoadOrStore(abs, new(sync.RWMutex))
	b := &Backend{
		path:     abs,
		log:      log.Named("state.local").With(zap.String("path", abs)),
		mu:       mu.(*sync.RWMutex),
		keepRuns: defaultKeepRuns,
		now:      time.Now,
	}
	if err := b.update(context.Background(), initSchema); err != nil {
		return nil, err
	}
	// The file holds cursors and held operations; a wider mode is worth a warning
	// but not a refusal, since the admin may have chosen it.
	if fi, err := os.Stat(abs); err == nil && fi.Mode().Perm()&0o077 != 0 {
		b.log.Warn("state file is accessible to other users", zap.Stringer("mode", fi.Mode().Perm()))
	}
	return b, nil
}

// OpenReadOnly opens an existing state file for reading only (dry runs): nothing,
// not even the schema marker, is written. Any write method fails.
func OpenReadOnly(path string, log *zap.Logger) (*Backend, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("local state path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("local state: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	mu, _ := fileLocks.LoadOrStore(abs, new(sync.RWMutex))
	b := &Backend{path: abs, log: log.Named("state.local").With(zap.String("path", abs)),
		mu: mu.(*sync.RWMutex), keepRuns: defaultKeepRuns, now: time.Now, readOnly: true}
	err = b.view(context.Background(), func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || string(meta.Get(keyVersion)) != schemaVersion {
			return fmt.Errorf("state file %s is not a dirsync state file of schema %q", abs, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Close marks the Backend closed. The file is not held open between operations, so
// there is nothing to release; Close may be called more than once.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}

func initSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketConnectors); err != nil {
		return err
	}
	switch v := meta.Get(keyVersion); {
	case v == nil:
		return meta.Put(keyVersion, []byte(schemaVersion))
	case string(v) != schemaVersion:
		return fmt.Errorf("state file has schema version %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

// view runs fn in a read-only transaction on a read-only open of the file.
func (b *Backend) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	return b.withDB(ctx, false, fn)
}

// update runs fn in a read-write transaction; an error from fn rolls it back.
func (b *Backend) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return b.withDB(ctx, true, fn)
}

func (b *Backend) withDB(ctx context.Context, write bool, fn func(*bolt.Tx) error) (err error) {
	if b.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if write && b.readOnly {
		return errReadOnly
	}
	if write {
		b.mu.Lock()
		defer b.mu.Unlock()
	} else {
		b.mu.RLock()
		defer b.mu.RUnlock()
	}
	// The wait for the mutex may have outlived the caller.
	if err := ctx.Err(); err != nil {
		return err
	}
	wait, byCtx := lockWait, false
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < wait {
			wait, byCtx = d, true
		}
	}
	// bbolt reads a zero timeout as "wait forever".
	if wait <= 0 {
		return context.DeadlineExceeded
	}
	db, err := bolt.Open(b.path, 0o600, &bolt.Options{Timeout: wait, ReadOnly: !write})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			if byCtx {
				err = context.DeadlineExceeded
			}
			return fmt.Errorf("state file %s is locked by another process: %w", b.path, err)
		}
		return fmt.Errorf("open state file %s: %w", b.path, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close state file %s: %w", b.path, cerr)
		}
	}()
	if write {
		return db.Update(fn)
	}
	return db.View(fn)
}

// connBucket returns the connector's bucket, or nil if nothing was ever stored for it.
func connBucket(tx *bolt.Tx, connector string) *bolt.Bucket {
	root := tx.Bucket(bucketConnectors)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(connector))
}

// subBucket returns the named sub-bucket of b, or nil; b may be nil.
func subBucket(b *bolt.Bucket, name []byte) *bolt.Bucket {
	if b == nil {
		return nil
	}
	return b.Bucket(name)
}

// createSubBucket returns the connector's named sub-bucket, creating it (and the
// connector's bucket) if missing.
func createSubBucket(tx *bolt.Tx, connector string, name []byte) (*bolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(bucketConnectors)
	if err != nil {
		return nil, err
	}
	cb, err := root.CreateBucketIfNotExists([]byte(connector))
	if err != nil {
		return nil, fmt.Errorf("connector %q bucket: %w", connector, err)
	}
	return cb.CreateBucketIfNotExists(name)
}

// eachConnector calls fn with every connector's name and bucket.
func eachConnector(tx *bolt.Tx, fn func(name string, cb *bolt.Bucket) error) error {
	root := tx.Bucket(bucketConnectors)
	if root == nil {
		return nil
	}
	return root.ForEachBucket(func(k []byte) error {
		return fn(string(k), root.Bucket(k))
	})
}

func checkConnector(connector string) error {
	if connector == "" {
		return errors.New("empty connector name")
	}
	return nil
}

// clone copies a value out of the memory map, which is unmapped when the file is
// closed at the end of the operation.
func clone(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}
