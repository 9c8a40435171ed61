package ldap

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
)

// TestCutConnectionDisablesNobody runs the real engine: a good full sync, then a
// full run whose connection is cut mid-read. The run fails and every user stays
// enabled: a partial read must never look like people left the directory. The
// brakes are open, so only the failed read stands between the cut and the
// disables. At parallel 1 the one search is cut; at the default parallel 4
// one partition's connection is cut and the other searches complete, so the
// records read cover most of the directory and would pass for a full read.
func TestCutConnectionDisablesNobody(t *testing.T) {
	srv := openLDAPServer(t)
	base, _ := openLDAPFixture(t, srv, 1200)
	for _, tc := range []struct {
		name     string
		parallel int // 0: the default
		proxy    func(t *testing.T, target string) (addr string, cut *atomic.Bool)
	}{
		{"parallel 1, every connection cut after 60 kB", 1, func(t *testing.T, target string) (string, *atomic.Bool) {
			return cuttingProxy(t, target, 60_000), nil
		}},
		{"default parallel 4, one connection cut after 20 kB", 0, func(t *testing.T, target string) (string, *atomic.Bool) {
			return cutOnceProxy(t, target, 20_000)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
			st, sb := testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t)
			eng := engine.New(st, sb, []string{"example.com"}, log)
			pol := config.Policy{BatchSize: 500, MaxDestructive: 5000, MaxDestructivePercent: 100, MinSourcePercent: 0, MissingRuns: 1}
			ctx := context.Background()

			good := srv.config(t, "openldap", base, func(c *Config) { c.Incremental = ModeNone })
			rep := eng.Run(ctx, engine.Job{Name: "corp", Source: good.source(t), Policy: pol}, engine.Options{Full: true})
			require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
			require.Equal(t, 1202, rep.Counts.Create)

			proxy, cut := tc.proxy(t, strings.TrimPrefix(srv.url, "ldap://"))
			cfg := srv.config(t, "openldap", base, func(c *Config) {
				c.Incremental, c.URL, c.CAFile, c.Parallel, c.Timeout = ModeNone, "ldap://"+proxy, "", tc.parallel, 5*time.Second
				c.AllowPlaintextBind = true // the cutting proxy speaks plain TCP
			})
			if tc.parallel == 0 {
				require.Equal(t, 4, cfg.Parallel, "the default")
			}
			rep = eng.Run(ctx, engine.Job{Name: "corp", Source: cfg.source(t), Policy: pol}, engine.Options{Full: true})
			if cut != nil {
				require.True(t, cut.Load(), "the proxy cut a connection")
			}
			require.Equal(t, engine.StatusFailed, rep.Status)
			require.Contains(t, rep.Errors[0], "nobody disabled")
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
		})
	}
}

// cutOnceProxy forwards to target and closes the first connection that has
// sent the client more than after bytes; every other connection, before and
// after it, is forwarded whole. cut reports whether it happened.
func cutOnceProxy(t *testing.T, target string, after int64) (addr string, cut *atomic.Bool) {
	cut = &atomic.Bool{}
	once := func() bool { return cut.CompareAndSwap(false, true) }
	return testenv.TCPProxy(t, target, func() testenv.ProxyFault { return testenv.ProxyFault{After: after, Once: once} }), cut
}
