package plan_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/golden"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

const separator = "--- plan ---\n"

// goldenInput is a whole run in one file: policy, previous snapshot, what the store
// holds, and what the source returns. A snapshot fingerprint of "=" stands for "the
// fingerprint this input's record with that anchor has", i.e. unchanged since the
// last run.
type goldenInput struct {
	Full             bool                   `yaml:"full"`
	SoftMatch        *bool                  `yaml:"soft_match"`
	MissingRuns      int                    `yaml:"missing_runs"`
	Owned            []string               `yaml:"owned"`
	MaxDestructive   *int                   `yaml:"max_destructive"`
	MaxDestructivePc *float64               `yaml:"max_destructive_percent"`
	Floor            int                    `yaml:"max_destructive_floor"`
	MinSourcePercent *float64               `yaml:"min_source_percent"`
	BatchSize        int                    `yaml:"batch_size"`
	Domains          []string               `yaml:"domains"`
	Snapshot         map[string]state.Entry `yaml:"snapshot"`
	Users            []store.User           `yaml:"users"`
	Records          []connectors.Record    `yaml:"records"`
	// Then are later runs of the same connector, each starting from the store
	// and snapshot the run before left once its plan was applied.
	Then []laterRun `yaml:"then"`
	// Window is what earlier runs applied within the brakes' window.
	Window []struct {
		Kind   string `yaml:"kind"`
		Domain string `yaml:"domain"`
		Count  int    `yaml:"count"`
	} `yaml:"window"`
}

// laterRun is what the source returns in a later run of a multi-run golden file.
type laterRun struct {
	Full    bool                `yaml:"full"`
	Records []connectors.Record `yaml:"records"`
}

type goldenOutput struct {
	Healthy     bool                   `json:"healthy"`
	HealthNote  string                 `json:"health_note,omitempty"`
	Counts      plan.Counts            `json:"counts"`
	Ops         []plan.Op              `json:"ops"`
	Held        []plan.Op              `json:"held,omitempty"`
	HoldReason  string                 `json:"hold_reason,omitempty"`
	Quarantined []plan.Quarantine      `json:"quarantined,omitempty"`
	Warnings    []plan.Quarantine      `json:"warnings,omitempty"`
	Commit      map[string]state.Entry `json:"commit_if_applied"`
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// runGolden plans the file's run and, for a multi-run file, its later runs
// (applying each plan to the store and the snapshot in between).
func runGolden(t *testing.T, in goldenInput) any {
	t.Helper()
	const connector = "dir"
	conn := plan.Connector{Name: connector, SoftMatch: or(in.SoftMatch, true), MissingRuns: max(in.MissingRuns, 2), Owned: plan.NewOwned(in.Owned)}
	snap := state.Snapshot{}
	for a, e := range in.Snapshot {
		if e.Fingerprint == "=" {
			e.Fingerprint = fingerprintOf(t, conn, in, a)
		}
		snap[a] = e
	}
	out, p := runOnce(t, in, conn, snap, in.Users, in.Full, in.Records)
	sameWhenReleased(t, in, conn, snap, out)
	if len(in.Then) == 0 {
		return out
	}
	runs := []goldenOutput{out}
	users := slices.Clone(in.Users)
	for _, later := range in.Then {
		users = applyPlan(t, users, p)
		for a, e := range out.Commit {
			snap[a] = e
		}
		out, p = runOnce(t, in, conn, snap, users, later.Full, later.Records)
		runs = append(runs, out)
	}
	return map[string][]goldenOutput{"runs": runs}
}

// runOnce plans one run against the given snapshot and store objects.
func runOnce(t *testing.T, in goldenInput, conn plan.Connector, snap state.Snapshot, users []store.User, full bool, records []connectors.Record) (goldenOutput, plan.Plan) {
	t.Helper()
	out, p, _ := planRun(t, in, conn, snap, users, full, records, false)
	return out, p
}

// sameWhenReleased plans the run again releasing ops batch by batch, as the
// engine does, and checks that releasing changes when ops are applied, not
// what: the same ops (in another order), counts, warnings and commit. An
// alias given by a released op and then taken back is the one difference
// (an update of its own): sync/engine's TestAliasTakenBackAfterItsBatchWasApplied
// covers it.
func sameWhenReleased(t *testing.T, in goldenInput, conn plan.Connector, snap state.Snapshot, want goldenOutput) {
	t.Helper()
	got, _, released := planRun(t, in, conn, snap, in.Users, in.Full, in.Records, true)
	for _, op := range released {
		if op.Action == store.ActionUpdate && strings.Contains(op.Reason, "withheld") {
			return
		}
	}
	key := func(op plan.Op) string {
		b, err := json.Marshal(op)
		require.NoError(t, err)
		return string(b) + op.Anchor
	}
	sorted := func(ops []plan.Op) []string {
		out := make([]string, len(ops))
		for i, op := range ops {
			out[i] = key(op)
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, sorted(want.Ops), sorted(got.Ops), "released ops + the rest = the plan")
	require.Equal(t, want.Counts, got.Counts)
	require.Equal(t, want.Warnings, got.Warnings)
	require.Equal(t, want.Quarantined, got.Quarantined)
	require.Equal(t, want.Held, got.Held)
	require.Equal(t, want.Commit, got.Commit)
}

// planRun is runOnce; with release, ops are released after each flush, as
// the engine does, and the output's ops are the released ones followed by
// the rest.
func planRun(t *testing.T, in goldenInput, conn plan.Connector, snap state.Snapshot, users []store.User, full bool, records []connectors.Record, release bool) (goldenOutput, plan.Plan, []plan.Op) {
	t.Helper()
	internal := func(d string) bool { return slices.Contains(in.Domains, d) }
	lookup := func(anchors, addresses []string) ([]store.User, error) {
		var out []store.User
		for _, u := range users {
			hit := (u.Origin == conn.Name && slices.Contains(anchors, u.Anchor)) || slices.Contains(addresses, u.Address)
			for _, a := range u.Aliases {
				hit = hit || slices.Contains(addresses, a)
			}
			if hit {
				out = append(out, u)
			}
		}
		return out, nil
	}
	batch := max(in.BatchSize, 1)
	b := plan.NewBuilder(conn, snap, internal)
	var released []plan.Op
	let := func(least int) {
		if release {
			released = append(released, b.Release(least)...)
		}
	}
	for _, r := range records {
		b.Add(r)
		let(batch)
		require.NoError(t, b.Flush(lookup, batch, false))
		let(batch)
	}
	require.NoError(t, b.Flush(lookup, batch, true))
	let(1)
	b.EndUsers()
	require.NoError(t, b.Flush(lookup, batch, true))
	brakes := plan.Brakes{MaxDestructive: or(in.MaxDestructive, 500), MaxDestructivePercent: or(in.MaxDestructivePc, 10),
		PercentFloor: in.Floor, Window: map[plan.WindowKey]int{}, WindowName: "in the last 7 days"}
	for _, w := range in.Window {
		brakes.Window[plan.WindowKey{Kind: w.Kind, Domain: w.Domain}] += w.Count
	}
	healthy, note := b.Finish(full, or(in.MinSourcePercent, 50), brakes)

	commit := map[string]state.Entry{}
	for a, e := range b.Plan.Entries {
		commit[a] = e
	}
	ops := slices.Concat(released, b.Plan.Ops)
	for _, op := range ops {
		if op.Entry != nil {
			commit[op.Anchor] = *op.Entry
		}
	}
	return goldenOutput{Healthy: healthy, HealthNote: note, Counts: b.Plan.Counts(), Ops: nonNilOps(ops),
		Held: b.Plan.Held, HoldReason: b.Plan.HoldReason, Quarantined: b.Plan.Quarantined, Warnings: b.Plan.Warnings, Commit: commit}, b.Plan, released
}

func nonNilOps(ops []plan.Op) []plan.Op {
	if ops == nil {
		return []plan.Op{}
	}
	return ops
}

// fingerprintOf computes what the input's record with this anchor will hash to,
// resolving group members against the input's records the way the builder does.
func fingerprintOf(t *testing.T, conn plan.Connector, in goldenInput, anchor string) string {
	t.Helper()
	internal := func(d string) bool { return slices.Contains(in.Domains, d) }
	refs := map[string]string{}
	for _, r := range in.Records {
		if n, _, ok := plan.Normalize(r, internal); ok && r.Kind == connectors.KindUser {
			refs[n.Ref] = n.Address
		}
	}
	for _, r := range in.Records {
		if r.Anchor != anchor {
			continue
		}
		n, _, ok := plan.Normalize(r, internal)
		require.True(t, ok, "snapshot '=' names anchor %s whose record is quarantined", anchor)
		plan.ResolveMembers(&n, func(ref string) (string, bool) { a, ok := refs[ref]; return a, ok })
		return plan.Fingerprint(n, conn.Owned)
	}
	t.Fatalf("snapshot '=' names anchor %s, which no record has", anchor)
	return ""
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".golden"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			input, want, found := bytes.Cut(raw, []byte(separator))
			require.True(t, found, "%s has no %q separator", file, strings.TrimSpace(separator))
			var in goldenInput
			dec := yaml.NewDecoder(bytes.NewReader(input))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(&in))

			got, err := json.MarshalIndent(runGolden(t, in), "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			golden.Compare(t, file, want, got, append(append(input, separator...), got...))
		})
	}
}
