package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/fakegraph"
	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store/sqlite"
)

// aliasHolders returns which of the addresses hold alias in the store.
func aliasHolders(t *testing.T, dir, alias string, addrs ...string) []string {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data", "dirsync.db"), zap.NewNop())
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	var holders []string
	for _, a := range addrs {
		u, err := st.User(context.Background(), a)
		require.NoError(t, err, "%s was created", a)
		if slices.Contains(u.Aliases, alias) {
			holders = append(holders, a)
		}
	}
	return holders
}

// stateCursor reads a connector's incremental cursor from the local state file.
func stateCursor(t *testing.T, dir, connector string) string {
	t.Helper()
	sb, err := local.OpenReadOnly(filepath.Join(dir, "data", "state.db"), zap.NewNop())
	require.NoError(t, err)
	defer func() { _ = sb.Close() }()
	c, err := sb.Cursor(context.Background(), connector)
	require.NoError(t, err)
	return string(c)
}

// requireAliasWithheld checks a run that read both claimants of alias: status
// ok (exit 0), nothing quarantined, one warning on the alias for the user
// that did not get it.
func requireAliasWithheld(t *testing.T, rep jsonReport, res result, alias string) (loserWarning string) {
	t.Helper()
	require.Equal(t, 0, res.code, res.stderr)
	run := rep.Runs[0]
	require.Equal(t, "ok", run.Status, "%+v", run)
	require.Empty(t, run.Errors)
	require.Empty(t, run.Quarantined)
	var warned []string
	for _, w := range run.Warnings {
		if w.Field == "aliases" && strings.Contains(w.Reason, alias) {
			warned = append(warned, w.Record)
		}
	}
	require.Len(t, warned, 1, "one user is warned about the withheld alias: %+v", run.Warnings)
	return warned[0]
}

// TestADUsersSharingAnAlias: two Samba AD users whose proxyAddresses both hold
// one alias, in different case. The full run and an incremental run (both
// users changed) end ok; the same user keeps the alias in both; the other is
// synchronised without it and warned; the DirSync cookie moves.
func TestADUsersSharingAnAlias(t *testing.T) {
	fx := newADFixture(t)
	alias := "helpdesk-" + fx.tag + "@example.com"
	for _, p := range []struct{ name, proxy string }{
		{"sa1", "smtp:Helpdesk-" + fx.tag + "@example.com"},
		{"sa2", "smtp:" + alias},
	} {
		fx.add(fx.dn(p.name), map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "user"}, "sAMAccountName": {fx.tag + p.name},
			"userAccountControl": {"544"}, "mail": {p.name + "-" + fx.tag + "@example.com"}, "displayName": {"User " + p.name},
			"proxyAddresses": {"SMTP:" + p.name + "-" + fx.tag + "@example.com", p.proxy},
		})
	}
	a1, a2 := "sa1-"+fx.tag+"@example.com", "sa2-"+fx.tag+"@example.com"
	dir := t.TempDir()
	cfg := writeE2EConfig(t, dir, corpConnector(t, fx.ou))

	full, res := syncJSON(t, cfg, "--connector", "corp")
	loser := requireAliasWithheld(t, full, res, alias)
	require.True(t, full.Runs[0].Full)
	require.Equal(t, 2, full.Runs[0].Counts["create"], "both users are created")
	winner := aliasHolders(t, dir, alias, a1, a2)
	require.Len(t, winner, 1, "the alias is on one user only")
	cookie := stateCursor(t, dir, "corp")
	require.NotEmpty(t, cookie)

	fx.modify(fx.dn("sa1"), "displayName", "User sa1 changed")
	fx.modify(fx.dn("sa2"), "displayName", "User sa2 changed")
	inc, res := syncJSON(t, cfg, "--connector", "corp")
	require.Equal(t, loser, requireAliasWithheld(t, inc, res, alias), "the same user is without the alias")
	require.False(t, inc.Runs[0].Full, "the second run reads DirSync changes")
	require.Equal(t, 2, inc.Runs[0].Counts["update"], "both users' display names: %+v", inc.Runs[0])
	require.Equal(t, winner, aliasHolders(t, dir, alias, a1, a2), "the owner keeps the alias")
	require.NotEqual(t, cookie, stateCursor(t, dir, "corp"), "the cookie moved")
}

// TestEntraUsersSharingAnAlias: the same with two fake Graph users whose
// proxyAddresses share an smtp: alias, over a full and a delta run.
func TestEntraUsersSharingAnAlias(t *testing.T) {
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "e2e-secret"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	const alias = "support@example.com"
	users := []fakegraph.User{cloudUser(1), cloudUser(2), cloudUser(3)}
	users[0].ProxyAddresses = []string{"SMTP:c1@example.com", "smtp:Support@example.com"}
	users[1].ProxyAddresses = []string{"SMTP:c2@example.com", "smtp:support@example.com"}
	for _, u := range users {
		srv.PutUser(u)
	}
	dir, cfg := entraConfig(t, srv, "")

	full, res := syncJSON(t, cfg, "--connector", "cloud")
	loser := requireAliasWithheld(t, full, res, alias)
	require.True(t, full.Runs[0].Full)
	require.Equal(t, 3, full.Runs[0].Counts["create"])
	winner := aliasHolders(t, dir, alias, "c1@example.com", "c2@example.com")
	require.Len(t, winner, 1)
	link := stateCursor(t, dir, "cloud")
	require.NotEmpty(t, link)

	for i := range users[:2] {
		users[i].Department = fmt.Sprintf("Dept %d", i)
		srv.PutUser(users[i])
	}
	delta, res := syncJSON(t, cfg, "--connector", "cloud")
	require.Equal(t, loser, requireAliasWithheld(t, delta, res, alias))
	require.False(t, delta.Runs[0].Full, "the second run resumes from the delta link")
	require.Equal(t, []string{"update c1@example.com", "update c2@example.com"}, opList(delta))
	require.Equal(t, winner, aliasHolders(t, dir, alias, "c1@example.com", "c2@example.com"))
	require.NotEqual(t, link, stateCursor(t, dir, "cloud"), "the delta link moved")
}

// writeE2EConfig writes a config with a local state and SQLite store in dir
// and the given connector list items.
func writeE2EConfig(t *testing.T, dir string, connectorItems string) string {
	t.Helper()
	cfg := filepath.Join(dir, "dirsync.yaml")
	body := "state: {backend: local, path: data/state.db}\nstore: {backend: sqlite, path: data/dirsync.db}\ndomains: [example.com]\nconnectors:\n" + connectorItems
	require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
	return cfg
}

// TestADMailDisagreesWithExchangePrimaryEndToEnd: a Samba AD user whose mail
// and capital SMTP: proxy address differ is created under the SMTP: address,
// with mail as an alias and a warning naming both; the full and the following
// incremental run end ok, and the DirSync cookie moves.
func TestADMailDisagreesWithExchangePrimaryEndToEnd(t *testing.T) {
	fx := newADFixture(t)
	mail, smtp := "dora.old-"+fx.tag+"@example.com", "dora-"+fx.tag+"@example.com"
	fx.add(fx.dn("dora"), map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "user"}, "sAMAccountName": {fx.tag + "dora"},
		"userAccountControl": {"544"}, "mail": {mail}, "displayName": {"Dora"},
		"proxyAddresses": {"SMTP:" + smtp},
	})
	dir := t.TempDir()
	cfg := writeE2EConfig(t, dir, corpConnector(t, fx.ou))
	requireWarned := func(rep jsonReport, res result) {
		t.Helper()
		require.Equal(t, 0, res.code, res.stderr)
		run := rep.Runs[0]
		require.Equal(t, "ok", run.Status, "%+v", run)
		require.Empty(t, run.Quarantined)
		var warned bool
		for _, w := range run.Warnings {
			warned = warned || (w.Field == "mail" && strings.Contains(w.Reason, mail) && strings.Contains(w.Reason, "SMTP:"+smtp))
		}
		require.True(t, warned, "a warning names both values: %+v", run.Warnings)
	}

	full, res := syncJSON(t, cfg, "--connector", "corp")
	requireWarned(full, res)
	require.True(t, full.Runs[0].Full)
	require.Equal(t, []string{"create " + smtp}, opList(full))
	require.Equal(t, []string{smtp}, aliasHolders(t, dir, mail, smtp), "mail is an alias of the SMTP: primary")
	cookie := stateCursor(t, dir, "corp")
	require.NotEmpty(t, cookie)

	fx.modify(fx.dn("dora"), "displayName", "Dora changed")
	inc, res := syncJSON(t, cfg, "--connector", "corp")
	requireWarned(inc, res)
	require.False(t, inc.Runs[0].Full, "the second run reads DirSync changes")
	require.Equal(t, []string{"update " + smtp}, opList(inc))
	require.NotEqual(t, cookie, stateCursor(t, dir, "corp"), "the cookie moved")
}
