package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/state/local"
	redisstate "github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
)

// The backend registries: adding a state backend or a store is one entry
// here (and its settings' check in config/backends.go). Nothing else chooses
// a backend by its name.
var (
	stateBackends = map[string]stateBackend{
		"local": {open: openLocal, openReadOnly: openLocalReadOnly, check: checkLocal},
		// A dry run uses Redis as it is: it only reads state (the engine takes
		// no lock and commits nothing on a dry run).
		"redis": {open: openRedis, openReadOnly: openRedis, check: checkRedis},
	}
	storeBackends = map[string]storeBackend{
		"sqlite":   {open: openSQLite, openReadOnly: openSQLiteReadOnly, check: checkSQLite},
		"postgres": {open: openPostgres, openReadOnly: openPostgresReadOnly, check: checkPostgres},
	}
)

// stateBackend opens one kind of state backend from its configuration:
// read-write (serve, sync), read-only (a dry run: errNotCreated when there is
// nothing to read yet) or as a connectivity check (config check: it writes
// nothing and says what answered).
type stateBackend struct {
	open, openReadOnly func(ctx context.Context, c config.State, log *zap.Logger) (state.Backend, error)
	check              func(ctx context.Context, c config.State, log *zap.Logger) (string, error)
}

// storeBackend is the same for the user store.
type storeBackend struct {
	open, openReadOnly func(ctx context.Context, c config.Store, log *zap.Logger) (store.Store, error)
	check              func(ctx context.Context, c config.Store, log *zap.Logger) (string, error)
}

// errNotCreated: a dry run found no backend to read yet, and plans against an
// empty stand-in instead.
var errNotCreated = errors.New("not created yet")

func lookupState(name string) (stateBackend, error) {
	if b, ok := stateBackends[name]; ok {
		return b, nil
	}
	return stateBackend{}, fmt.Errorf("no state backend %q", name)
}

func lookupStore(name string) (storeBackend, error) {
	if b, ok := storeBackends[name]; ok {
		return b, nil
	}
	return storeBackend{}, fmt.Errorf("no store backend %q", name)
}

// OpenStore opens only the configured store, read-write: for commands that
// need nothing else (dirsync tokens).
func OpenStore(ctx context.Context, cfg *config.Config, log *zap.Logger) (store.Store, error) {
	b, err := lookupStore(cfg.Store.Backend)
	if err != nil {
		return nil, err
	}
	return b.open(ctx, cfg.Store, log)
}

func openLocal(_ context.Context, c config.State, log *zap.Logger) (state.Backend, error) {
	b, err := local.Open(c.Path, log)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", c.Path, err)
	}
	return b, nil
}

func openLocalReadOnly(_ context.Context, c config.State, log *zap.Logger) (state.Backend, error) {
	if !exists(c.Path) {
		return nil, errNotCreated
	}
	b, err := local.OpenReadOnly(c.Path, log)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", c.Path, err)
	}
	return b, nil
}

func checkLocal(ctx context.Context, c config.State, log *zap.Logger) (string, error) {
	b, err := openLocalReadOnly(ctx, c, log)
	if errors.Is(err, errNotCreated) {
		return creatable(c.Path, "state.path")
	}
	if err != nil {
		return "", err
	}
	defer closeProbe(b)
	return fmt.Sprintf("state file %s opened read-only", c.Path), nil
}

// openRedis connects to the redis state backend.
func openRedis(ctx context.Context, c config.State, log *zap.Logger) (state.Backend, error) {
	rc := c.Redis
	opts := redisstate.Options{
		Addrs: rc.Addrs, MasterName: rc.MasterName, Username: rc.Username, DB: rc.DB,
		DialTimeout: rc.Timeout, ReadTimeout: rc.Timeout, WriteTimeout: rc.Timeout,
	}
	if rc.Password.IsSet() {
		pw, err := rc.Password.Value()
		if err != nil {
			return nil, fmt.Errorf("open state: state.redis.password: %w", err)
		}
		opts.Password = pw
	}
	if rc.TLS != nil {
		opts.TLS = &redisstate.TLSOptions{CAFile: rc.TLS.CAFile, ServerName: rc.TLS.ServerName}
	}
	b, err := redisstate.Open(ctx, opts, log)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return b, nil
}

func checkRedis(ctx context.Context, c config.State, log *zap.Logger) (string, error) {
	b, err := openRedis(ctx, c, log)
	if err != nil {
		return "", err
	}
	defer closeProbe(b)
	return fmt.Sprintf("redis %s answered PING", strings.Join(c.Redis.Addrs, ",")), nil
}

func openSQLite(_ context.Context, c config.Store, log *zap.Logger) (store.Store, error) {
	// The local state backend used to make data/ for both files; with the
	// state in Redis, or before the first start (dirsync tokens), the store's
	// folder may not exist yet.
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", c.Path, err)
	}
	s, err := sqlite.Open(c.Path, log)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", c.Path, err)
	}
	return s, nil
}

func openSQLiteReadOnly(_ context.Context, c config.Store, log *zap.Logger) (store.Store, error) {
	if !exists(c.Path) {
		return nil, errNotCreated
	}
	s, err := sqlite.OpenReadOnly(c.Path, log)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", c.Path, err)
	}
	return s, nil
}

func checkSQLite(ctx context.Context, c config.Store, log *zap.Logger) (string, error) {
	s, err := openSQLiteReadOnly(ctx, c, log)
	if errors.Is(err, errNotCreated) {
		return creatable(c.Path, "store.path")
	}
	if err != nil {
		return "", err
	}
	defer closeProbe(s)
	return fmt.Sprintf("sqlite %s opened read-only", c.Path), nil
}

func openPostgres(ctx context.Context, c config.Store, log *zap.Logger) (store.Store, error) {
	dsn, err := c.DSN.Value()
	if err != nil {
		return nil, fmt.Errorf("open store: store.dsn: %w", err)
	}
	s, err := postgres.Open(ctx, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// openPostgresReadOnly: every connection starts with
// default_transaction_read_only on, so the server itself refuses a write, and
// no migration runs. A database dirsync has never migrated holds no store yet.
func openPostgresReadOnly(ctx context.Context, c config.Store, log *zap.Logger) (store.Store, error) {
	dsn, err := c.DSN.Value()
	if err != nil {
		return nil, fmt.Errorf("open store: store.dsn: %w", err)
	}
	s, err := postgres.OpenReadOnly(ctx, dsn, log)
	if errors.Is(err, postgres.ErrNoSchema) {
		log.Info("dry run: the PostgreSQL database holds no store yet; planning against an empty one")
		return nil, errNotCreated
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

func checkPostgres(ctx context.Context, c config.Store, log *zap.Logger) (string, error) {
	dsn, err := c.DSN.Value()
	if err != nil {
		return "", fmt.Errorf("store.dsn: %w", err)
	}
	where, err := postgres.Describe(dsn)
	if err != nil {
		return "", fmt.Errorf("store.dsn: %w", err)
	}
	s, err := postgres.OpenReadOnly(ctx, dsn, log)
	if errors.Is(err, postgres.ErrNoSchema) {
		return fmt.Sprintf("postgres %s answered; it holds no dirsync store yet: `dirsync serve` creates the tables on first start", where), nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres %s: %w (check the host, port, user and password in the connection string, pg_hba.conf, and sslmode)", where, err)
	}
	defer closeProbe(s)
	return fmt.Sprintf("postgres %s answered read-only; the store's schema is current", where), nil
}

// creatable says whether a file that does not exist yet can be created: its
// nearest existing folder must be writable by this user.
func creatable(path, key string) (string, error) {
	dir := filepath.Dir(path)
	for !exists(dir) && filepath.Dir(dir) != dir {
		dir = filepath.Dir(dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return "", fmt.Errorf("%s does not exist and %s is not writable by this user (%w): create the folder for the daemon's user, or set %s",
			path, dir, err, key)
	}
	return fmt.Sprintf("%s does not exist yet; it will be created (%s is writable)", path, dir), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
