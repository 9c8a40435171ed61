package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// forwardPoll is how often a waiting forwarded trigger looks for its runs in
// the shared history.
const forwardPoll = 250 * time.Millisecond

// forward queues the runs for the leader. With req.Wait it returns once the
// shared run history has every one of them (the leader's report stays on the
// leader; the history's summary comes back instead). A trigger the leader
// merged into its pending run comes back with that run's id.
func (r *Runner) forward(ctx context.Context, req Trigger, names []string) ([]Triggered, error) {
	var out []Triggered
	for _, n := range names {
		id := uuid.NewString()
		if err := r.leader.Forward(ctx, state.Trigger{Connector: n, RunID: id, Full: req.Full}); err != nil {
			return out, err
		}
		out = append(out, Triggered{Connector: n, RunID: id, Forwarded: true})
	}
	if !req.Wait {
		return out, nil
	}
	t := time.NewTicker(forwardPoll)
	defer t.Stop()
	for i := range out {
		for out[i].Run == nil {
			hist, err := r.state.Runs(ctx, out[i].Connector, 50)
			if err != nil {
				return out, fmt.Errorf("waiting for run %s on the leader: %w", out[i].RunID, err)
			}
			for _, h := range hist {
				if h.ID == out[i].RunID {
					// Merged into a run the leader had pending: that run
					// served the request.
					run := fromState(h)
					if h.MergedInto != "" {
						run.RunID = h.MergedInto
						out[i].RunID = h.MergedInto
					}
					out[i].Run = &run
					break
				}
			}
			if out[i].Run != nil {
				break
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return out, fmt.Errorf("waiting for run %s on the leader: %w", out[i].RunID, ctx.Err())
			}
		}
	}
	return out, nil
}

// StartForwarded starts a run another replica forwarded to this one, the
// leader, or queues it like any trigger: merged into the connector's pending
// run when there is one (the history then gets an entry under the trigger's
// run id that points at the run that served it). A run that cannot start (its
// connector unknown to this replica's configuration, the leader stopping)
// goes into the history as failed, so whoever waits for it hears why; one
// already in the history or in progress (a trigger delivered twice) is not
// run again.
func (r *Runner) StartForwarded(t state.Trigger) {
	log := r.log.With(zap.String("connector", t.Connector), zap.String("run_id", t.RunID), zap.String("from", t.From))
	if hist, err := r.state.Runs(r.ctx, t.Connector, 50); err == nil {
		for _, h := range hist {
			if h.ID == t.RunID {
				log.Info("forwarded run already ran; not running it again")
				return
			}
		}
	}
	a, queued, err := r.start(Request{Connector: t.Connector, Full: t.Full, RunID: t.RunID, Source: SourceForwarded})
	if err != nil {
		r.notStarted(t, log, err)
		return
	}
	if queued {
		log.Info("forwarded run queued", zap.String("pending_run", a.id))
	}
}

// notStarted records a forwarded run that could not start.
func (r *Runner) notStarted(t state.Trigger, log *zap.Logger, err error) {
	log.Warn("forwarded run not started", zap.Error(err))
	now := time.Now().UTC()
	rec := state.Run{ID: t.RunID, Connector: t.Connector, Status: engine.StatusFailed, Full: t.Full,
		Started: now, Finished: now, Counts: map[string]int{}, Error: "not started on the leader: " + err.Error()}
	if err := r.state.AddRun(r.ctx, rec); err != nil {
		log.Warn("run history not recorded", zap.Error(err))
	}
}
