package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Sync triggers and run reports, answered by the daemon's Syncer.

// syncerOr503 is the Syncer, or the answer for a process that has none.
func (s *Service) syncerOr503() (Syncer, error) {
	if s.syncer == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process runs no syncs: ask the dirsync daemon (dirsync serve)"}
	}
	return s.syncer, nil
}

// ConnectorNames lists the enabled connectors (none without a sync side).
func (s *Service) ConnectorNames() []string {
	if s.syncer == nil {
		return nil
	}
	return s.syncer.Connectors()
}

// Trigger starts one run per named connector (all when none are named), or
// queues them behind runs in progress; with in.Wait it returns when they
// have finished, reports included. An unknown connector is 404.
func (s *Service) Trigger(ctx context.Context, in TriggerSync) ([]TriggeredRun, error) {
	sy, err := s.syncerOr503()
	if err != nil {
		return nil, err
	}
	for _, c := range in.Connectors {
		if !slices.Contains(sy.Connectors(), c) {
			return nil, &apiError{Status: http.StatusNotFound, Code: CodeUnknownConnector,
				Message: fmt.Sprintf("no connector %q: the configured connectors are %s", c, strings.Join(sy.Connectors(), ", "))}
		}
	}
	runs, err := sy.Trigger(ctx, in)
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []TriggeredRun{}
	}
	return runs, nil
}

// triggerSync starts runs, or queues them behind runs in progress: 202 with
// their ids, or with wait 200 once they have finished, reports included.
func (s *server) triggerSync(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.syncerOr503(); err != nil {
		return err
	}
	var in TriggerSync
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	if in.Wait {
		liftWriteDeadline(w)
	}
	runs, err := s.Trigger(r.Context(), in)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if in.Wait {
		status = http.StatusOK
	}
	writeJSON(w, status, Triggered{Runs: runs})
	return nil
}

// liftWriteDeadline frees a request that waits for runs from the server's
// write timeout: a run takes as long as its directory needs, and the timeout is
// there for clients that are slow to read, not for answers slow to come. (The
// body is already read, so the read timeout no longer matters.) A client that
// hangs up still ends the wait: the request's context is cancelled.
func liftWriteDeadline(w http.ResponseWriter) {
	// ErrNotSupported (a test's recorder) leaves nothing to lift.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

// Runs lists runs newest first: of a connector ("" = all), in a state (""
// = every run; RunRunning or RunPending), at most limit.
func (s *Service) Runs(ctx context.Context, connector string, state RunStatus, limit int) ([]Run, error) {
	sy, err := s.syncerOr503()
	if err != nil {
		return nil, err
	}
	var runs []Run
	switch state {
	case "":
		runs, err = sy.Runs(ctx, connector, limit)
	case RunRunning, RunPending:
		runs, err = runsInState(ctx, sy, connector, state, limit)
	default:
		return nil, badRequest("state=%q: use %s or %s (none: every run)", state, RunRunning, RunPending)
	}
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []Run{}
	}
	return runs, nil
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.syncerOr503(); err != nil {
		return err
	}
	q, err := query(r, "connector", "limit", "state")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	runs, err := s.Runs(r.Context(), q.Get("connector"), RunStatus(q.Get("state")), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RunList{Runs: runs})
	return nil
}

// Run is one run, its report included (ErrRunNotFound: 404).
func (s *Service) Run(ctx context.Context, id string) (RunDetail, error) {
	sy, err := s.syncerOr503()
	if err != nil {
		return RunDetail{}, err
	}
	return sy.Run(ctx, id)
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.syncerOr503(); err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	run, err := s.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

// runsInState lists the runs in one state, through the Syncer's filter when it
// has one.
func runsInState(ctx context.Context, sy Syncer, connector string, state RunStatus, limit int) ([]Run, error) {
	if l, ok := sy.(RunStateLister); ok {
		return l.RunsByState(ctx, connector, state, limit)
	}
	// Runs not finished are the newest, so the largest page holds them.
	all, err := sy.Runs(ctx, connector, 1000)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, run := range all {
		if run.Status == state && len(out) < limit {
			out = append(out, run)
		}
	}
	return out, nil
}
