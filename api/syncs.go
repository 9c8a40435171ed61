package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Sync triggers and run reports, answered by the daemon's Syncer.

// syncerOr503 is the Syncer, or the answer for a process that has none.
func (s *server) syncerOr503() (Syncer, error) {
	if s.syncer == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process runs no syncs: ask the dirsync daemon (dirsync serve)"}
	}
	return s.syncer, nil
}

// triggerSync starts runs, or queues them behind runs in progress: 202 with
// their ids, or with wait 200 once they have finished, reports included.
func (s *server) triggerSync(w http.ResponseWriter, r *http.Request) error {
	sy, err := s.syncerOr503()
	if err != nil {
		return err
	}
	var in TriggerSync
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	for _, c := range in.Connectors {
		if !slices.Contains(sy.Connectors(), c) {
			return &apiError{Status: http.StatusNotFound, Code: CodeUnknownConnector,
				Message: fmt.Sprintf("no connector %q: the configured connectors are %s", c, strings.Join(sy.Connectors(), ", "))}
		}
	}
	if in.Wait {
		liftWriteDeadline(w)
	}
	runs, err := sy.Trigger(r.Context(), in)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []TriggeredRun{}
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

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	sy, err := s.syncerOr503()
	if err != nil {
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
	var runs []Run
	switch st := RunStatus(q.Get("state")); st {
	case "":
		runs, err = sy.Runs(r.Context(), q.Get("connector"), limit)
	case RunRunning, RunPending:
		runs, err = runsInState(r, sy, q.Get("connector"), st, limit)
	default:
		return badRequest("state=%q: use %s or %s (none: every run)", st, RunRunning, RunPending)
	}
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []Run{}
	}
	writeJSON(w, http.StatusOK, RunList{Runs: runs})
	return nil
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	sy, err := s.syncerOr503()
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	run, err := sy.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

// runsInState lists the runs in one state, through the Syncer's filter when it
// has one.
func runsInState(r *http.Request, sy Syncer, connector string, state RunStatus, limit int) ([]Run, error) {
	if l, ok := sy.(RunStateLister); ok {
		return l.RunsByState(r.Context(), connector, state, limit)
	}
	// Runs not finished are the newest, so the largest page holds them.
	all, err := sy.Runs(r.Context(), connector, 1000)
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
