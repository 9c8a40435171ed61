// Package daemon is `dirsync serve`: Open builds every component from the
// configuration (backends, engine, runner, schedule, leader election,
// outbound senders, alerts, metrics, the admin HTTP server), Run starts them
// in order and stops them in reverse, and Reload applies a new configuration.
// It also holds the one-shot commands that open the same backends: SyncOnce
// (`dirsync sync`), Check (`dirsync config check`) and OpenStore.
package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/alerts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/cluster"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
	"github.com/dirsync/dirsync/sync/schedule"
)

// DrainTimeout is how long a stop waits for runs in flight before cancelling them.
const DrainTimeout = 30 * time.Second

// Options are what the daemon needs beyond the configuration.
type Options struct {
	// ConfigPath is the file SIGHUP reads again.
	ConfigPath string
	// Version is logged when the daemon serves.
	Version string
}

// Daemon is a running `dirsync serve`.
type Daemon struct {
	opts   Options
	log    *zap.Logger // "serve"
	core   *core
	runs   *runner.Runner
	sched  *schedule.Scheduler
	node   *cluster.Node // nil unless the state backend elects a leader
	notify *alerts.Notifier
	out    *senders
	http   *httpServer
	life   lifecycle

	// Runs get their own context: a stop ends new runs at once but lets the
	// current ones finish (up to DrainTimeout) instead of cutting a batch in half.
	runCtx     context.Context
	cancelRuns context.CancelFunc

	// purge removes expired console sessions (nil: no console).
	purge func(context.Context) (int, error)

	mu      sync.Mutex     // serialises reloads; guards core.cfg and core.jobs
	retired sync.WaitGroup // sources a reload retired, closed after their last run
	closed  sync.Once
}

// Open builds the daemon from a loaded configuration: it opens the backends
// and connectors, registers the internal domains, schedules every enabled
// connector and binds the listeners, so that any of it failing stops the start
// before anything runs. log is the root logger.
func Open(ctx context.Context, cfg *config.Config, log *zap.Logger, o Options) (*Daemon, error) {
	c, err := openCore(ctx, cfg, log, false)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: o, log: log.Named("serve"), core: c}
	d.runCtx, d.cancelRuns = context.WithCancel(context.WithoutCancel(ctx))
	if err := d.build(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) build() error {
	c, cfg := d.core, d.core.cfg
	// The runner starts every run, scheduled or triggered through the API, so
	// the two never overlap for one connector.
	d.runs = runner.New(d.runCtx, c.engine, c.state, c.jobs, c.log, runner.Options{ReportRetention: cfg.Reports.Retention})
	scheduled := d.runs.RunNow
	// Replicas sharing a state that can elect one leader (Redis) do: only it
	// runs the schedule, and the others forward the runs they are asked for.
	if coord, ok := c.state.(state.Coordinator); ok {
		d.node = cluster.New(coord, cluster.Options{Lease: cfg.State.Redis.LeaderLease,
			OnElected: d.startAll, Start: d.runs.StartForwarded}, c.log)
		d.runs.SetLeader(d.node)
		scheduled = func(ctx context.Context, connector string, full bool) {
			if !d.node.IsLeader() {
				d.log.Debug("scheduled run left to the leader", zap.String("connector", connector), zap.Bool("full", full))
				return
			}
			d.runs.RunNow(ctx, connector, full)
		}
	}
	d.sched = schedule.New(d.runCtx, scheduled, c.log)
	for _, cc := range cfg.Connectors {
		if cc.Disabled {
			continue
		}
		spec, full := cc.Schedules()
		if err := d.sched.Set(cc.Name, spec, full); err != nil {
			return err
		}
		d.log.Info("connector scheduled", zap.String("connector", cc.Name), zap.String("schedule", spec), zap.String("full_schedule", full))
	}
	var err error
	if d.notify, err = alerts.New(cfg.Alerts, c.log); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	if d.out, err = openSenders(cfg.Outbound, c.store, c.state, c.log); err != nil {
		return err
	}
	if d.http, err = listen(cfg.Server, d.log); err != nil {
		return err
	}
	d.http.version = d.opts.Version
	// Metrics hook in before anything runs, so the start-up run is counted.
	m := newMetrics(d.out, d.node)
	d.runs.OnFinish(func(f runner.Finished) {
		m.ObserveRun(runInfo(f))
		if !f.DryRun {
			d.notify.RunFinished(f.Report)
		}
	})
	mailer, err := openMailer(cfg, c.log)
	if err != nil {
		return err
	}
	// One service behind the API and the console: one sign-in limiter, one
	// argon2 bound, the same checks whichever way an administrator comes in.
	svc := api.NewService(api.Options{Store: c.store, Syncer: apiwire.WithOverview(apiwire.NewSyncs(d.runs).WithState(c.state), d.overviews()), Senders: d.out.svc,
		Mailer: mailer, PublicURL: cfg.Server.PublicURL,
		Holds: apiwire.NewHolds(c.engine, func(pending map[string]int) {
			for _, j := range d.jobs() {
				m.SetHeld(j.Name, pending[j.Name])
			}
		}), Explainer: apiwire.NewExplainer(c.engine, d.jobs), Log: c.log,
		Login: loginOptions(cfg.Server.Login), Checker: newConfigChecker(d.runningConfig, d.opts.ConfigPath, c.log)})
	var con http.Handler
	if !cfg.Server.Console.Disabled {
		cc, err := console.New(console.Options{Service: svc, Store: c.store, Log: c.log,
			Secure:      d.http.cert != nil || cfg.Server.TLSTerminatedByProxy,
			IdleTimeout: cfg.Server.Console.IdleTimeout, AbsoluteTimeout: cfg.Server.Console.AbsoluteTimeout})
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		con = cc
		d.purge = cc.PurgeSessions
	}
	d.http.srv = newHTTPServer(serveMux(c.store, c.state, d.node, c.log, m.Handler(), api.NewHandler(svc, m.APIRequest), con),
		cfg.Server.Timeouts, d.log)

	// The start order; each stops in reverse, so the leader lease is given up
	// first (another replica takes the schedule over at once), the senders
	// settle, the runs drain, and the API answers until the end.
	d.life.components = []component{
		{name: "http", start: d.http.start, stop: d.http.stop},
		// Invitation emails waiting for a retry are recorded as failed, for
		// an administrator to re-send, while the store is still open.
		{name: "invitation emails", start: func(context.Context) error { return nil },
			stop: func(ctx context.Context) error { svc.Close(ctx); return nil }},
		{name: "runs", start: d.startRuns, stop: d.drainRuns},
		{name: "outbound", start: d.out.start, stop: d.out.stop},
		background("leader", d.lead),
		background("console sessions", d.purgeSessions),
		background("stale alerts", func(ctx context.Context) {
			d.notify.Watch(ctx, d.watched, alerts.HistoryLastSuccess(c.state))
		}),
	}
	return nil
}

// overviews gives GET /v1/overview (and the console's overview) from the
// runner, the schedule, the backends and the current configuration.
func (d *Daemon) overviews() *apiwire.Overviews {
	c := d.core
	o := apiwire.OverviewSource{Runner: d.runs, State: c.state, Store: c.store, Next: d.sched.Next,
		StaleAfter: c.cfg.Alerts.StaleAfter, Since: time.Now(), Log: c.log,
		Connectors: func() []apiwire.ConnectorInfo {
			d.mu.Lock()
			defer d.mu.Unlock()
			var out []apiwire.ConnectorInfo
			for _, cc := range d.core.cfg.Connectors {
				spec, full := cc.Schedules()
				out = append(out, apiwire.ConnectorInfo{Name: cc.Name, Type: cc.Type, Enabled: !cc.Disabled,
					Schedule: spec, FullSchedule: full})
			}
			return out
		}}
	if d.node != nil { // a nil *cluster.Node in the interface would not be nil
		o.Leader = d.node
	}
	return apiwire.NewOverviews(o)
}

// jobs is the current list of connector jobs (a reload changes it).
func (d *Daemon) jobs() []engine.Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]engine.Job(nil), d.core.jobs...)
}

// startAll runs every connector once, as a full reconcile: at start, or on a
// replica once it is elected.
func (d *Daemon) startAll() {
	for _, j := range d.jobs() {
		d.sched.Trigger(j.Name, true)
	}
}

func (d *Daemon) startRuns(context.Context) error {
	d.sched.Start()
	return nil
}

// drainRuns stops the schedule and waits for the runs in flight, scheduled or
// triggered through the API; past ctx it cancels them.
func (d *Daemon) drainRuns(ctx context.Context) error {
	err := d.sched.Stop(ctx)
	if err == nil {
		err = d.runs.Wait(ctx)
	}
	if err != nil {
		d.log.Warn("cancelling runs in flight", zap.Error(err))
		d.cancelRuns()
		_ = d.sched.Stop(context.Background())
		_ = d.runs.Wait(context.Background())
	}
	return nil
}

// lead starts the runs at once, or, on a replica, campaigns for the leader
// lease (the runs start when it is elected) until ctx ends.
func (d *Daemon) lead(ctx context.Context) {
	if d.node == nil {
		d.startAll()
		return
	}
	d.log.Info("replica: campaigning for the leader lease", zap.String("node", d.node.ID()))
	d.node.Run(ctx)
}

// watched are the connectors the stale alerts watch: only the replica that
// runs the schedule watches them.
func (d *Daemon) watched() []string {
	if d.node != nil && !d.node.IsLeader() {
		return nil
	}
	var names []string
	for _, j := range d.jobs() {
		names = append(names, j.Name)
	}
	return names
}

// sessionPurgeInterval is how often expired console sessions are removed from
// the store (an expired session is refused at once; this only tidies up).
const sessionPurgeInterval = 10 * time.Minute

// purgeSessions removes expired console sessions now and then. Every replica
// does it: the delete is idempotent and cheap.
func (d *Daemon) purgeSessions(ctx context.Context) {
	if d.purge == nil {
		return
	}
	t := time.NewTicker(sessionPurgeInterval)
	defer t.Stop()
	for {
		if n, err := d.purge(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("purge console sessions", zap.Error(err))
		} else if n > 0 {
			d.log.Debug("console sessions purged", zap.Int("sessions", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// background is a component that runs f in a goroutine until it is stopped.
func background(name string, f func(ctx context.Context)) component {
	var cancel context.CancelFunc
	done := make(chan struct{})
	return component{name: name,
		start: func(ctx context.Context) error {
			ctx, cancel = context.WithCancel(ctx)
			go func() { defer close(done); f(ctx) }()
			return nil
		},
		stop: func(context.Context) error {
			cancel()
			<-done
			return nil
		}}
}

// Run starts the components in order and serves until ctx ends (SIGTERM) or
// the HTTP server stops on its own; SIGHUP reloads the configuration file and
// the TLS certificate. It then stops the components in reverse, drains the
// runs in flight (up to DrainTimeout) and closes the daemon.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	if err := d.life.start(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	sdNotify(d.log, d.serving(), sd.SdNotifyReady)
wait:
	for {
		select {
		case <-hup:
			d.hangup(ctx)
		case <-ctx.Done():
			d.log.Info("stopping: waiting for runs in flight", zap.Duration("timeout", DrainTimeout))
			sdNotify(d.log, "stopping: waiting for runs in flight", sd.SdNotifyStopping)
			break wait
		case err := <-d.http.failed:
			d.log.Error("http server stopped", zap.Error(err))
			sdNotify(d.log, "http server stopped", sd.SdNotifyStopping)
			break wait
		}
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	if err := d.life.stop(drainCtx); err != nil {
		d.log.Warn("stop", zap.Error(err))
	}
	d.retired.Wait()
	if err := d.notify.Close(drainCtx); err != nil {
		d.log.Warn("alerts not delivered", zap.Error(err))
	}
	d.log.Info("stopped")
	return nil
}

func (d *Daemon) serving() string {
	return fmt.Sprintf("serving on %s, %d connector(s)", d.http.ln.Addr(), len(d.jobs()))
}

// hangup is SIGHUP: the certificate is re-read whatever becomes of the
// configuration (a renewal must not wait for an unrelated typo to be fixed),
// then the configuration file.
func (d *Daemon) hangup(ctx context.Context) {
	sdNotify(d.log, "reloading the configuration", sd.SdNotifyReloading)
	if d.http.cert != nil {
		if err := d.http.cert.Reload(); err != nil {
			d.log.Error("TLS certificate reload rejected", zap.Error(err))
		}
	}
	next, err := config.Load(d.opts.ConfigPath, registry.Builtin())
	if err != nil {
		err = rejected(err)
	} else {
		err = d.Reload(ctx, next)
	}
	if err != nil {
		d.log.Error("configuration reload rejected", zap.Error(err))
		// READY again, with what is still served: the configuration before
		// this file, which an earlier reload may have changed since start-up.
		sdNotify(d.log, "configuration reload rejected (see the log); "+d.serving(), sd.SdNotifyReady)
		return
	}
	sdNotify(d.log, "configuration reloaded; "+d.serving(), sd.SdNotifyReady)
}

// Close releases what Open opened; Run calls it when it returns, and a
// second call does nothing.
func (d *Daemon) Close() {
	d.closed.Do(d.close)
}

func (d *Daemon) close() {
	d.cancelRuns()
	if d.out != nil {
		d.out.close()
	}
	if d.http != nil {
		_ = d.http.ln.Close() // closed already when the server ran
	}
	d.core.close()
}
