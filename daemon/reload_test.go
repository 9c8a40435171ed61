package daemon

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

// parse loads a configuration from YAML, as a reload reads it; relative
// paths resolve against one folder, as they do for one file read twice.
func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "/etc/dirsync", "dirsync.yaml", registry.Builtin())
	require.NoError(t, err)
	return cfg
}

const (
	hr    = "  - {name: hr, type: file, schedule: \"@every 1h\", config: {path: hr.ldif}}\n"
	sales = "  - {name: sales, type: file, config: {path: sales.ldif}}\n"
)

func TestPlanReload(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cur, next string
		want      reloadPlan
	}{{
		name: "nothing changed",
		cur:  "connectors:\n" + hr + sales,
		next: "connectors:\n" + hr + sales,
		want: reloadPlan{Unchanged: []string{"hr", "sales"}},
	}, {
		name: "a connector added",
		cur:  "connectors:\n" + hr,
		next: "connectors:\n" + hr + sales,
		want: reloadPlan{Added: []string{"sales"}, Unchanged: []string{"hr"}},
	}, {
		name: "a connector removed",
		cur:  "connectors:\n" + hr + sales,
		next: "connectors:\n" + hr,
		want: reloadPlan{Removed: []string{"sales"}, Unchanged: []string{"hr"}},
	}, {
		name: "a connector disabled is removed, enabled again is added",
		cur:  "connectors:\n" + hr + sales,
		next: "connectors:\n" + hr + "  - {name: sales, type: file, disabled: true, config: {path: sales.ldif}}\n",
		want: reloadPlan{Removed: []string{"sales"}, Unchanged: []string{"hr"}},
	}, {
		name: "new source settings: changed",
		cur:  "connectors:\n" + hr,
		next: "connectors:\n  - {name: hr, type: file, schedule: \"@every 1h\", config: {path: other.ldif}}\n",
		want: reloadPlan{Changed: []string{"hr"}},
	}, {
		name: "a connector's own policy: changed",
		cur:  "connectors:\n" + hr,
		next: "connectors:\n  - {name: hr, type: file, schedule: \"@every 1h\", sync: {max_destructive: 7}, config: {path: hr.ldif}}\n",
		want: reloadPlan{Changed: []string{"hr"}},
	}, {
		name: "the top-level policy changes every connector's effective one",
		cur:  "connectors:\n" + hr + sales,
		next: "sync: {missing_runs: 5}\nconnectors:\n" + hr + sales,
		want: reloadPlan{Changed: []string{"hr", "sales"}},
	}, {
		name: "only the schedule: rescheduled",
		cur:  "connectors:\n" + hr,
		next: "connectors:\n  - {name: hr, type: file, schedule: \"@every 2h\", config: {path: hr.ldif}}\n",
		want: reloadPlan{Rescheduled: []string{"hr"}},
	}, {
		name: "only the full schedule: rescheduled",
		cur:  "connectors:\n" + hr,
		next: "connectors:\n  - {name: hr, type: file, schedule: \"@every 1h\", full_schedule: \"0 3 * * *\", config: {path: hr.ldif}}\n",
		want: reloadPlan{Rescheduled: []string{"hr"}},
	}, {
		name: "the default schedule written out is no change",
		cur:  "connectors:\n" + sales,
		next: "connectors:\n  - {name: sales, type: file, schedule: \"" + config.DefaultSchedule + "\", full_schedule: \"" +
			config.DefaultFullSchedule + "\", config: {path: sales.ldif}}\n",
		want: reloadPlan{Unchanged: []string{"sales"}},
	}, {
		name: "new internal domains are registered, removed ones are not",
		cur:  "domains: [example.com, old.example]\nconnectors:\n" + hr,
		next: "domains: [example.com, new.example]\nconnectors:\n" + hr,
		want: reloadPlan{Unchanged: []string{"hr"}, Domains: []string{"new.example"}},
	}, {
		name: "protected accounts and holds apply to the next runs, no restart",
		cur:  "connectors:\n" + hr,
		next: "protected: {addresses: [boss@example.com]}\nholds: {max_age: 48h}\nconnectors:\n" + hr,
		want: reloadPlan{Unchanged: []string{"hr"}},
	}, {
		name: "sections that need new backends or listeners need a restart",
		cur:  "connectors:\n" + hr,
		next: "log: {level: debug}\nstore: {backend: sqlite, path: other.db}\nserver: {listen: \"127.0.0.1:9090\"}\n" +
			"reports: {retention: 48h}\nconnectors:\n" + hr,
		want: reloadPlan{Unchanged: []string{"hr"}, Restart: []string{"log", "store", "server", "reports"}},
	}, {
		name: "everything at once, each list sorted",
		cur:  "connectors:\n" + sales + hr + "  - {name: crm, type: file, config: {path: crm.ldif}}\n",
		next: "state: {backend: local, path: other-state.db}\nconnectors:\n" +
			"  - {name: zeta, type: file, config: {path: z.ldif}}\n" +
			"  - {name: alpha, type: file, config: {path: a.ldif}}\n" +
			"  - {name: hr, type: file, schedule: \"@every 3h\", config: {path: hr.ldif}}\n" +
			"  - {name: sales, type: file, config: {path: sales.csv}}\n",
		want: reloadPlan{Added: []string{"alpha", "zeta"}, Changed: []string{"sales"}, Rescheduled: []string{"hr"},
			Removed: []string{"crm"}, Restart: []string{"state"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, planReload(parse(t, tc.cur), parse(t, tc.next)))
		})
	}
}
