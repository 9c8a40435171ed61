package apiwire

import (
	"maps"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/plan"
)

// Report converts the engine's run report into the API's (nil stays nil). The
// daemon's callers (dirsync sync, the runner's adapter, the explain adapter)
// use it so that no engine struct reaches the CLI or the wire; the JSON is
// byte for byte the engine's.
func Report(rep *engine.Report) *api.RunReport {
	if rep == nil {
		return nil
	}
	c := rep.Counts
	return &api.RunReport{RunID: rep.RunID, Connector: rep.Connector, Status: api.RunStatus(rep.Status), Full: rep.Full,
		Counts: api.RunCounts{Create: c.Create, Update: c.Update, Disable: c.Disable, Enable: c.Enable, Delete: c.Delete,
			Unchanged: c.Unchanged, Joined: c.Joined, Quarantined: c.Quarantined, Held: c.Held, Protected: c.Protected},
		Operations: operations(rep.Operations), OperationsOmitted: rep.OperationsOmitted, Outcomes: outcomes(rep.Outcomes),
		Held: operations(rep.Held), Protected: operations(rep.Protected),
		HoldReason: rep.HoldReason, Quarantined: quarantine(rep.Quarantined), Warnings: quarantine(rep.Warnings),
		Errors: rep.Errors, Retries: retries(rep.Retries), Started: rep.Started, Finished: rep.Finished}
}

// Tally counts every operation of an engine report by outcome and action, as
// api.RunReport.Tally does, without converting the whole report: Outcomes,
// or the count of Operations for a report stored before Outcomes existed.
func Tally(rep *engine.Report) api.OutcomeTally {
	if rep == nil {
		return api.OutcomeTally{}
	}
	return api.TallyOutcomes(rep.Outcomes, rep.Operations, func(op engine.Operation) (api.Outcome, string) {
		return api.Outcome(op.Outcome), string(op.Action)
	})
}

// Progress converts the engine's progress snapshot (dirsync sync's progress line).
func Progress(p engine.Progress) api.Progress {
	return api.Progress{Connector: p.Connector, Stage: api.Stage(p.Stage), Read: p.Read, Applied: p.Applied, Total: p.Total}
}

// operations keeps nil nil and empty empty, so that omitempty and the
// report's always-present lists encode as before.
func operations(ops []engine.Operation) []api.Operation {
	if ops == nil {
		return nil
	}
	out := make([]api.Operation, len(ops))
	for i, o := range ops {
		out[i] = api.Operation{Change: change(o.Change), Outcome: api.Outcome(o.Outcome), Error: o.Error}
	}
	return out
}

// outcomes copies the report's tally, so that the API's report shares no map
// with the engine's (nil stays nil: a report stored before it existed).
func outcomes(m map[string]map[string]int) map[string]map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]map[string]int, len(m))
	for o, byAction := range m {
		out[o] = maps.Clone(byAction)
	}
	return out
}

func change(c store.Change) api.Change {
	return api.Change{Action: string(c.Action), Kind: c.Kind, Address: c.Address, Origin: c.Origin, Anchor: c.Anchor,
		Changes: fieldChanges(c.Changes), Reason: c.Reason}
}

func fieldChanges(fc []store.FieldChange) []api.FieldChange {
	if fc == nil {
		return nil
	}
	out := make([]api.FieldChange, len(fc))
	for i, f := range fc {
		out[i] = api.FieldChange{Field: f.Field, Before: f.Before, After: f.After}
	}
	return out
}

func quarantine(qs []plan.Quarantine) []api.QuarantineEntry {
	if qs == nil {
		return nil
	}
	out := make([]api.QuarantineEntry, len(qs))
	for i, q := range qs {
		out[i] = api.QuarantineEntry{Record: q.Record, Field: q.Field, Reason: q.Reason, Fix: q.Fix}
	}
	return out
}

func retries(rs []engine.Retry) []api.Retry {
	if rs == nil {
		return nil
	}
	out := make([]api.Retry, len(rs))
	for i, r := range rs {
		out[i] = api.Retry{Anchor: r.Anchor, Address: r.Address, Attempts: r.Attempts, LastError: r.LastError,
			NextAttempt: r.NextAttempt, GivenUp: r.GivenUp}
	}
	return out
}
