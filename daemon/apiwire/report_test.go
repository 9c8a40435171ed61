package apiwire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/plan"
)

func engineReport() *engine.Report {
	at := time.Date(2025, 3, 1, 9, 5, 0, 0, time.UTC)
	op := engine.Operation{Change: store.Change{Action: store.ActionUpdate, Kind: "user", Address: "a<b>&c@example.com",
		Origin: "corp", Anchor: "a1", Changes: []store.FieldChange{{Field: "title", Before: "x", After: "y"},
			{Field: "aliases", After: []string{"a@example.com"}}, {Field: "enabled", Before: true, After: false}},
		Reason: "changed"}, Outcome: "failed", Error: "refused"}
	q := plan.Quarantine{Record: "uid=bob", Field: "mail", Reason: "bad", Fix: "fix it"}
	return &engine.Report{RunID: "r1", Connector: "corp", Status: engine.StatusPartial, Full: true,
		Counts:     plan.Counts{Create: 1, Update: 2, Disable: 3, Enable: 4, Delete: 5, Unchanged: 6, Joined: 7, Quarantined: 8, Held: 9, Protected: 10},
		Operations: []engine.Operation{op}, Held: []engine.Operation{op}, Protected: []engine.Operation{op}, HoldReason: "brakes",
		Quarantined: []plan.Quarantine{q}, Warnings: []plan.Quarantine{q}, Errors: []string{"e"},
		Retries: []engine.Retry{{Anchor: "a1", Address: "x@example.com", Attempts: 2, LastError: "l", NextAttempt: at, GivenUp: true},
			{Anchor: "a2", Address: "y@example.com", Attempts: 1, LastError: "l"}},
		Started: at, Finished: at.Add(time.Second)}
}

// TestReportWireBytes: the API's report encodes byte for byte as the
// engine's did, full or sparse (omitted fields, empty lists).
func TestReportWireBytes(t *testing.T) {
	sparse := &engine.Report{RunID: "r2", Connector: "c", Status: engine.StatusOK, Operations: []engine.Operation{},
		Quarantined: []plan.Quarantine{}, Errors: []string{}}
	for _, rep := range []*engine.Report{engineReport(), sparse, {}} {
		want, err := json.Marshal(rep)
		require.NoError(t, err)
		got, err := json.Marshal(apiwire.Report(rep))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	require.Nil(t, apiwire.Report(nil))
}

// TestExplanationWireBytes: likewise for the explanation of one object.
func TestExplanationWireBytes(t *testing.T) {
	rec := plan.Record{Kind: "user", Ref: "uid=ann", Anchor: "a1", Address: "ann@example.com", Aliases: []string{"a@example.com"},
		DisplayName: "Ann", GivenName: "Ann", Surname: "Lee", Phone: "1", Department: "R&D", Title: "Lead", Enabled: true,
		Members: []string{"m"}, JoinAnchor: "j", Deleted: true, MemberRefs: []string{"not on the wire"}, Fingerprint: "neither"}
	q := []plan.Quarantine{{Record: "r", Field: "f", Reason: "why", Fix: "how"}}
	full := &engine.Explanation{Connector: "corp", Key: "ann@example.com",
		Read:      engine.ExplainRead{Query: "ldapsearch", Attributes: map[string][]string{"mail": {"ann@example.com"}}},
		Scope:     engine.ExplainScope{InScope: true, Checks: []engine.ScopeCheck{{Rule: "base", Admitted: true, Detail: "d"}}},
		Normalise: engine.ExplainNormalise{OK: true, Record: &rec, Quarantined: q, Warnings: q},
		Join: engine.ExplainJoin{By: "anchor", Detail: "d", User: &engine.JoinedUser{Address: "ann@example.com", Kind: "user",
			Origin: "corp", Anchor: "a1", Enabled: true, Protected: "admin"},
			Cached: &state.Entry{Fingerprint: "f", Kind: "user", Address: "a", Ref: "r", Missing: 2, Gone: true}, Changed: true},
		Plan: engine.ExplainPlan{Summary: "s", Operations: []engine.PlannedOp{{Change: engineReport().Operations[0].Change, Note: "n"}},
			Refused: q},
		Apply: engineReport()}
	sparse := &engine.Explanation{Connector: "c", Key: "k", Scope: engine.ExplainScope{Checks: []engine.ScopeCheck{}},
		Plan: engine.ExplainPlan{Operations: []engine.PlannedOp{}}}
	for _, ex := range []*engine.Explanation{full, sparse} {
		want, err := json.Marshal(ex)
		require.NoError(t, err)
		got, err := json.Marshal(apiwire.Explanation(ex))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
}

// TestProgress: the progress line's stages keep their names.
func TestProgress(t *testing.T) {
	got := apiwire.Progress(engine.Progress{Connector: "c", Stage: "apply", Read: 1, Applied: 2, Total: 3})
	require.Equal(t, api.Progress{Connector: "c", Stage: api.StageApply, Read: 1, Applied: 2, Total: 3}, got)
}
