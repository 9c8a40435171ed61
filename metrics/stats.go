package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/outbound/policy"
	"github.com/dirsync/dirsync/outbound/stream"
)

// The outbound side counts for itself (atomics on its hot paths); these
// collectors read those counters at scrape time, one call of the stats
// function per scrape, so the series of one group agree with each other.
// Each of OutboundStats, PolicyStats, StreamStats and Leader registers its
// series: call each at most once (a second call panics, as any series
// registered twice would).

// OutboundStats exports the rule set's totals (outbound.Service.Stats):
// dirsync_outbound_senders_total{result} for created, exists, ignored,
// rate_limited (also counted in ignored), dropped and failed, plus
// dirsync_outbound_offered_total and dirsync_outbound_known_total for the
// policy service's senders and those of them answered from memory.
func (m *Metrics) OutboundStats(f func() outbound.Stats) {
	senders := desc("outbound_senders_total",
		"First-time outbound senders settled, by result (rate_limited senders are also counted in ignored; dropped and failed ones are reported again by their next message).",
		"result")
	offered := desc("outbound_offered_total", "Senders the policy service passed on to the rule set.")
	known := desc("outbound_known_total", "Senders passed on by the policy service and answered from the in-memory seen-set.")
	m.reg.MustRegister(&funcCollector{descs: []*prometheus.Desc{senders, offered, known}, collect: func(ch chan<- prometheus.Metric) {
		s := f()
		for _, v := range []struct {
			result string
			n      int64
		}{{"created", s.Created}, {"exists", s.Exists}, {"ignored", s.Ignored},
			{"rate_limited", s.RateLimited}, {"dropped", s.Dropped}, {"failed", s.Failed}} {
			ch <- counter(senders, float64(v.n), v.result)
		}
		ch <- counter(offered, float64(s.Offered))
		ch <- counter(known, float64(s.Known))
	}})
}

// PolicyStats exports the Postfix policy service's counters
// (policy.Server.Stats): dirsync_policy_requests_total,
// dirsync_policy_malformed_total, dirsync_policy_oversized_total,
// dirsync_policy_rejected_connections_total and the dirsync_policy_connections
// gauge.
func (m *Metrics) PolicyStats(f func() policy.Stats) {
	requests := desc("policy_requests_total", "Policy requests answered.")
	malformed := desc("policy_malformed_total", "Policy requests holding a line without '='.")
	oversized := desc("policy_oversized_total", "Policy requests with a line or a total size over the limits (8 KiB, 64 KiB by default).")
	rejected := desc("policy_rejected_connections_total", "Policy connections closed unanswered because too many were open.")
	conns := desc("policy_connections", "Policy connections open now.")
	m.reg.MustRegister(&funcCollector{descs: []*prometheus.Desc{requests, malformed, oversized, rejected, conns}, collect: func(ch chan<- prometheus.Metric) {
		s := f()
		ch <- counter(requests, float64(s.Requests))
		ch <- counter(malformed, float64(s.Malformed))
		ch <- counter(oversized, float64(s.Oversized))
		ch <- counter(rejected, float64(s.Rejected))
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Conns))
	}})
}

// StreamStats exports the sender stream consumer's counters
// (stream.Consumer.Stats): dirsync_stream_entries_total{result} for read,
// acked, claimed, malformed and dead_lettered (they overlap: a claimed entry is
// also read, and most read entries end acked; do not sum them), and
// dirsync_stream_handler_errors_total.
func (m *Metrics) StreamStats(f func() stream.Stats) {
	entries := desc("stream_entries_total", "Sender stream entries by what happened to them (read, acked, claimed, malformed, dead_lettered; overlapping).", "result")
	handlerErrs := desc("stream_handler_errors_total", "Batches of stream entries the rule set failed to settle (left pending and delivered again).")
	m.reg.MustRegister(&funcCollector{descs: []*prometheus.Desc{entries, handlerErrs}, collect: func(ch chan<- prometheus.Metric) {
		s := f()
		for _, v := range []struct {
			result string
			n      int64
		}{{"read", s.Read}, {"acked", s.Acked}, {"claimed", s.Claimed}, {"malformed", s.Malformed}, {"dead_lettered", s.DeadLettered}} {
			ch <- counter(entries, float64(v.n), v.result)
		}
		ch <- counter(handlerErrs, float64(s.HandlerErrors))
	}})
}

// Leader exports dirsync_leader: 1 while this replica holds the leader lease
// (runs the schedule), else 0. Only replicas sharing a Redis state call it.
func (m *Metrics) Leader(f func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "leader",
		Help: "1 while this replica leads (runs the schedule), else 0."}, func() float64 {
		if f() {
			return 1
		}
		return 0
	}))
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// funcCollector emits metrics computed at scrape time by collect.
type funcCollector struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

// Describe implements prometheus.Collector.
func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
