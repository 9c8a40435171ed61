package ldap

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/state/local"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestCutConnectionDisablesNobody runs the real engine: a good full sync, then a
// full run whose connection is cut mid-read. The run fails and every user stays
// enabled: a partial read must never look like people left the directory.
func TestCutConnectionDisablesNobody(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 1200)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	dir := t.TempDir()
	sb, err := local.Open(filepath.Join(dir, "state.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { sb.Close() })
	st, err := sqlite.Open(filepath.Join(dir, "store.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	eng := engine.New(st, sb, []string{"example.com"}, log)
	pol := engine.Policy{BatchSize: 500, MaxDestructive: 5000, MaxDestructivePercent: 100, MinSourcePercent: 0, MissingRuns: 1}
	ctx := context.Background()
	require.NoError(t, st.AddDomain(ctx, "example.com", store.Actor{Kind: "system", Name: "test"}))

	good := srv.config(t, "openldap", base, func(c *Config) { c.Incremental = ModeNone })
	rep := eng.Run(ctx, engine.Job{Name: "corp", Source: good.source(t), Policy: pol}, engine.Options{Full: true})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Equal(t, 1202, rep.Counts.Create)

	proxy := cuttingProxy(t, strings.TrimPrefix(srv.url, "ldap://"), 60_000)
	cut := srv.config(t, "openldap", base, func(c *Config) {
		c.Incremental, c.URL, c.CAFile, c.Parallel, c.Timeout = ModeNone, "ldap://"+proxy, "", 1, 5*time.Second
		c.AllowPlaintextBind = true // the cutting proxy speaks plain TCP
	})
	rep = eng.Run(ctx, engine.Job{Name: "corp", Source: cut.source(t), Policy: pol}, engine.Options{Full: true})
	require.Equal(t, engine.StatusFailed, rep.Status)
	require.Zero(t, rep.Counts.Disable)
	users, _, err := st.Users(ctx, store.ListQuery{Limit: 5000})
	require.NoError(t, err)
	enabled := 0
	for _, u := range users {
		if u.Enabled {
			enabled++
		}
	}
	require.Equal(t, 1202, enabled, "everyone enabled before stays enabled")
}
