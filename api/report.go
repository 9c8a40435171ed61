package api

import (
	"maps"
	"time"
)

// The run report: what one sync run of one connector did, as GET /v1/runs/{id}
// and POST /v1/syncs (wait) answer it and the CLI renders it. The daemon
// converts the engine's report into these types (daemon/apiwire.Report); the
// JSON field names are the engine's, so the wire bytes did not change when the
// report became an API type.

// RunStatus is the status of a run: how it ended, or that it has not yet.
type RunStatus string

// Run statuses: how a run ended (the CLI's exit code follows from them), and
// the two statuses of runs not finished, which GET /v1/runs?state= selects.
const (
	RunOK      RunStatus = "ok"
	RunDryRun  RunStatus = "dry-run"
	RunHeld    RunStatus = "held"
	RunPartial RunStatus = "partial"
	RunFailed  RunStatus = "failed"
	RunRunning RunStatus = "running"
	RunPending RunStatus = "pending" // queued behind the connector's run in progress
)

// Outcome is what became of one planned operation.
type Outcome string

// Operation outcomes.
const (
	OutcomePlanned   Outcome = "planned"   // a dry run: nothing applied
	OutcomeApplied   Outcome = "applied"   // the store made the change
	OutcomeUnchanged Outcome = "unchanged" // already in effect
	OutcomeFailed    Outcome = "failed"    // the store refused it (Error says why)
	OutcomeHeld      Outcome = "held"      // held for an admin's approval
)

// Stage is the step a running sync is at (a progress line).
type Stage string

// Stages of a sync run, in order.
const (
	StageRead   Stage = "read"
	StagePlan   Stage = "plan"
	StageApply  Stage = "apply"
	StageCommit Stage = "commit"
)

// HoldStatus is the status of a held operation.
type HoldStatus string

// Held operation statuses.
const (
	HoldPending  HoldStatus = "pending"
	HoldApplied  HoldStatus = "applied"
	HoldRejected HoldStatus = "rejected"
	HoldExpired  HoldStatus = "expired"
)

// RunReport is the full report of one run.
type RunReport struct {
	RunID     string    `json:"run_id"`
	Connector string    `json:"connector"`
	Status    RunStatus `json:"status"`
	Full      bool      `json:"full"`
	Counts    RunCounts `json:"counts"`
	// Operations lists the run's operations in the order they were applied
	// (planned, in a dry run). A big run lists only the first ones (1000),
	// and failed ones up to as many again: Outcomes counts every operation,
	// OperationsOmitted those not listed, and every applied change is in the
	// audit log under the run's id (GET /v1/audit?run=). Read the counts
	// with Tally, never from this list.
	Operations []Operation `json:"operations"`
	// OperationsOmitted is how many of the run's operations Operations does
	// not list.
	OperationsOmitted int `json:"operations_omitted,omitempty"`
	// Outcomes counts all the run's operations: outcome → action → n. It is
	// absent from reports stored before runs stopped listing every
	// operation, whose Operations are complete (see Tally).
	Outcomes map[string]map[string]int `json:"outcomes,omitempty"`
	// Held are the operations held for an admin (see GET /v1/holds).
	Held []Operation `json:"held,omitempty"`
	// Protected are disables and deletes of protected accounts, held for
	// approval (also listed in Held), with why the account is protected.
	Protected   []Operation       `json:"protected,omitempty"`
	HoldReason  string            `json:"hold_reason,omitempty"`
	Quarantined []QuarantineEntry `json:"quarantined"`
	Warnings    []QuarantineEntry `json:"warnings,omitempty"`
	Errors      []string          `json:"errors"`
	// Retries is the connector's retry set after the run: failed operations
	// that later runs plan again, or that were given up.
	Retries  []Retry   `json:"retries,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// OutcomeTally counts a run's operations: outcome → action → n.
type OutcomeTally map[Outcome]map[string]int

// Tally counts every operation of the run by outcome and action: Outcomes
// when the report has them, else (a report stored before they existed,
// which lists every operation) the count of Operations.
func (r *RunReport) Tally() OutcomeTally {
	return TallyOutcomes(r.Outcomes, r.Operations, func(op Operation) (Outcome, string) { return op.Outcome, op.Action })
}

// TallyOutcomes is the one place that knows a report's two forms, for any
// report's operations (the engine's as well as the API's): a copy of
// outcomes when it is not nil, else the count of ops by what key says of
// each, their outcome and action. The result is the caller's to keep.
func TallyOutcomes[Op any](outcomes map[string]map[string]int, ops []Op, key func(Op) (Outcome, string)) OutcomeTally {
	t := OutcomeTally{}
	if outcomes != nil {
		for o, byAction := range outcomes {
			t[Outcome(o)] = maps.Clone(byAction)
		}
		return t
	}
	for _, op := range ops {
		o, action := key(op)
		if t[o] == nil {
			t[o] = map[string]int{}
		}
		t[o][action]++
	}
	return t
}

// Count is the number of operations with outcome o, whatever their action.
func (t OutcomeTally) Count(o Outcome) int {
	n := 0
	for _, v := range t[o] {
		n += v
	}
	return n
}

// Total is the number of operations, whatever their outcome.
func (t OutcomeTally) Total() int {
	n := 0
	for o := range t {
		n += t.Count(o)
	}
	return n
}

// RunCounts tallies a run's plan.
type RunCounts struct {
	Create      int `json:"create"`
	Update      int `json:"update"`
	Disable     int `json:"disable"`
	Enable      int `json:"enable"`
	Delete      int `json:"delete"`
	Unchanged   int `json:"unchanged"`
	Joined      int `json:"joined,omitempty"`
	Quarantined int `json:"quarantined"`
	Held        int `json:"held"`
	// Protected counts disables and deletes of protected accounts, not applied.
	Protected int `json:"protected,omitempty"`
}

// Map is the counts keyed by name, as a run list's counts (Run.Counts): the
// rare ones (joined, protected) only when not zero.
func (c RunCounts) Map() map[string]int {
	m := map[string]int{"create": c.Create, "update": c.Update, "disable": c.Disable, "enable": c.Enable,
		"delete": c.Delete, "unchanged": c.Unchanged, "quarantined": c.Quarantined, "held": c.Held}
	if c.Joined > 0 {
		m["joined"] = c.Joined
	}
	if c.Protected > 0 {
		m["protected"] = c.Protected
	}
	return m
}

// Change is one planned operation on one object.
type Change struct {
	// Action: create, update, disable, enable or delete.
	Action  string `json:"action"`
	Kind    string `json:"kind"`
	Address string `json:"address"` // current primary address (the new one for a create)
	Origin  string `json:"origin,omitempty"`
	Anchor  string `json:"anchor,omitempty"`
	// Changes are the fields an update (or a create) sets.
	Changes []FieldChange `json:"changes,omitempty"`
	Reason  string        `json:"reason"`
}

// FieldChange is one field's old and new value.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after"`
}

// Operation is a planned change and what became of it.
type Operation struct {
	Change
	Outcome Outcome `json:"outcome"`
	Error   string  `json:"error,omitempty"`
}

// QuarantineEntry says why a record (or one of its values) was not
// synchronised, and how to fix it: a quarantined record, a warning, a refusal.
type QuarantineEntry struct {
	Record string `json:"record"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
}

// Retry is one entry of a connector's retry set.
type Retry struct {
	Anchor    string `json:"anchor"`
	Address   string `json:"address"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
	// NextAttempt is when a run tries it again (zero: the next run); GivenUp
	// says the attempts reached sync.retry_max_attempts and only a new version
	// of the object from the source, or a full run, plans it again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	GivenUp     bool      `json:"given_up,omitempty"`
}

// Progress is a snapshot of a running sync, for a terminal progress line.
type Progress struct {
	Connector string
	Stage     Stage
	Read      int
	Applied   int
	Total     int
}
