// Package metrics exposes the daemon's Prometheus metrics: sync runs, admin
// API requests, first-time outbound senders and, with replicas, leadership.
//
// Everything lives in one Registry of its own, never Prometheus's global
// default: a test (or a second daemon in one process) gets its own numbers, and
// nothing a library registers behind our back ends up on /metrics.
//
// Runs and API requests are pushed (ObserveRun, APIRequest) as they finish;
// the outbound side already keeps counters of its own, so those are read
// through functions when Prometheus scrapes, and never copied twice.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every series, so dirsync's are easy to find next to other
// exporters' on a shared Prometheus.
const namespace = "dirsync"

// runBuckets span a run's duration from 10 ms (an incremental read with nothing
// to do) to an hour (a first full read of a large directory).
var runBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// apiBuckets span an API answer from 1 ms to 30 s (a POST /v1/syncs that waits
// for its run).
var apiBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics holds the daemon's series. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	runs         *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec
	operations   *prometheus.CounterVec
	held         *prometheus.GaugeVec
	quarantined  *prometheus.GaugeVec
	recordsRead  *prometheus.CounterVec
	lastSuccess  *prometheus.GaugeVec
	sourceErrors *prometheus.CounterVec
	apiRequests  *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
}

// New returns Metrics with the run and API series and the Go runtime and
// process collectors registered; the outbound and leader series come with
// OutboundStats, PolicyStats, StreamStats and Leader.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "runs_total",
			Help: "Sync runs finished, by connector and status (ok, held, partial, failed). Dry runs are not counted."},
			[]string{"connector", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "run_duration_seconds",
			Help: "Duration of sync runs, dry runs excepted.", Buckets: runBuckets}, []string{"connector"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "operations_total",
			Help: "Store changes applied by sync runs, by connector and action (create, update, disable, enable, delete)."},
			[]string{"connector", "action"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "held_operations",
			Help: "Destructive changes awaiting approval: set by each run that was not failed, and again when holds are approved or rejected."},
			[]string{"connector"}),
		quarantined: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "quarantined_records",
			Help: "Records quarantined by the connector's last run that was not failed."}, []string{"connector"}),
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "records_read_total",
			Help: "Records read from the connector's source by sync runs."}, []string{"connector"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "last_success_timestamp_seconds",
			Help: "Unix time at which the connector's last run with status ok finished."}, []string{"connector"}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "source_errors_total",
			Help: "Failed sync runs by the kind of their first error: timeout, unreachable, auth, partial or other."},
			[]string{"connector", "kind"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_requests_total",
			Help: "Admin API requests by route pattern and HTTP status."}, []string{"route", "status"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "api_request_duration_seconds",
			Help: "Admin API request duration by route pattern.", Buckets: apiBuckets}, []string{"route"}),
	}
	m.reg.MustRegister(m.runs, m.runDuration, m.operations, m.held, m.quarantined, m.recordsRead,
		m.lastSuccess, m.sourceErrors, m.apiRequests, m.apiDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the series live in, for tests and for wiring that
// adds collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunInfo is one finished sync run, as ObserveRun records it.
type RunInfo struct {
	Connector string
	// Status is the run's status (ok, held, partial, failed, dry-run).
	Status string
	// DryRun runs are not recorded: they change nothing, so their planned
	// operations would count as done and their failures would page for runs
	// nobody depends on.
	DryRun   bool
	Duration time.Duration
	// Ops counts the changes the run applied, by action.
	Ops map[string]int
	// Held and Quarantined count the run's held operations and quarantined records.
	Held, Quarantined int
	// Read counts the records the source yielded.
	Read int
	// Errors are the run's errors, the cause first.
	Errors []string
	// Finished is when the run ended; zero = now.
	Finished time.Time
}

// statusOK is the status of a run that applied everything it planned; only
// such a run moves dirsync_last_success_timestamp_seconds.
const statusOK = "ok"

// statusFailed is the status of a run that stopped before or during its
// writes; its plan (if any) did not take effect.
const statusFailed = "failed"

// ObserveRun records one finished sync run.
func (m *Metrics) ObserveRun(r RunInfo) {
	if r.DryRun || r.Connector == "" {
		return
	}
	c := r.Connector
	// Every kind exists from a connector's first run on, so rate() and
	// increase() see the first error of a kind instead of a series appearing.
	for _, k := range Kinds {
		m.sourceErrors.WithLabelValues(c, k)
	}
	m.runs.WithLabelValues(c, r.Status).Inc()
	m.runDuration.WithLabelValues(c).Observe(r.Duration.Seconds())
	for action, n := range r.Ops {
		if n > 0 {
			m.operations.WithLabelValues(c, action).Add(float64(n))
		}
	}
	m.recordsRead.WithLabelValues(c).Add(float64(max(r.Read, 0)))
	if r.Status == statusFailed {
		// A failed run held and quarantined nothing that took effect: the
		// previous run's figures still describe the store.
		if len(r.Errors) > 0 {
			m.sourceErrors.WithLabelValues(c, Classify(r.Errors[0])).Inc()
		} else {
			m.sourceErrors.WithLabelValues(c, KindOther).Inc()
		}
		return
	}
	m.SetHeld(c, r.Held)
	m.quarantined.WithLabelValues(c).Set(float64(r.Quarantined))
	if r.Status == statusOK {
		fin := r.Finished
		if fin.IsZero() {
			fin = time.Now()
		}
		m.lastSuccess.WithLabelValues(c).Set(float64(fin.UnixNano()) / 1e9)
	}
}

// APIRequest records one admin API request; it is the api.Options.Observe hook.
// route is the route's pattern ("GET /v1/users/{address}"), never the path, so
// the series stay few.
func (m *Metrics) APIRequest(route string, status int, took time.Duration) {
	m.apiRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.apiDuration.WithLabelValues(route).Observe(took.Seconds())
}

// SetHeld sets the connector's count of operations awaiting approval; the
// daemon calls it after holds are approved or rejected, so that an alert on
// dirsync_held_operations clears at once rather than at the next run.
func (m *Metrics) SetHeld(connector string, n int) {
	m.held.WithLabelValues(connector).Set(float64(n))
}
