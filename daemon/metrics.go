package daemon

import (
	"github.com/dirsync/dirsync/metrics"
	"github.com/dirsync/dirsync/sync/cluster"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/runner"
)

// outcomeApplied is the engine's outcome of an operation the store carried out.
const outcomeApplied = "applied"

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
// nothing, and an unchanged one was already in effect.
func runInfo(f runner.Finished) metrics.RunInfo {
	rep := f.Report
	ops := map[string]int{}
	for _, op := range rep.Operations {
		if op.Outcome == outcomeApplied {
			ops[string(op.Action)]++
		}
	}
	return metrics.RunInfo{Connector: rep.Connector, Status: rep.Status, DryRun: f.DryRun || rep.Status == engine.StatusDryRun,
		Duration: rep.Finished.Sub(rep.Started), Ops: ops, Held: len(rep.Held), Quarantined: len(rep.Quarantined),
		Read: f.Read, Errors: rep.Errors, Finished: rep.Finished}
}
