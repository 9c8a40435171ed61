// Package redis is the shared state backend: the state in Redis (standalone,
// Sentinel or Cluster through go-redis's universal client), so that several
// dirsync replicas can share it.
//
// Key layout. Every key of one connector carries the hash tag {<prefix>:<connector>},
// so all of them live in one Cluster slot and one Lua script may touch them all:
//
//	{dirsync:<c>}:meta      hash: v (schema version), cursor (JSON envelope),
//	                        holder ("<token>\n<owner>" of the current lease)
//	{dirsync:<c>}:snap      hash: anchor → entry in a compact binary form (entry.go)
//	{dirsync:<c>}:lock      string "<token>\n<owner>" with a PX expiry: the run lock
//	{dirsync:<c>}:token     counter (INCR) handing out fencing tokens
//	{dirsync:<c>}:runs      list of JSON runs, newest first, LTRIM-bounded
//	{dirsync:<c>}:holds     hash: hold ID → JSON of the hold
//	{dirsync:<c>}:retries   hash: anchor → JSON of a state.Retry (the retry set)
//	{dirsync:<c>}:ledger    sorted set: JSON of a state.Destructive scored by its
//	                        time in Unix ms (the brakes' window)
//	{dirsync:<c>}:stage:<id>, :stagedel:<id>   a large commit's staged upserts and
//	                        deletes, merged by one script and removed (1 h TTL)
//	dirsync:connectors      set of connector names, to list runs and holds of all
//	dirsync:runseq          counter ordering runs across connectors
//	dirsync:report:<id>     string: JSON of a run's full report, expiring after
//	                        the report retention (PX); looked up by run ID alone
//
// The lock key expires by itself (PX), which is what lets another runner take an
// abandoned lock over; the holder field in meta does not expire, so a lease that
// expired but was not taken over is still current for Commit and Renew, as
// state.Backend requires.
package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

const (
	// schemaVersion is stored in each connector's meta; state written by another
	// version is discarded (with a warning) instead of being misread.
	schemaVersion = "1"
	// defaultKeepRuns is how many runs of each connector's history are kept.
	defaultKeepRuns = 500
	// defaultTimeout bounds dialling and each read and write when Options sets none.
	defaultTimeout = 5 * time.Second
)

// Options configures the connection. One address without MasterName is a
// standalone server, several are a Cluster, and MasterName selects Sentinel
// (Addrs are then the sentinels).
type Options struct {
	Addrs      []string
	MasterName string
	Username   string
	// Password is the secret value itself; it is never logged or put in an error.
	Password string
	DB       int
	// TLS, when non-nil, connects over TLS.
	TLS *TLSOptions
	// DialTimeout, ReadTimeout and WriteTimeout default to 5 s; a context deadline
	// shorter than them wins.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// Prefix starts every key (default "dirsync"); tests use a random one.
	Prefix string
	// KeepRuns is how many runs per connector are kept (default 500).
	KeepRuns int
}

// TLSOptions configures TLS to Redis.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs to trust instead of the system's.
	CAFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

var _ state.Backend = (*Backend)(nil)

// Backend is the state stored in Redis. It is safe for concurrent use, and by
// several processes sharing one Redis.
type Backend struct {
	rdb      goredis.UniversalClient
	log      *zap.Logger
	prefix   string
	addrs    string
	keepRuns int

	// corrupt remembers, per connector, anchors whose entries Snapshot could not
	// decode and discarded: the next Commit deletes them (unless it upserts them),
	// so a damaged entry warns once rather than on every run.
	mu      sync.Mutex
	corrupt map[string]map[string]bool

	closeOnce sync.Once
	closeErr  error
}

// Open connects to Redis and checks that it answers (PING) within ctx.
func Open(ctx context.Context, o Options, log *zap.Logger) (*Backend, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis state: no address configured (state.redis.addrs)")
	}
	uo := &goredis.UniversalOptions{
		Addrs:                 o.Addrs,
		MasterName:            o.MasterName,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           orDefault(o.DialTimeout),
		ReadTimeout:           orDefault(o.ReadTimeout),
		WriteTimeout:          orDefault(o.WriteTimeout),
		ContextTimeoutEnabled: true,
		ClientName:            "dirsync",
	}
	if o.TLS != nil {
		tc, err := tlsConfig(*o.TLS)
		if err != nil {
			return nil, err
		}
		uo.TLSConfig = tc
	}
	// go-redis logs (reconnects, dial failures) through one package-wide
	// logger: send them to ours, as JSON lines like the rest, at warn.
	goredis.SetLogger(redisLogger{log.Named("state.redis.client")})
	b := &Backend{
		rdb:      goredis.NewUniversalClient(uo),
		log:      log.Named("state.redis"),
		prefix:   o.Prefix,
		addrs:    strings.Join(o.Addrs, ","),
		keepRuns: o.KeepRuns,
		corrupt:  map[string]map[string]bool{},
	}
	if b.prefix == "" {
		b.prefix = "dirsync"
	}
	if b.keepRuns <= 0 {
		b.keepRuns = defaultKeepRuns
	}
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		_ = b.rdb.Close()
		return nil, b.wrap("connect", err)
	}
	b.log.Debug("connected", zap.Strings("addrs", o.Addrs), zap.String("master_name", o.MasterName),
		zap.Int("db", o.DB), zap.Bool("tls", o.TLS != nil), zap.String("prefix", b.prefix))
	return b, nil
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return defaultTimeout
	}
	return d
}

func tlsConfig(o TLSOptions) (*tls.Config, error) {
	tc := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis state: tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis state: tls ca_file %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// AddHook adds a go-redis hook that sees every command and pipeline the backend
// sends (metrics, and the benchmarks' round-trip counts).
func (b *Backend) AddHook(h goredis.Hook) { b.rdb.AddHook(h) }

// Client is the backend's connection, for other components that keep shared
// data in the same Redis (outbound senders' seen-set, rate limits and stream).
func (b *Backend) Client() goredis.UniversalClient { return b.rdb }

// Prefix is the prefix of every key (default "dirsync").
func (b *Backend) Prefix() string { return b.prefix }

// Close closes the client; closing again is a no-op.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.rdb.Close() })
	return b.closeErr
}

// wrap adds context to a Redis error, and says plainly when the server could not
// be reached, with the address to check. go-redis errors never hold the password.
func (b *Backend) wrap(what string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("%s: redis %s unreachable: %w; check state.redis.addrs", what, b.addrs, err)
	}
	return fmt.Errorf("%s: redis %s: %w", what, b.addrs, err)
}

func unreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.EOF) || errors.Is(err, goredis.ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}

// key names one of a connector's keys; the braces are the Cluster hash tag.
func (b *Backend) key(connector, name string) string {
	return "{" + b.prefix + ":" + connector + "}:" + name
}

func (b *Backend) connectorsKey() string { return b.prefix + ":connectors" }

// checkConnector refuses names that would break the key layout.
func checkConnector(c string) error {
	if c == "" {
		return errors.New("empty connector name")
	}
	if strings.ContainsAny(c, "{}") {
		return fmt.Errorf("connector name %q: braces are not allowed", c)
	}
	return nil
}

// redisLogger adapts zap to go-redis's logger.
type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
