package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// stateBackend is what the configuration knows of one state backend: the
// check of the settings it uses, and whether it can carry the outbound sender
// stream (a Redis stream lives next to the state).
type stateBackend struct {
	check   func(State) []Problem
	streams bool
}

// stateBackends: its keys are the names state.backend accepts. The daemon
// opens the same names from its own registry (daemon/backends.go), and a test
// there checks the two agree.
var stateBackends = map[string]stateBackend{
	"local": {check: func(s State) []Problem {
		var probs []Problem
		if s.Path == "" {
			probs = append(probs, Problem{Path: "state.path", Message: "missing: the local state file, e.g. data/state.db"})
		}
		if s.Redis.IsSet() {
			probs = append(probs, Problem{Path: "state.redis", Message: "only the redis backend uses it: remove it or set state.backend: redis"})
		}
		return probs
	}},
	"redis": {check: func(s State) []Problem { return s.Redis.validate("state.redis") }, streams: true},
}

// storeBackends is the same for store.backend.
var storeBackends = map[string]func(Store) []Problem{
	"sqlite": func(s Store) []Problem {
		var probs []Problem
		if s.Path == "" {
			probs = append(probs, Problem{Path: "store.path", Message: "missing: the SQLite database file, e.g. data/dirsync.db"})
		}
		if s.DSN.IsSet() {
			probs = append(probs, Problem{Path: "store.dsn", Message: "only the postgres backend uses a connection string: remove it or set store.backend: postgres"})
		}
		return probs
	},
	"postgres": func(s Store) []Problem {
		if s.DSN.IsSet() {
			return nil
		}
		return []Problem{{Path: "store.dsn", Message: "missing: a reference to the PostgreSQL connection string, ${ENV_VAR} or file:PATH " +
			"(e.g. ${DIRSYNC_STORE_DSN} holding postgres://dirsync:PASSWORD@db.example.com/dirsync)"}}
	},
}

// StateBackends names the state backends a configuration may choose, the
// default first.
func StateBackends() []string { return backendNames(stateBackends, Defaults().State.Backend) }

// StoreBackends names the store backends a configuration may choose, the
// default first.
func StoreBackends() []string { return backendNames(storeBackends, Defaults().Store.Backend) }

func backendNames[V any](m map[string]V, def string) []string {
	names := slices.Sorted(maps.Keys(m))
	i := slices.Index(names, def)
	return append([]string{def}, slices.Delete(names, i, i+1)...)
}

// validateBackends checks state.backend and store.backend and the settings of
// the backends they name.
func (c *Config) validateBackends() []Problem {
	var probs []Problem
	if b, ok := stateBackends[c.State.Backend]; ok {
		probs = append(probs, b.check(c.State)...)
	} else {
		probs = append(probs, Problem{Path: "state.backend", Message: fmt.Sprintf("%q is not a state backend: use %s",
			c.State.Backend, strings.Join(StateBackends(), " or "))})
	}
	if check, ok := storeBackends[c.Store.Backend]; ok {
		probs = append(probs, check(c.Store)...)
	} else {
		probs = append(probs, Problem{Path: "store.backend", Message: fmt.Sprintf("%q is not a store backend: use %s",
			c.Store.Backend, strings.Join(StoreBackends(), " or "))})
	}
	return probs
}
