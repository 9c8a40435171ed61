package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/store"
)

// TestDefaultRolesSeeded: a new store holds store.DefaultRoles (permissions
// sorted, as Roles returns them).
func TestDefaultRolesSeeded(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	want := make([]store.Role, len(store.DefaultRoles))
	for i, r := range store.DefaultRoles {
		want[i] = store.Role{Name: r.Name, Permissions: slices.Sorted(slices.Values(r.Permissions)), Default: r.Default}
	}
	got, err := s.Roles(t.Context())
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestMigrateAccountsKeepsData opens a store made by 0001 alone: its objects
// get empty accounts and work with the account methods.
func TestMigrateAccountsKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dirsync.db")
	dsn, err := dataSourceName(path, false)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	initSQL, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	old := newStore(db, zaptest.NewLogger(t))
	require.NoError(t, old.Migrate(ctx, fstest.MapFS{"migrations/0001_init.sql": {Data: initSQL}}))
	require.NoError(t, old.AddDomain(ctx, "example.com", store.Actor{Kind: "admin", Name: "root"}))
	_, err = db.ExecContext(ctx, `INSERT INTO objects (kind, address, origin, anchor, created, updated)
		VALUES ('user', 'alice@example.com', 'c1', 'A-1', 1, 1)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO addresses (address, object_id, is_alias)
		SELECT address, id, 0 FROM objects`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	u, err := s.User(ctx, "alice@example.com")
	require.NoError(t, err)
	require.Equal(t, store.Account{}, u.Account)
	admin := store.Actor{Kind: "admin", Name: "root"}
	require.NoError(t, s.Register(ctx, "alice@example.com", store.Registration{PasswordHash: "$argon2id$x"}, admin))
	require.NoError(t, s.SetRoles(ctx, "alice@example.com", []string{"sales", "Accounts"}, admin))
	u, err = s.User(ctx, "alice@example.com")
	require.NoError(t, err)
	require.Equal(t, store.Account{Registered: true, HasPassword: true, Roles: []string{"Accounts", "Sales"}}, u.Account)
}

// TestLookupLoadsRoles: Lookup fills Account.Roles for every user of the batch
// (with one query per chunk, see loadRoles), including users without roles.
func TestLookupLoadsRoles(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "dirsync.db"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	admin := store.Actor{Kind: "admin", Name: "root"}
	require.NoError(t, s.AddDomain(ctx, "example.com", admin))
	var changes []store.Change
	for _, name := range []string{"a", "b", "c"} {
		changes = append(changes, store.Change{Action: store.ActionCreate, Address: name + "@example.com", Origin: "c1", Anchor: name})
	}
	out, err := s.Apply(ctx, store.ApplyRequest{Actor: admin, Changes: changes})
	require.NoError(t, err)
	for _, o := range out {
		require.NoError(t, o.Err)
	}
	require.NoError(t, s.SetRoles(ctx, "a@example.com", []string{"Sales", "Training"}, admin))
	require.NoError(t, s.SetRoles(ctx, "c@example.com", []string{"Administrator"}, admin))
	users, err := s.Lookup(ctx, "c1", []string{"a", "b"}, []string{"c@example.com"})
	require.NoError(t, err)
	roles := map[string][]string{}
	for _, u := range users {
		roles[u.Address] = u.Account.Roles
	}
	require.Equal(t, map[string][]string{
		"a@example.com": {"Sales", "Training"},
		"b@example.com": nil,
		"c@example.com": {"Administrator"},
	}, roles)
}

// TestRolesSeededOnce: a store that recorded 0002 before the default roles
// were seeded from Go (its SQL inserted them) opens without a second seeding:
// its roles stay exactly as they were.
func TestRolesSeededOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dirsync.db")
	dsn, err := dataSourceName(path, false)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	initSQL, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	require.NoError(t, newStore(db, zaptest.NewLogger(t)).Migrate(ctx, fstest.MapFS{"migrations/0001_init.sql": {Data: initSQL}}))
	accountsSQL, err := migrationFiles.ReadFile("migrations/0002_accounts.sql")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, string(accountsSQL)+`;
		INSERT INTO roles (name, permissions, is_default) VALUES ('Accounts', '["accounts","billing","users.read"]', 1);
		INSERT INTO schema_migrations (version, name, applied) VALUES (2, '0002_accounts.sql', 1)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := Open(path, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, versions(t, s))
	roles, err := s.Roles(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Role{{Name: "Accounts", Permissions: []string{"accounts", "billing", "users.read"}, Default: true}}, roles)
}
