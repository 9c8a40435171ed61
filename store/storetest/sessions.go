package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// session reads the session with hash, failing the test when there is none.
func (e *env) session(hash string) store.Session {
	e.t.Helper()
	s, err := e.s.Session(e.ctx, hash)
	require.NoError(e.t, err)
	return s
}

// requireNoSession fails unless hash names no session, and the error does not
// quote the hash.
func (e *env) requireNoSession(hash string) {
	e.t.Helper()
	_, err := e.s.Session(e.ctx, hash)
	require.ErrorIs(e.t, err, store.ErrNotFound)
	require.NotContains(e.t, err.Error(), hash)
}

// newSession is an eight-hour session of addr created and last seen at start.
func newSession(id, addr string, start time.Time) store.Session {
	return store.Session{Hash: tokenHash(id), Address: addr, Created: start, LastSeen: start, Expires: start.Add(8 * time.Hour)}
}

func testSessions(t *testing.T, e *env) {
	audited := len(e.audit(store.AuditQuery{Limit: 10000}))

	// Created and read back as given.
	alice := newSession("alice-session", "alice@example.com", t0)
	require.NoError(t, e.s.CreateSession(e.ctx, alice))
	require.Equal(t, alice, e.session(alice.Hash))
	e.requireNoSession(tokenHash("unknown-session"))

	// A duplicate hash is refused and changes nothing; the error does not quote it.
	dup := newSession("alice-session", "mallory@example.com", t0.Add(time.Hour))
	err := e.s.CreateSession(e.ctx, dup)
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotContains(t, err.Error(), alice.Hash)
	require.Equal(t, alice, e.session(alice.Hash))

	// What a session needs.
	for name, bad := range map[string]store.Session{
		"no hash":    {Address: "bob@example.com", Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)},
		"no address": {Hash: tokenHash("b1"), Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)},
		"no expiry":  {Hash: tokenHash("b2"), Address: "bob@example.com", Created: t0, LastSeen: t0},
	} {
		require.ErrorIs(t, e.s.CreateSession(e.ctx, bad), store.ErrInvalid, name)
		if bad.Hash != "" {
			e.requireNoSession(bad.Hash)
		}
	}

	// Without Created, the store's clock; without LastSeen, Created.
	before := time.Now().Add(-time.Minute) // tolerate a little clock skew
	bob := store.Session{Hash: tokenHash("bob-session"), Address: "bob@example.com", Expires: t0.Add(time.Hour)}
	require.NoError(t, e.s.CreateSession(e.ctx, bob))
	got := e.session(bob.Hash)
	require.True(t, got.Created.After(before) && got.Created.Before(time.Now().Add(time.Minute)), "created %s", got.Created)
	require.Equal(t, got.Created, got.LastSeen)
	require.Equal(t, bob.Expires, got.Expires)

	// Touching moves LastSeen forward only, and only of that session.
	require.NoError(t, e.s.TouchSession(e.ctx, alice.Hash, t0.Add(time.Hour)))
	alice.LastSeen = t0.Add(time.Hour)
	require.Equal(t, alice, e.session(alice.Hash))
	require.NoError(t, e.s.TouchSession(e.ctx, alice.Hash, t0.Add(30*time.Minute)))
	require.Equal(t, alice, e.session(alice.Hash), "a late touch does not move LastSeen back")
	require.Equal(t, got, e.session(bob.Hash))
	require.NoError(t, e.s.TouchSession(e.ctx, tokenHash("unknown-session"), t0), "touching a gone session is no error")
	e.requireNoSession(tokenHash("unknown-session"))

	// Deleting (sign-out) removes that session only, and is no error twice.
	require.NoError(t, e.s.DeleteSession(e.ctx, alice.Hash))
	e.requireNoSession(alice.Hash)
	require.NoError(t, e.s.DeleteSession(e.ctx, alice.Hash))
	require.Equal(t, got, e.session(bob.Hash))

	// A deleted session's hash can be used again.
	require.NoError(t, e.s.CreateSession(e.ctx, alice))
	require.Equal(t, alice, e.session(alice.Hash))

	require.Len(t, e.audit(store.AuditQuery{Limit: 10000}), audited, "sessions are not audited")
}

func testPurgeSessions(t *testing.T, e *env) {
	idle := newSession("idle", "alice@example.com", t0)                       // last seen t0
	edge := newSession("edge", "alice@example.com", t0.Add(30*time.Minute))   // last seen exactly at the idle limit
	active := newSession("active", "bob@example.com", t0)                     // touched below
	expired := newSession("expired", "bob@example.com", t0.Add(-7*time.Hour)) // expires t0+1h
	later := newSession("later", "carol@example.com", t0.Add(90*time.Minute)) // expires t0+9h30
	for _, s := range []store.Session{idle, edge, active, expired, later} {
		require.NoError(t, e.s.CreateSession(e.ctx, s))
	}
	require.NoError(t, e.s.TouchSession(e.ctx, active.Hash, t0.Add(2*time.Hour)))
	require.NoError(t, e.s.TouchSession(e.ctx, expired.Hash, t0.Add(40*time.Minute)))
	active.LastSeen = t0.Add(2 * time.Hour)
	expired.LastSeen = t0.Add(40 * time.Minute)

	// Idle: last seen before the limit (not at it); nothing has expired at t0.
	n, err := e.s.PurgeSessions(e.ctx, edge.LastSeen, t0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.requireNoSession(idle.Hash)
	for _, s := range []store.Session{edge, active, expired, later} {
		require.Equal(t, s, e.session(s.Hash))
	}

	// Expired: Expires at or before now; nobody is idle since before t0-24h.
	n, err = e.s.PurgeSessions(e.ctx, t0.Add(-24*time.Hour), expired.Expires)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.requireNoSession(expired.Hash)
	for _, s := range []store.Session{edge, active, later} {
		require.Equal(t, s, e.session(s.Hash))
	}

	// Both at once, and nothing left to purge after.
	n, err = e.s.PurgeSessions(e.ctx, t0.Add(90*time.Minute), edge.Expires)
	require.NoError(t, err)
	require.Equal(t, 2, n, "edge idle and expired, active expired; later neither")
	for _, h := range []string{edge.Hash, active.Hash} {
		e.requireNoSession(h)
	}
	require.Equal(t, later, e.session(later.Hash))
	n, err = e.s.PurgeSessions(e.ctx, t0.Add(90*time.Minute), edge.Expires)
	require.NoError(t, err)
	require.Zero(t, n)
}

func testDomainCounts(t *testing.T, e *env) {
	counts := func() map[string]int {
		t.Helper()
		m, err := e.s.DomainCounts(e.ctx)
		require.NoError(t, err)
		return m
	}
	require.Equal(t, map[string]int{domainA: 0, domainB: 0}, counts())

	for _, d := range []string{"example.org", "sub.example.com"} {
		require.NoError(t, e.s.AddDomain(e.ctx, d, adminActor))
	}
	e.applyOK(
		create("alice@example.com", "A-1"),
		create("bob@example.net", "B-1", set(store.FieldAliases, []string{"bob@example.com", "bob@sub.example.com"})),
		create("carol@example.com", "C-1", set(store.FieldEnabled, false)),
		createGroup("team@example.com", "G-1", set(store.FieldMembers, []string{"alice@example.com", "bob@example.net"})),
		create("dave@sub.example.com", "D-1"),
		create("gone@example.net", "E-1"),
	)
	e.applyOK(action(store.ActionDelete, "gone@example.net"))
	// Users and groups, enabled or not, by primary address only (not
	// aliases), and a subdomain is a domain of its own.
	require.Equal(t, map[string]int{
		"example.com":     3,
		"example.net":     1,
		"example.org":     0,
		"sub.example.com": 1,
	}, counts())
}

func testConsolePermission(t *testing.T, e *env) {
	require.Contains(t, store.Permissions, store.PermissionConsole)
	require.Equal(t, "console", store.PermissionConsole)
	roles := e.roles()
	i := slices.IndexFunc(roles, func(r store.Role) bool { return r.Name == "Administrator" })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, slices.Sorted(slices.Values(store.Permissions)), roles[i].Permissions,
		"Administrator holds every permission, console included")
	for _, r := range roles {
		if r.Name != "Administrator" {
			require.NotContains(t, r.Permissions, store.PermissionConsole, r.Name)
		}
	}
	// A role an admin adds may hold it.
	require.NoError(t, e.s.AddRole(e.ctx, store.Role{Name: "Console Readers", Permissions: []string{"console", "users.read"}}, adminActor))
	roles = e.roles()
	i = slices.IndexFunc(roles, func(r store.Role) bool { return r.Name == "Console Readers" })
	require.Equal(t, []string{"console", "users.read"}, roles[i].Permissions)
}
