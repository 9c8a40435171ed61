package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
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

// triggerSync starts runs: 202 with their ids, or with wait 200 once they have
// finished, reports included.
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

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	sy, err := s.syncerOr503()
	if err != nil {
		return err
	}
	q, err := query(r, "connector", "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	runs, err := sy.Runs(r.Context(), q.Get("connector"), limit)
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
