package apiwire

import (
	"context"
	"errors"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/runner"
)

// NewSyncs serves the admin API's sync routes (POST /v1/syncs, GET /v1/runs,
// GET /v1/runs/{id}) from the daemon's runner: api.Options{Syncer:
// apiwire.NewSyncs(runs)}.
func NewSyncs(r *runner.Runner) Syncs { return Syncs{r: r} }

// Syncs adapts a runner.Runner to api.Syncer (and api.QuarantineFinder).
type Syncs struct {
	r  *runner.Runner
	st state.Backend // the runner's state backend, for Quarantined (nil: none)
}

// WithState gives Quarantined the runner's state backend, whose cache names a
// user's source record as the source does (a DN): the name a run's quarantine
// entries use.
func (s Syncs) WithState(b state.Backend) Syncs { s.st = b; return s }

var _ api.Syncer = Syncs{}

// Connectors lists the connectors the runner can run.
func (s Syncs) Connectors() []string { return s.r.Connectors() }

// FieldOwner says whether the connector writes field.
func (s Syncs) FieldOwner(connector, field string) bool { return s.r.FieldOwner(connector, field) }

// Trigger starts or queues runs; with req.Wait it returns their reports.
func (s Syncs) Trigger(ctx context.Context, req api.TriggerSync) ([]api.TriggeredRun, error) {
	got, err := s.r.Trigger(ctx, runner.Trigger{Connectors: req.Connectors, DryRun: req.DryRun, Full: req.Full, Wait: req.Wait})
	var out []api.TriggeredRun
	for _, t := range got {
		tr := api.TriggeredRun{Connector: t.Connector, RunID: t.RunID, Queued: t.Queued, Forwarded: t.Forwarded,
			Report: Report(t.Report)}
		if t.Run != nil {
			run := fromRun(*t.Run)
			tr.Run = &run
		}
		out = append(out, tr)
	}
	return out, syncErr(err)
}

// Runs lists runs in progress, pending and from the history, newest first.
func (s Syncs) Runs(ctx context.Context, connector string, limit int) ([]api.Run, error) {
	runs, err := s.r.Runs(ctx, connector, limit)
	if err != nil {
		return nil, syncErr(err)
	}
	out := make([]api.Run, 0, len(runs))
	for _, r := range runs {
		out = append(out, fromRun(r))
	}
	return out, nil
}

// Run returns one run, with its report while it is kept.
func (s Syncs) Run(ctx context.Context, id string) (api.RunDetail, error) {
	d, err := s.r.Run(ctx, id)
	if err != nil {
		return api.RunDetail{}, syncErr(err)
	}
	return api.RunDetail{Run: fromRun(d.Run), Report: Report(d.Report)}, nil
}

func fromRun(r runner.Run) api.Run {
	return api.Run{RunID: r.RunID, Connector: r.Connector, Status: api.RunStatus(r.Status), Full: r.Full, DryRun: r.DryRun,
		Started: r.Started, Finished: r.Finished, Counts: r.Counts, Error: r.Error, RequestedBy: r.RequestedBy,
		Triggers: r.Triggers, Progress: progress(r.Progress)}
}

func progress(p *runner.Progress) *api.RunProgress {
	if p == nil {
		return nil
	}
	return &api.RunProgress{Stage: api.Stage(p.Stage), Read: p.Read, Applied: p.Applied, Total: p.Total, Updated: p.At}
}

// syncErr marks the runner's errors with the API's sentinels, keeping the
// message the caller is shown.
func syncErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{runner.ErrUnknownConnector, api.ErrUnknownConnector},
		{runner.ErrRunNotFound, api.ErrRunNotFound},
		{runner.ErrStopping, api.ErrStopping},
	} {
		if errors.Is(err, m.from) {
			return &marked{msg: api.RaisedAs(err, m.from), kind: m.to, err: err}
		}
	}
	return err
}

// marked is an error of another package marked as one of the API's: its
// message is the part the API shows (see api.RaisedAs), and it unwraps to
// both the API's sentinel and the original error.
type marked struct {
	msg       string
	kind, err error
}

func (m *marked) Error() string   { return m.msg }
func (m *marked) Unwrap() []error { return []error{m.kind, m.err} }
