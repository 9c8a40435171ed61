package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/metrics"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/outbound/policy"
	"github.com/dirsync/dirsync/outbound/stream"
)

// families scrapes m's handler as Prometheus would.
func families(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return fams
}

// value is the value of the series name{labels} (a histogram's sample count),
// and whether it exists. labels are name, value pairs.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range s.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue(), true
		case s.Gauge != nil:
			return s.GetGauge().GetValue(), true
		case s.Histogram != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		case s.Untyped != nil:
			return s.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsObserveRun(t *testing.T) {
	m := metrics.New()
	fin := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	m.ObserveRun(metrics.RunInfo{Connector: "corp", Status: "ok", Duration: 2 * time.Second,
		Ops: map[string]int{"create": 3, "update": 1, "delete": 0}, Held: 2, Quarantined: 1, Read: 40, Finished: fin})
	m.ObserveRun(metrics.RunInfo{Connector: "corp", Status: "held", Duration: time.Second,
		Ops: map[string]int{"update": 2}, Held: 5, Quarantined: 4, Read: 38, Finished: fin.Add(time.Hour)})
	// A failed run counts, but leaves the last plan's gauges and the last success alone.
	m.ObserveRun(metrics.RunInfo{Connector: "corp", Status: "failed", Duration: 30 * time.Second, Read: 7,
		Errors: []string{"read source (after 7 records; nothing applied, nobody disabled): connection reset"}, Finished: fin.Add(2 * time.Hour)})
	// Dry runs are left out of every series.
	m.ObserveRun(metrics.RunInfo{Connector: "corp", Status: "dry-run", DryRun: true, Ops: map[string]int{"create": 100}, Read: 100})
	m.ObserveRun(metrics.RunInfo{Connector: "hr", Status: "failed", DryRun: true, Errors: []string{"context deadline exceeded"}})

	fams := families(t, m)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dirsync_runs_total", []string{"connector", "corp", "status", "ok"}, 1},
		{"dirsync_runs_total", []string{"connector", "corp", "status", "held"}, 1},
		{"dirsync_runs_total", []string{"connector", "corp", "status", "failed"}, 1},
		{"dirsync_run_duration_seconds", []string{"connector", "corp"}, 3},
		{"dirsync_operations_total", []string{"connector", "corp", "action", "create"}, 3},
		{"dirsync_operations_total", []string{"connector", "corp", "action", "update"}, 3},
		{"dirsync_held_operations", []string{"connector", "corp"}, 5},
		{"dirsync_quarantined_records", []string{"connector", "corp"}, 4},
		{"dirsync_records_read_total", []string{"connector", "corp"}, 85},
		{"dirsync_last_success_timestamp_seconds", []string{"connector", "corp"}, float64(fin.Unix())},
		{"dirsync_source_errors_total", []string{"connector", "corp", "kind", "unreachable"}, 1},
		{"dirsync_source_errors_total", []string{"connector", "corp", "kind", "timeout"}, 0},
		{"dirsync_source_errors_total", []string{"connector", "corp", "kind", "auth"}, 0},
		{"dirsync_source_errors_total", []string{"connector", "corp", "kind", "partial"}, 0},
		{"dirsync_source_errors_total", []string{"connector", "corp", "kind", "other"}, 0},
	} {
		got, ok := value(fams, tc.name, tc.labels...)
		require.True(t, ok, "%s%v missing", tc.name, tc.labels)
		require.Equal(t, tc.want, got, "%s%v", tc.name, tc.labels)
	}
	for _, absent := range [][]string{
		{"dirsync_operations_total", "connector", "corp", "action", "delete"},
		{"dirsync_runs_total", "connector", "corp", "status", "dry-run"},
		{"dirsync_runs_total", "connector", "hr", "status", "failed"},
	} {
		_, ok := value(fams, absent[0], absent[1:]...)
		require.False(t, ok, "%v should not exist", absent)
	}
	buckets := fams["dirsync_run_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket()
	require.Equal(t, 0.01, buckets[0].GetUpperBound(), "runs from 10 ms")
	require.Equal(t, 3600.0, buckets[len(buckets)-2].GetUpperBound(), "to an hour (then +Inf)")
	require.NotNil(t, fams["go_goroutines"], "Go runtime collector")
	require.NotNil(t, fams["process_start_time_seconds"], "process collector")
}

func TestMetricsAPIRequest(t *testing.T) {
	m := metrics.New()
	m.APIRequest("GET /v1/users", 200, 3*time.Millisecond)
	m.APIRequest("GET /v1/users", 200, 5*time.Millisecond)
	m.APIRequest("GET /v1/users", 401, time.Millisecond)
	m.APIRequest("unmatched", 404, 0)
	fams := families(t, m)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dirsync_api_requests_total", []string{"route", "GET /v1/users", "status", "200"}, 2},
		{"dirsync_api_requests_total", []string{"route", "GET /v1/users", "status", "401"}, 1},
		{"dirsync_api_requests_total", []string{"route", "unmatched", "status", "404"}, 1},
		{"dirsync_api_request_duration_seconds", []string{"route", "GET /v1/users"}, 3},
	} {
		got, ok := value(fams, tc.name, tc.labels...)
		require.True(t, ok, "%s%v missing", tc.name, tc.labels)
		require.Equal(t, tc.want, got, "%s%v", tc.name, tc.labels)
	}
}

func TestMetricsStatsAreReadAtScrapeTime(t *testing.T) {
	m := metrics.New()
	fams := families(t, m)
	for _, name := range []string{"dirsync_outbound_senders_total", "dirsync_policy_requests_total", "dirsync_stream_entries_total", "dirsync_leader"} {
		require.Nil(t, fams[name], "%s only once its source is wired", name)
	}

	out := outbound.Stats{Created: 1}
	pol := policy.Stats{Requests: 10, Malformed: 1, Oversized: 2, Conns: 3, Rejected: 4}
	str := stream.Stats{Read: 6, Acked: 5, Claimed: 2, Malformed: 1, DeadLettered: 1, HandlerErrors: 3}
	leader := false
	m.OutboundStats(func() outbound.Stats { return out })
	m.PolicyStats(func() policy.Stats { return pol })
	m.StreamStats(func() stream.Stats { return str })
	m.Leader(func() bool { return leader })
	// Later changes show in the next scrape: nothing is copied at wiring time.
	out = outbound.Stats{Created: 7, Exists: 6, Ignored: 5, RateLimited: 4, Dropped: 3, Failed: 2, Offered: 20, Known: 9}
	leader = true

	fams = families(t, m)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dirsync_outbound_senders_total", []string{"result", "created"}, 7},
		{"dirsync_outbound_senders_total", []string{"result", "exists"}, 6},
		{"dirsync_outbound_senders_total", []string{"result", "ignored"}, 5},
		{"dirsync_outbound_senders_total", []string{"result", "rate_limited"}, 4},
		{"dirsync_outbound_senders_total", []string{"result", "dropped"}, 3},
		{"dirsync_outbound_senders_total", []string{"result", "failed"}, 2},
		{"dirsync_outbound_offered_total", nil, 20},
		{"dirsync_outbound_known_total", nil, 9},
		{"dirsync_policy_requests_total", nil, 10},
		{"dirsync_policy_malformed_total", nil, 1},
		{"dirsync_policy_oversized_total", nil, 2},
		{"dirsync_policy_rejected_connections_total", nil, 4},
		{"dirsync_policy_connections", nil, 3},
		{"dirsync_stream_entries_total", []string{"result", "read"}, 6},
		{"dirsync_stream_entries_total", []string{"result", "acked"}, 5},
		{"dirsync_stream_entries_total", []string{"result", "claimed"}, 2},
		{"dirsync_stream_entries_total", []string{"result", "malformed"}, 1},
		{"dirsync_stream_entries_total", []string{"result", "dead_lettered"}, 1},
		{"dirsync_stream_handler_errors_total", nil, 3},
		{"dirsync_leader", nil, 1},
	} {
		got, ok := value(fams, tc.name, tc.labels...)
		require.True(t, ok, "%s%v missing", tc.name, tc.labels)
		require.Equal(t, tc.want, got, "%s%v", tc.name, tc.labels)
	}
}

// promlint checks names, units and help texts against Prometheus's conventions.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	m := metrics.New()
	m.ObserveRun(metrics.RunInfo{Connector: "corp", Status: "ok", Ops: map[string]int{"create": 1}, Held: 1, Read: 1})
	m.APIRequest("GET /v1/users", 200, time.Millisecond)
	m.OutboundStats(func() outbound.Stats { return outbound.Stats{} })
	m.PolicyStats(func() policy.Stats { return policy.Stats{} })
	m.StreamStats(func() stream.Stats { return stream.Stats{} })
	m.Leader(func() bool { return false })
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	var ours []string
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "dirsync_") {
			ours = append(ours, p.Metric+": "+p.Text)
		}
	}
	require.Empty(t, ours)
}
