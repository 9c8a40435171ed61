package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
	"github.com/dirsync/dirsync/store/sqlite"
)

// size is how hard the test pushes.
type size struct {
	clients int
	window  time.Duration
	users   int
	groups  int
}

// sizes: "short" is what `make test` runs; "full" (DIRSYNC_LOAD=full, `make
// load`) is the issue's: 200 clients for 60 s while 10,000 users sync.
var sizes = map[string]size{
	"short": {clients: 50, window: 10 * time.Second, users: 2000, groups: 5},
	"full":  {clients: 200, window: 60 * time.Second, users: 10000, groups: 5},
}

// TestLoadWhileSyncing: a directory of thousands of users is synchronised by
// a `dirsync serve` with no other traffic (the baseline), then by another,
// with an empty store, while a crowd of API clients reads, writes, signs in
// and triggers syncs. It requires no 5xx (except a sign-in refused as busy),
// every refusal to carry a code and a message, every write the daemon said it
// applied to be in the store at the end and no other, every write refused on
// purpose to be refused, and the synchronised users to equal the baseline's
// (and the directory). It logs p50/p99 latency per route, the answers by
// status, both syncs' durations and the daemon's peak RSS.
func TestLoadWhileSyncing(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	name := os.Getenv("DIRSYNC_LOAD")
	if name == "" {
		name = "short"
	}
	sz, ok := sizes[name]
	require.True(t, ok, "DIRSYNC_LOAD=%q: use short or full", name)
	t.Logf("size %s: %d clients for %s, %d users and %d groups", name, sz.clients, sz.window, sz.users, sz.groups)

	began := time.Now()
	dir := newDirectory(t, sz.users, sz.groups)
	t.Logf("directory loaded in %s", time.Since(began).Round(time.Millisecond))

	// The baseline: the start-up full run with nothing else going on.
	base := newSite(t, dir, sqliteYAML)
	baseD := base.start(t, base.adminToken(t))
	baseRun := startupRun(t, baseD.idle(10*time.Minute))
	baseD.stop()
	baseline := synced(t, openSQLite(t, base))
	checkAgainstDirectory(t, dir, baseline)
	t.Logf("sync without load: %s", baseRun.Finished.Sub(baseRun.Started).Round(time.Millisecond))

	for _, tc := range []struct {
		name  string
		store func(t *testing.T, dir string) string // the store: YAML
		open  func(t *testing.T, s site) store.Store
	}{
		{"sqlite", sqliteYAML, openSQLite},
		{"postgres", func(t *testing.T, dir string) string {
			// A schema of the test's own; the DSN is a secret, so a file reference.
			dsn := testenv.PostgresSchemaDSN(t)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "dsn"), []byte(dsn), 0o600))
			return `{backend: postgres, dsn: "file:dsn"}`
		}, func(t *testing.T, s site) store.Store {
			raw, err := os.ReadFile(filepath.Join(s.dir, "dsn"))
			require.NoError(t, err)
			st, err := postgres.Open(t.Context(), string(raw), zap.NewNop())
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded(t, dir, sz, baseline, tc.store, tc.open)
		})
	}
}

// loaded runs the crowd against a daemon whose start-up run syncs the
// directory into an empty store, and checks everything against baseline.
func loaded(t *testing.T, dir *directory, sz size, baseline map[string]syncedUser,
	storeYAML func(*testing.T, string) string, open func(*testing.T, site) store.Store) {
	s := newSite(t, dir, storeYAML)
	d := s.start(t, s.adminToken(t))

	// The clients start as soon as /healthz answers: the daemon starts its
	// start-up run right after it begins serving, so the run is under load
	// from its first second.
	loadBegan := time.Now()
	window, stop := context.WithTimeout(t.Context(), sz.window)
	defer stop()
	reqCtx, cancel := context.WithTimeout(t.Context(), sz.window+2*time.Minute)
	defer cancel()
	type result struct {
		samples []sample
		users   map[string]want
	}
	done := make(chan result, 1)
	go func() {
		samples, users := crowd(window, reqCtx, d, dir, sz.clients)
		done <- result{samples, users}
	}()
	// Halfway through, a full run the test waits for: it too must end ok.
	var mid api.Run
	select {
	case <-time.After(sz.window / 2):
		mid = waitedFullRun(t, d)
	case <-t.Context().Done():
	}
	res := <-done
	loadEnded := time.Now()
	peak := vmHWM(t, d.cmd.Process.Pid)
	runs := d.idle(10 * time.Minute)
	d.stop()

	report(t, res.samples, loadEnded.Sub(loadBegan))
	first := startupRun(t, runs)
	t.Logf("start-up sync under load: %s (from %s to %s into the load window); full sync triggered mid-load: %s; %d runs in all; daemon peak RSS (VmHWM) %d MiB",
		first.Finished.Sub(first.Started).Round(time.Millisecond), first.Started.Sub(loadBegan).Round(time.Millisecond),
		first.Finished.Sub(loadBegan).Round(time.Millisecond), mid.Finished.Sub(mid.Started).Round(time.Millisecond), len(runs), peak>>20)
	require.True(t, first.Finished.After(loadBegan), "the start-up run ended before the load began: nothing was measured")
	for _, r := range runs {
		require.Equal(t, api.RunOK, r.Status, "run %s (full %v) under load: %s", r.RunID, r.Full, r.Error)
	}

	var problems []string
	for _, smp := range res.samples {
		if smp.problem != "" {
			problems = append(problems, smp.problem)
		}
	}
	require.Empty(t, problems[:min(len(problems), 20)], "%d answers broke the rules (first 20 shown)", len(problems))

	st := open(t, s)
	require.Empty(t, differences(baseline, synced(t, st)),
		"the users synchronised under load differ from the run without load (first 20: address, without load, under load)")
	require.Empty(t, differences(res.users, manual(t, st)),
		"the clients' users in the store differ from what the API told them (first 20: address, told, stored)")
}

// differences lists up to 20 addresses whose values differ between want and
// got (a missing one is shown as its zero value), with both values.
func differences[V any](want, got map[string]V) []string {
	addrs := map[string]bool{}
	for a := range want {
		addrs[a] = true
	}
	for a := range got {
		addrs[a] = true
	}
	var out []string
	for _, a := range slices.Sorted(maps.Keys(addrs)) {
		w, inW := want[a]
		g, inG := got[a]
		if inW != inG || !reflect.DeepEqual(w, g) {
			out = append(out, fmt.Sprintf("%s: %+v (present %v) / %+v (present %v)", a, w, inW, g, inG))
		}
		if len(out) == 20 {
			break
		}
	}
	return out
}

// startupRun is the first full run of the history (newest first), which must
// have created every directory object.
func startupRun(t *testing.T, runs []api.Run) api.Run {
	t.Helper()
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; r.Full && !r.DryRun {
			require.Equal(t, api.RunOK, r.Status, "start-up run: %s", r.Error)
			require.NotZero(t, r.Counts["create"], "start-up run created nothing: %v", r.Counts)
			return r
		}
	}
	t.Fatalf("no full run in %d runs", len(runs))
	return api.Run{}
}

// waitedFullRun triggers a full run and waits for its report.
func waitedFullRun(t *testing.T, d *daemon) api.Run {
	t.Helper()
	body := `{"connectors":["corp"],"full":true,"wait":true}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.base+"/v1/syncs", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out api.Triggered
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST /v1/syncs (full, wait)")
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Len(t, out.Runs, 1)
	var detail api.RunDetail
	d.get("/v1/runs/"+out.Runs[0].RunID, &detail)
	require.Equal(t, api.RunOK, detail.Status, "full run under load: %s", detail.Error)
	return detail.Run
}

// syncedUser is what the comparison looks at in a synchronised object.
type syncedUser struct {
	Kind, DisplayName, GivenName, Surname, Phone, Department, Title, Origin, Anchor string
	Enabled                                                                         bool
	Aliases, Members                                                                []string
}

// synced is the store's objects in the directory's domain, by address.
func synced(t *testing.T, st store.Store) map[string]syncedUser {
	t.Helper()
	out := map[string]syncedUser{}
	q := store.ListQuery{Domain: "example.com", Limit: 1000}
	for {
		us, next, err := st.Users(t.Context(), q)
		require.NoError(t, err)
		for _, u := range us {
			out[u.Address] = syncedUser{Kind: u.Kind, DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname,
				Phone: u.Phone, Department: u.Department, Title: u.Title, Origin: u.Origin, Anchor: u.Anchor, Enabled: u.Enabled, Aliases: u.Aliases, Members: u.Members}
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// manual is the store's users in loadDomain as the clients model them.
func manual(t *testing.T, st store.Store) map[string]want {
	t.Helper()
	out := map[string]want{}
	q := store.ListQuery{Domain: loadDomain, Limit: 1000}
	for {
		us, next, err := st.Users(t.Context(), q)
		require.NoError(t, err)
		for _, u := range us {
			out[u.Address] = want{DisplayName: u.DisplayName, Title: u.Title, Enabled: u.Enabled, Roles: u.Account.Roles}
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// sqliteYAML is the store section of a SQLite store in the site's folder.
func sqliteYAML(*testing.T, string) string { return "{backend: sqlite, path: store.db}" }

func openSQLite(t *testing.T, s site) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(s.dir, "store.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// checkAgainstDirectory holds the baseline to the fixture itself, so that two
// equally wrong syncs cannot pass as identical.
func checkAgainstDirectory(t *testing.T, dir *directory, got map[string]syncedUser) {
	t.Helper()
	require.Len(t, got, dir.users+dir.groups)
	for i := range dir.users {
		u, ok := got[dir.userMail(i)]
		require.True(t, ok, "user %d missing", i)
		require.Equal(t, i%10 != 0, u.Enabled, "user %d enabled", i)
		require.Equal(t, "corp", u.Origin)
		if i%3 == 0 {
			require.Equal(t, []string{dir.aliasMail(i)}, u.Aliases, "user %d aliases", i)
		} else {
			require.Empty(t, u.Aliases, "user %d aliases", i)
		}
	}
	for g := range dir.groups {
		grp, ok := got[dir.groupMail(g)]
		require.True(t, ok, "group %d missing", g)
		require.Len(t, grp.Members, (dir.users-1)/(g+1), "group %d members", g)
	}
}

// report logs the answers per route: count, statuses, p50, p99 and max.
func report(t *testing.T, samples []sample, took time.Duration) {
	t.Helper()
	byRoute := map[string][]sample{}
	statuses := map[int]int{}
	applied, refused := 0, map[string]int{}
	for _, s := range samples {
		byRoute[s.route] = append(byRoute[s.route], s)
		statuses[s.status]++
		switch {
		case !s.write:
		case s.status >= 200 && s.status < 300:
			applied++
		case s.code != "":
			refused[s.code]++
		}
	}
	routes := make([]string, 0, len(byRoute))
	for r := range byRoute {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %s (%.0f/s); by status %v (0 = no answer)\n", len(samples), took.Round(time.Millisecond),
		float64(len(samples))/took.Seconds(), statuses)
	fmt.Fprintf(&b, "writes: %d applied, refused with a reason: %v\n", applied, refused)
	fmt.Fprintf(&b, "%-42s %7s %9s %9s %9s  %s\n", "route", "count", "p50", "p99", "max", "statuses")
	for _, r := range routes {
		ss := byRoute[r]
		ds := make([]time.Duration, len(ss))
		st := map[int]int{}
		for i, s := range ss {
			ds[i] = s.took
			st[s.status]++
		}
		slices.Sort(ds)
		pct := func(p int) time.Duration { return ds[(len(ds)-1)*p/100] }
		fmt.Fprintf(&b, "%-42s %7d %9s %9s %9s  %v\n", r, len(ss), pct(50).Round(100*time.Microsecond),
			pct(99).Round(100*time.Microsecond), ds[len(ds)-1].Round(time.Millisecond), st)
	}
	t.Log("\n" + b.String())
}
