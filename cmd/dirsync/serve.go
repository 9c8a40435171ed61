package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/alerts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/cluster"
	"github.com/dirsync/dirsync/sync/runner"
	"github.com/dirsync/dirsync/sync/schedule"
)

// Defaults for connectors that set no schedule.
const (
	defaultSchedule     = "@every 15m"
	defaultFullSchedule = "@every 24h"
	// drainTimeout is how long SIGTERM waits for runs in flight before cancelling them.
	drainTimeout = 30 * time.Second
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := openApp(sigCtx, *cfgPath, stderr, false, "")
	if err != nil {
		return err
	}
	defer a.close()
	log := a.log.Named("serve")

	// Runs get their own context: SIGTERM stops new runs at once but lets the
	// current ones finish (up to drainTimeout) instead of cutting a batch in half.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	// The runner starts every run, scheduled or triggered through the API, so
	// the two never overlap for one connector.
	runs := runner.New(runCtx, a.engine, a.state, a.jobs, a.log, runner.Options{ReportRetention: a.cfg.Reports.Retention})
	// Replicas sharing a Redis state elect one leader: only it runs the
	// schedule, and the others forward the runs they are asked for.
	var node *cluster.Node
	scheduled := runs.RunNow
	startAll := func() {}
	if coord, ok := a.state.(state.Coordinator); ok {
		node = cluster.New(coord, cluster.Options{Lease: a.cfg.State.Redis.LeaderLease,
			OnElected: func() { startAll() }, Start: runs.StartForwarded}, a.log)
		runs.SetLeader(node)
		scheduled = func(ctx context.Context, connector string, full bool) {
			if !node.IsLeader() {
				log.Debug("scheduled run left to the leader", zap.String("connector", connector), zap.Bool("full", full))
				return
			}
			runs.RunNow(ctx, connector, full)
		}
	}
	sched := schedule.New(runCtx, scheduled, a.log)
	for _, cc := range a.cfg.Connectors {
		if cc.Disabled {
			continue
		}
		spec, fullSpec := schedules(cc)
		if err := sched.Set(cc.Name, spec, fullSpec); err != nil {
			return err
		}
		log.Info("connector scheduled", zap.String("connector", cc.Name), zap.String("schedule", spec), zap.String("full_schedule", fullSpec))
	}
	// SIGHUP re-reads the configuration (see reloader).
	rl := &reloader{path: *cfgPath, a: a, log: log, stop: runCtx,
		setJobs: runs.SetJobs, idle: runs.Idle, schedule: sched.Set, remove: sched.Remove,
		started: func(connector string) { sched.Trigger(connector, true) }}
	// Every connector runs once at start (on a replica: once elected), as a full reconcile.
	startAll = func() {
		for _, j := range rl.jobs() {
			sched.Trigger(j.Name, true)
		}
	}
	notify, err := alerts.New(a.cfg.Alerts, a.log)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}

	out, err := a.openSenders()
	if err != nil {
		return err
	}
	var cert *serverCert
	if a.cfg.Server.TLS.Enabled() {
		if cert, err = loadServerCert(a.cfg.Server.TLS, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", a.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", a.cfg.Server.Listen, err)
	}
	// Metrics hook in before anything runs, so the start-up run is counted.
	m := newMetrics(out, node)
	runs.OnFinish(func(f runner.Finished) {
		m.ObserveRun(runInfo(f))
		if !f.DryRun {
			notify.RunFinished(f.Report)
		}
	})
	handler := serveMux(a, node, m.Handler(), api.New(api.Options{Store: a.store, Syncer: runs, Senders: out.svc,
		Holds: apiwire.NewHolds(a.engine, func(pending map[string]int) {
			for _, j := range rl.jobs() {
				m.SetHeld(j.Name, pending[j.Name])
			}
		}), Explainer: apiwire.NewExplainer(a.engine, rl.jobs), Observe: m.APIRequest, Log: a.log,
		Login: loginOptions(a.cfg.Server.Login)}))
	srv := newHTTPServer(handler, a.cfg.Server.Timeouts, log)
	srvErr := make(chan error, 1)
	if cert != nil {
		srv.TLSConfig = cert.TLSConfig()
		go func() { srvErr <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { srvErr <- srv.Serve(ln) }()
	}
	log.Info("serving", zap.String("listen", ln.Addr().String()), zap.Bool("tls", cert != nil),
		zap.Bool("tls_terminated_by_proxy", a.cfg.Server.TLSTerminatedByProxy), zap.String("version", version()))

	// Senders are settled until SIGTERM: what is in flight then is reported
	// again (the policy service's next message, the stream's pending entries).
	out.start(sigCtx, a)
	sched.Start()
	nodeDone := make(chan struct{})
	nodeCtx, stopNode := context.WithCancel(sigCtx)
	if node == nil {
		close(nodeDone)
		startAll()
	} else {
		log.Info("replica: campaigning for the leader lease", zap.String("node", node.ID()))
		go func() { defer close(nodeDone); node.Run(nodeCtx) }()
	}

	// Stale-connector alerts: from the one replica that runs the schedule.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		notify.Watch(nodeCtx, func() []string {
			if node != nil && !node.IsLeader() {
				return nil
			}
			var names []string
			for _, j := range rl.jobs() {
				names = append(names, j.Name)
			}
			return names
		}, alerts.HistoryLastSuccess(a.state))
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	serving := fmt.Sprintf("serving on %s, %d connector(s)", ln.Addr(), len(rl.jobs()))
	sdNotify(log, serving, daemon.SdNotifyReady)
wait:
	for {
		select {
		case <-hup:
			sdNotify(log, "reloading the configuration", daemon.SdNotifyReloading)
			// The certificate is re-read whatever becomes of the configuration:
			// a renewal must not wait for an unrelated typo to be fixed.
			if cert != nil {
				if err := cert.Reload(); err != nil {
					log.Error("TLS certificate reload rejected", zap.Error(err))
				}
			}
			if err := rl.Reload(sigCtx); err != nil {
				log.Error("configuration reload rejected", zap.Error(err))
				sdNotify(log, "configuration reload rejected (see the log); "+serving, daemon.SdNotifyReady)
			} else {
				sdNotify(log, fmt.Sprintf("configuration reloaded; serving on %s, %d connector(s)", ln.Addr(), len(rl.jobs())), daemon.SdNotifyReady)
			}
		case <-sigCtx.Done():
			log.Info("stopping: waiting for runs in flight", zap.Duration("timeout", drainTimeout))
			sdNotify(log, "stopping: waiting for runs in flight", daemon.SdNotifyStopping)
			break wait
		case err := <-srvErr:
			log.Error("http server stopped", zap.Error(err))
			sdNotify(log, "http server stopped", daemon.SdNotifyStopping)
			break wait
		}
	}
	stop() // ends sigCtx also when the HTTP server stopped on its own
	out.wait()
	// Give the leader lease up first, so another replica takes the schedule
	// over at once instead of when the lease runs out.
	stopNode()
	<-nodeDone
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err = sched.Stop(drainCtx)
	if err == nil {
		err = runs.Wait(drainCtx) // runs triggered through the API
	}
	if err != nil {
		log.Warn("cancelling runs in flight", zap.Error(err))
		cancelRuns()
		_ = sched.Stop(context.Background())
		_ = runs.Wait(context.Background())
	}
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", zap.Error(err))
	}
	<-watchDone
	rl.wait()
	if err := notify.Close(drainCtx); err != nil {
		log.Warn("alerts not delivered", zap.Error(err))
	}
	log.Info("stopped")
	return nil
}

// serveMux serves /healthz (the process is alive), /readyz (the store and the
// state backend answer; a replica also says whether it leads), /metrics
// (Prometheus; no auth, like the probes: it holds counts, never addresses or
// secrets) and the admin API under /v1.
//
// /readyz is unauthenticated, so it answers with fixed words only: a backend's
// error names hosts, users and sometimes more, and goes to the log instead.
func serveMux(a *app, node *cluster.Node, prom, v1 http.Handler) http.Handler {
	log := a.log.Named("readyz")
	mux := http.NewServeMux()
	mux.Handle("/v1/", v1)
	mux.Handle("GET /metrics", prom)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		checks := map[string]string{"status": readyOK, "store": readyOK, "state": readyOK}
		if node != nil {
			checks["role"] = "follower"
			if node.IsLeader() {
				checks["role"] = "leader"
			}
		}
		status := http.StatusOK
		fail := func(check string, err error) {
			log.Warn("not ready", zap.String("check", check), zap.Error(err))
			checks[check], checks["status"], status = readyUnavailable, readyUnavailable, http.StatusServiceUnavailable
		}
		if _, err := a.store.Domains(ctx); err != nil {
			fail("store", err)
		}
		if _, err := a.state.Runs(ctx, "", 1); err != nil {
			fail("state", err)
		}
		writeJSON(w, status, checks)
	})
	return mux
}

// The words of /readyz: "status" and each check are one of them.
const (
	readyOK          = "ok"
	readyUnavailable = "unavailable"
)

// newHTTPServer bounds every phase of a connection (see config.ServerTimeouts).
// The server's own complaints (failed TLS handshakes, mostly) are logged at
// debug: scanners and port probes make them common and they need no action.
func newHTTPServer(h http.Handler, t config.ServerTimeouts, log *zap.Logger) *http.Server {
	errLog, err := zap.NewStdLogAt(log.Named("http"), zap.DebugLevel)
	if err != nil {
		errLog = nil // the standard library's default logger
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle, ErrorLog: errLog}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
