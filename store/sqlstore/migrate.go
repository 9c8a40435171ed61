package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Migration is one versioned SQL file of a backend's schema history. Files are
// named NNNN_what.sql and are never edited once released: a change to the
// schema is a new file. They run inside a transaction, so they must not use
// statements that refuse one (CREATE INDEX CONCURRENTLY, VACUUM).
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads migrations/*.sql from fsys, ordered by version.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", base)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", base, version, other)
		}
		seen[version] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", base, err)
		}
		out = append(out, Migration{Version: version, Name: base, SQL: string(body)})
	}
	if len(out) == 0 {
		return nil, errors.New("migrations: none found")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// rolesVersion is the migration that creates the roles table (0002_accounts):
// store.DefaultRoles are seeded, from Go, in the transaction that applies it,
// so a store has them exactly once and the list lives in one place.
const rolesVersion = 2

// Migrate applies, in order, every migration of fsys not yet recorded in
// schema_migrations, all in one LockMigrate transaction: two processes starting
// together queue on the lock, and the second finds the work done; DDL is
// transactional in both backends, so a failure leaves the schema exactly as it
// was.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS) error {
	migrations, err := LoadMigrations(fsys)
	if err != nil {
		return err
	}
	tx, err := s.conn.Begin(ctx, LockMigrate)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, s.d.MigrationsTable); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	done := map[int]bool{}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	err = eachRow(rows, err, func(r Row) error {
		var v int
		err := r.Scan(&v)
		done[v] = true
		return err
	})
	if err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	var applied []Migration
	for _, m := range migrations {
		if done[m.Version] {
			continue
		}
		// No arguments: the file may hold several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if m.Version == rolesVersion {
			if err := s.seedRoles(ctx, tx); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`,
			m.Version, m.Name, s.d.Time(time.Now().UTC())); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		applied = append(applied, m)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate commit: %w", err)
	}
	for _, m := range applied {
		s.log.Info("migration applied", zap.Int("version", m.Version), zap.String("name", m.Name))
	}
	return nil
}

// CheckVersion refuses a schema older than fsys's newest migration: a
// read-only store cannot migrate, and this build's queries expect the new
// schema.
func (s *Store) CheckVersion(ctx context.Context, fsys fs.FS) error {
	migrations, err := LoadMigrations(fsys)
	if err != nil {
		return err
	}
	var have int
	if err := s.conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	if want := migrations[len(migrations)-1].Version; have < want {
		return fmt.Errorf("the store is at schema version %d and this build needs %d: run once without --dry-run to migrate it", have, want)
	}
	return nil
}
