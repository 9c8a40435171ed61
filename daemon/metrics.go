package daemon

import (
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/daemon/apiwire"
	"github.com/dirsync/dirsync/metrics"
	"github.com/dirsync/dirsync/sync/cluster"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// newMetrics builds the daemon's metrics and hooks them to the outbound
// side's counters and, with replicas, the leader lease. Runs come through
// runner.OnFinish (m.ObserveRun(runInfo(f))), API requests through
// api.Options.Observe.
func newMetrics(out *senders, node *cluster.Node) *metrics.Metrics {
	m := metrics.New()
	m.OutboundStats(out.svc.Stats)
	if out.polSrv != nil {
		m.PolicyStats(out.polSrv.Stats)
	}
	if out.stream != nil {
		m.StreamStats(out.stream.Stats)
	}
	if node != nil {
		m.Leader(node.IsLeader)
	}
	return m
}

// runInfo turns a finished run's report into what the metrics record.
// Operations count only when the store applied them: a failed one changed
// nothing, and an unchanged one was already in effect. They are counted from
// the report's tally, which covers the operations a big run's report does
// not list.
func runInfo(f runner.Finished) metrics.RunInfo {
	rep := f.Report
	ops := apiwire.Tally(rep)[api.OutcomeApplied]
	if ops == nil {
		ops = map[string]int{}
	}
	return metrics.RunInfo{Connector: rep.Connector, Status: rep.Status, DryRun: f.DryRun || rep.Status == engine.StatusDryRun,
		Duration: rep.Finished.Sub(rep.Started), Ops: ops, Held: len(rep.Held), Quarantined: len(rep.Quarantined),
		Read: f.Read, Errors: rep.Errors, Finished: rep.Finished}
}
