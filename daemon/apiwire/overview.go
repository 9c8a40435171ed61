package apiwire

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/alerts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/metrics"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// ConnectorInfo is what the configuration says of one connector.
type ConnectorInfo struct {
	Name, Type             string
	Enabled                bool
	Schedule, FullSchedule string // effective cron specs (defaults applied)
}

// Pinger is the store as the overview checks it: a cheap read.
type Pinger interface {
	Domains(ctx context.Context) ([]string, error)
}

// OverviewSource is what the overview reads; every func is called per
// request, so a configuration reload shows at once.
type OverviewSource struct {
	Runner *runner.Runner
	State  state.Backend
	Store  Pinger
	// Connectors lists the configured connectors, disabled ones too.
	Connectors func() []ConnectorInfo
	// Next says when a connector's schedules fire next (nil: unknown).
	Next func(connector string) (next, nextFull time.Time)
	// Leader is this replica's cluster node (nil: a single daemon).
	Leader interface{ IsLeader() bool }
	// StaleAfter is alerts.stale_after (0: off): a connector is stale past
	// it, as the alert says, even when its schedule allows longer.
	StaleAfter time.Duration
	// Since is when the daemon started: a connector that never succeeded is
	// stale once the expected interval has passed since then.
	Since time.Time
	Now   func() time.Time // time.Now when nil
	Log   *zap.Logger
}

// Overviews gives the admin API's overview from the daemon's parts.
type Overviews struct{ o OverviewSource }

// NewOverviews returns the overview of o's daemon.
func NewOverviews(o OverviewSource) *Overviews {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	o.Log = o.Log.Named("overview")
	return &Overviews{o: o}
}

var _ api.Overviewer = (*Overviews)(nil)

// SyncsWithOverview is the daemon's Syncer that also gives the overview.
type SyncsWithOverview struct {
	Syncs
	*Overviews
}

// WithOverview adds the overview to the Syncer s.
func WithOverview(s Syncs, o *Overviews) SyncsWithOverview {
	return SyncsWithOverview{Syncs: s, Overviews: o}
}

var (
	_ api.Syncer           = SyncsWithOverview{}
	_ api.QuarantineFinder = SyncsWithOverview{}
	_ api.Overviewer       = SyncsWithOverview{}
)

// healthTimeout bounds each backend's check, as /readyz does.
const healthTimeout = 3 * time.Second

// historyDepth is how far back the overview looks for a connector's last run
// and last error.
const historyDepth = 100

// Overview is every configured connector's status and this replica's.
func (v *Overviews) Overview(ctx context.Context) (api.Overview, error) {
	o := v.o
	now := o.Now()
	out := api.Overview{Generated: now.UTC(), Replica: api.ReplicaStatus{Role: api.RoleSingle}, Connectors: []api.ConnectorStatus{}}
	if o.Leader != nil {
		out.Replica.Role = api.RoleFollower
		if o.Leader.IsLeader() {
			out.Replica.Role = api.RoleLeader
		}
	}
	out.Replica.Store = v.check(ctx, "store", func(ctx context.Context) error { _, err := o.Store.Domains(ctx); return err })
	out.Replica.State = v.check(ctx, "state", func(ctx context.Context) error { _, err := o.State.Runs(ctx, "", 1); return err })

	busy := map[string]string{}
	for _, st := range []string{runner.StatusPending, runner.StatusRunning} {
		runs, err := o.Runner.RunsByState(ctx, "", st, 1000)
		if err != nil {
			return api.Overview{}, syncErr(err)
		}
		for _, r := range runs {
			if !r.DryRun {
				busy[r.Connector+"\x00"+st] = r.RunID
			}
		}
	}
	for _, c := range o.Connectors() {
		cs := api.ConnectorStatus{Name: c.Name, Type: c.Type, Enabled: c.Enabled, Schedule: c.Schedule, FullSchedule: c.FullSchedule,
			Running: busy[c.Name+"\x00"+runner.StatusRunning] != "", Pending: busy[c.Name+"\x00"+runner.StatusPending] != ""}
		if c.Enabled && o.Next != nil && out.Replica.Role != api.RoleFollower {
			next, full := o.Next(c.Name)
			cs.NextRun, cs.NextFullRun = timePtr(next), timePtr(full)
		}
		if out.Replica.State.OK {
			if err := v.history(ctx, &cs, now); err != nil {
				return api.Overview{}, err
			}
		}
		if c.Enabled {
			cs.Stale, cs.StaleReason = v.stale(c.Schedule, cs.LastSuccess, now)
		}
		out.Connectors = append(out.Connectors, cs)
	}
	return out, nil
}

// check runs one backend's check within healthTimeout; its error goes to
// the log, and the answer says only that it failed.
func (v *Overviews) check(ctx context.Context, what string, f func(context.Context) error) api.Health {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		v.o.Log.Warn("backend check failed", zap.String("backend", what), zap.Error(err))
		return api.Health{Error: fmt.Sprintf("the %s did not answer: the daemon's log says why", backendName[what])}
	}
	return api.Health{OK: true}
}

var backendName = map[string]string{"store": "store", "state": "state backend"}

// history fills the connector's last run, last success, last error and
// cursor age from the run history.
func (v *Overviews) history(ctx context.Context, cs *api.ConnectorStatus, now time.Time) error {
	hist, err := v.o.State.Runs(ctx, cs.Name, historyDepth)
	if err != nil {
		return fmt.Errorf("run history of %s: %w", cs.Name, err)
	}
	var committed time.Time
	for _, h := range hist { // newest first
		if h.DryRun || h.MergedInto != "" {
			continue
		}
		if cs.LastRun == nil {
			r := fromRun(runner.Run{RunID: h.ID, Connector: h.Connector, Status: h.Status, Full: h.Full,
				Started: h.Started, Finished: h.Finished, Counts: h.Counts, Error: h.Error})
			if r.Counts == nil {
				r.Counts = map[string]int{}
			}
			cs.LastRun = &r
		}
		if cs.LastError == nil && (h.Status == engine.StatusFailed || h.Status == engine.StatusPartial) && h.Error != "" {
			cs.LastError = &api.SourceError{Message: h.Error, Kind: errorKind(h.Error), RunID: h.ID, At: finished(h)}
		}
		if committed.IsZero() && (h.Status == engine.StatusOK || h.Status == engine.StatusHeld || h.Status == engine.StatusPartial) {
			committed = finished(h)
		}
	}
	// The success rule is the stale alert's, which also looks deeper.
	last, ok, err := alerts.HistoryLastSuccess(v.o.State)(ctx, cs.Name)
	if err != nil {
		return err
	}
	if ok {
		cs.LastSuccess = &last
	}
	if !committed.IsZero() {
		cur, err := v.o.State.Cursor(ctx, cs.Name)
		if err != nil {
			return fmt.Errorf("cursor of %s: %w", cs.Name, err)
		}
		if cur != nil {
			age := max(now.Sub(committed), 0).Seconds()
			cs.CursorAgeSeconds = &age
		}
	}
	return nil
}

// stale says whether a connector last successful at last (nil: never) is
// overdue: past twice its schedule's interval, or past alerts.stale_after
// when that is shorter. A connector that never succeeded counts from when
// the daemon started.
func (v *Overviews) stale(spec string, last *time.Time, now time.Time) (bool, string) {
	limit, rule := time.Duration(0), ""
	if every := interval(spec, now); every > 0 {
		limit, rule = 2*every, fmt.Sprintf("twice the schedule's interval of %s", alerts.Ago(every))
	}
	if v.o.StaleAfter > 0 && (limit == 0 || v.o.StaleAfter < limit) {
		limit, rule = v.o.StaleAfter, fmt.Sprintf("alerts.stale_after %s", alerts.Ago(v.o.StaleAfter))
	}
	if limit == 0 {
		return false, ""
	}
	if last == nil {
		if v.o.Since.IsZero() || now.Sub(v.o.Since) <= limit {
			return false, ""
		}
		return true, fmt.Sprintf("no successful run since the daemon started %s ago (expected within %s, %s)",
			alerts.Ago(now.Sub(v.o.Since)), alerts.Ago(limit), rule)
	}
	if age := now.Sub(*last); age > limit {
		return true, fmt.Sprintf("last successful run %s ago (expected within %s, %s)", alerts.Ago(age), alerts.Ago(limit), rule)
	}
	return false, ""
}

// interval is the time between a cron spec's firings after now (0 for a spec
// that does not parse); for an irregular spec, the gap after the next firing.
func interval(spec string, now time.Time) time.Duration {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return 0
	}
	a := s.Next(now)
	return s.Next(a).Sub(a)
}

// errorKind sorts a run's error as the metrics and the alerts do.
func errorKind(msg string) string {
	switch metrics.Classify(msg) {
	case metrics.KindTimeout:
		return api.ErrorKindTimeout
	case metrics.KindUnreachable:
		return api.ErrorKindUnreachable
	case metrics.KindAuth:
		return api.ErrorKindAuth
	case metrics.KindPartial:
		return api.ErrorKindPartial
	}
	return api.ErrorKindOther
}

func finished(h state.Run) time.Time {
	if h.Finished.IsZero() {
		return h.Started
	}
	return h.Finished
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
