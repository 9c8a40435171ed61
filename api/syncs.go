package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
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

// RunQuery selects a page of runs for Service.Runs.
type RunQuery struct {
	Connector string    // "" = every connector
	Status    RunStatus // "" = every status
	// Cursor is a RunList.NextCursor: the page starts after the run it names.
	Cursor string
	Limit  int // 0 = 50
}

// RunStatuses are the statuses of runs, those of runs not finished first.
var RunStatuses = []RunStatus{RunRunning, RunPending, RunOK, RunDryRun, RunHeld, RunPartial, RunFailed}

// runsScan is how many runs a listing pages through: the newest, with the
// runs in progress and pending (the state backend keeps a few hundred per
// connector; older ones are gone).
const runsScan = 1000

// Runs lists a page of runs newest first (ties: by connector, then id): of a
// connector, with a status, after the cursor. The cursor names the last run
// of the previous page, so runs that start meanwhile do not shift the pages.
func (s *Service) Runs(ctx context.Context, q RunQuery) (RunList, error) {
	sy, err := s.syncerOr503()
	if err != nil {
		return RunList{}, err
	}
	if q.Status != "" && !slices.Contains(RunStatuses, q.Status) {
		return RunList{}, badRequest("status=%q: use one of %v (none: every run)", q.Status, RunStatuses)
	}
	after, err := decodeRunCursor(q.Cursor)
	if err != nil {
		return RunList{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	all, err := sy.Runs(ctx, q.Connector, runsScan)
	if err != nil {
		return RunList{}, err
	}
	slices.SortStableFunc(all, compareRuns)
	out := RunList{Runs: []Run{}}
	for _, run := range all {
		if q.Status != "" && run.Status != q.Status || after != nil && compareRuns(run, *after) <= 0 {
			continue
		}
		if len(out.Runs) == limit {
			out.NextCursor = encodeRunCursor(out.Runs[limit-1])
			break
		}
		out.Runs = append(out.Runs, run)
	}
	return out, nil
}

// compareRuns orders runs newest first, then by connector, then by id.
func compareRuns(a, b Run) int {
	return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.RunID, b.RunID))
}

// runCursor is what a runs cursor holds: the sort key of a page's last run.
type runCursor struct {
	Started   time.Time `json:"s"`
	Connector string    `json:"c"`
	RunID     string    `json:"r"`
}

func encodeRunCursor(r Run) string {
	b, _ := json.Marshal(runCursor{Started: r.Started, Connector: r.Connector, RunID: r.RunID}) // plain fields: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeRunCursor reads a cursor as a Run holding its sort key (nil for "").
func decodeRunCursor(c string) (*Run, error) {
	if c == "" {
		return nil, nil
	}
	bad := badRequest("cursor: not one this API gave (take next_cursor from a listing, or list again without it)")
	if len(c) > 1024 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, bad
	}
	var rc runCursor
	if err := json.Unmarshal(b, &rc); err != nil {
		return nil, bad
	}
	return &Run{Started: rc.Started, Connector: rc.Connector, RunID: rc.RunID}, nil
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.syncerOr503(); err != nil {
		return err
	}
	q, err := query(r, "connector", "limit", "state", "status", "cursor")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	// state= is the older name of status= for the two statuses of runs not finished.
	status, state := RunStatus(q.Get("status")), RunStatus(q.Get("state"))
	switch {
	case state != "" && state != RunRunning && state != RunPending:
		return badRequest("state=%q: use %s or %s, or status= for any status", state, RunRunning, RunPending)
	case state != "" && status != "" && state != status:
		return badRequest("state=%q and status=%q disagree: give status= only", state, status)
	case state != "":
		status = state
	}
	runs, err := s.Runs(r.Context(), RunQuery{Connector: q.Get("connector"), Status: status, Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runs)
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
