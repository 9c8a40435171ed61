package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// forwardPoll is how often a waiting forwarded trigger looks for its runs in
// the shared history.
const forwardPoll = 250 * time.Millisecond

// forward queues the runs for the leader. With req.Wait it returns once the
// shared run history has every one of them (the leader's report stays on the
// leader; the history's summary comes back instead).
func (r *Runner) forward(ctx context.Context, req api.TriggerSync, names []string) ([]api.TriggeredRun, error) {
	var out []api.TriggeredRun
	for _, n := range names {
		id := uuid.NewString()
		if err := r.leader.Forward(ctx, state.Trigger{Connector: n, RunID: id, Full: req.Full}); err != nil {
			return out, err
		}
		out = append(out, api.TriggeredRun{Connector: n, RunID: id, Forwarded: true})
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
					run := fromState(h)
					out[i].Run = &run
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
// leader. A run that cannot start (its connector busy, unknown to this
// replica's configuration) goes into the history as failed, so whoever waits
// for it hears why; one already in the history (a trigger delivered twice) is
// not run again.
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
	req := Request{Connector: t.Connector, Full: t.Full, RunID: t.RunID}
	_, _, err := r.Start(req)
	if errors.Is(err, api.ErrSyncBusy) {
		// Someone asked for this run: it waits for the one in progress (a
		// scheduled tick, say) instead of failing, without holding up the
		// reading of other triggers.
		log.Info("forwarded run waits for the run in progress")
		go func() {
			r.waitIdle(t.Connector)
			if _, _, err := r.Start(req); err != nil {
				r.notStarted(t, log, err)
			}
		}()
		return
	}
	if err != nil {
		r.notStarted(t, log, err)
	}
}

// waitIdle returns when no run of connector is in progress in this process
// (or the runner's context ends).
func (r *Runner) waitIdle(connector string) {
	r.mu.Lock()
	cur := r.running[connector]
	r.mu.Unlock()
	if cur == nil {
		return
	}
	select {
	case <-cur.done:
	case <-r.ctx.Done():
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
