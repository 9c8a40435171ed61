package api

import (
	"context"
	"net/http"
	"time"
)

// The overview (GET /v1/overview): every connector's health at a glance, and
// this replica's role and backends, as the console's home shows them.

// Replica roles (ReplicaStatus.Role).
const (
	RoleLeader   = "leader"   // this replica runs the schedule
	RoleFollower = "follower" // another replica leads; this one forwards runs
	RoleSingle   = "single"   // no cluster: the state backend elects no leader
)

// Kinds of source errors (SourceError.Kind), as the metrics and alerts sort a
// run's error text.
const (
	ErrorKindTimeout     = "timeout"
	ErrorKindUnreachable = "unreachable"
	ErrorKindAuth        = "auth"
	ErrorKindPartial     = "partial"
	ErrorKindOther       = "other"
)

// Overview is GET /v1/overview.
type Overview struct {
	Generated  time.Time         `json:"generated"`
	Replica    ReplicaStatus     `json:"replica"`
	Connectors []ConnectorStatus `json:"connectors"`
}

// ReplicaStatus is this process: its role among the replicas sharing the
// state backend, and whether the state backend and the store answer.
type ReplicaStatus struct {
	Role  string `json:"role"`
	State Health `json:"state"`
	Store Health `json:"store"`
}

// Health is whether a backend answered. Error is fixed words (the backend's
// own error names hosts and users, and goes to the daemon's log instead).
type Health struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ConnectorStatus is one configured connector: its configuration, its runs,
// and whether it needs attention.
type ConnectorStatus struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Enabled bool   `json:"enabled"`
	// Schedule and FullSchedule are the effective cron specs (defaults
	// applied); NextRun and NextFullRun when they fire next (none for a
	// disabled connector, or on a follower, which leaves the schedule to the
	// leader).
	Schedule     string     `json:"schedule"`
	FullSchedule string     `json:"full_schedule,omitempty"`
	NextRun      *time.Time `json:"next_run,omitempty"`
	NextFullRun  *time.Time `json:"next_full_run,omitempty"`
	// Running: a run is in progress in this process; Pending: one is queued
	// behind it.
	Running bool `json:"running"`
	Pending bool `json:"pending"`
	// LastRun is the newest finished run (not a dry run); LastSuccess when the
	// newest run with status ok or held finished.
	LastRun     *Run       `json:"last_run,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// CursorAgeSeconds is how old the incremental cursor is: the state keeps no
	// time with it, so this is the age of the newest run that committed (ok,
	// held or partial). Absent when the connector has no cursor (a source
	// that is read in full every time, or none committed yet).
	CursorAgeSeconds *float64 `json:"cursor_age_seconds,omitempty"`
	// PendingHolds counts the held operations waiting for a decision.
	PendingHolds int `json:"pending_holds"`
	// LastError is the newest failed or partial run's first error.
	LastError *SourceError `json:"last_error,omitempty"`
	// Stale: no successful run within the expected interval (twice the
	// schedule's interval, or alerts.stale_after if that is shorter);
	// StaleReason says which and since when.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// SourceError is a run's error: its first line, what kind of failure it is
// (ErrorKind*), and the run it ended.
type SourceError struct {
	Message string    `json:"message"`
	Kind    string    `json:"kind"`
	RunID   string    `json:"run_id"`
	At      time.Time `json:"at"`
}

// Overviewer is a Syncer that gives the overview (the daemon's). The API
// adds the held operations' counts itself.
type Overviewer interface {
	Overview(ctx context.Context) (Overview, error)
}

// Overview is every connector's status and this replica's: 503 for a process
// without a sync side.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	sy, err := s.syncerOr503()
	if err != nil {
		return Overview{}, err
	}
	ov, ok := sy.(Overviewer)
	if !ok {
		return Overview{}, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process's sync side gives no overview: ask the dirsync daemon (dirsync serve)"}
	}
	o, err := ov.Overview(ctx)
	if err != nil {
		return Overview{}, err
	}
	if o.Generated.IsZero() {
		o.Generated = s.now().UTC()
	}
	if o.Connectors == nil {
		o.Connectors = []ConnectorStatus{}
	}
	if s.holds != nil {
		held, err := s.holds.Holds(ctx, "", string(HoldPending))
		if err != nil {
			return Overview{}, err
		}
		pending := map[string]int{}
		for _, h := range held {
			pending[h.Connector]++
		}
		for i := range o.Connectors {
			o.Connectors[i].PendingHolds = pending[o.Connectors[i].Name]
		}
	}
	return o, nil
}

func (s *server) getOverview(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	o, err := s.Overview(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}
