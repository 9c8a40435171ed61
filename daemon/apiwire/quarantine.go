package apiwire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/sync/runner"
)

var _ api.QuarantineFinder = Syncs{}

// latestScan is how many of a connector's newest runs are looked through for
// its latest finished one (runs in progress, pending and dry runs come first).
const latestScan = 20

// Quarantined lists the quarantine entries naming the user in the report of
// each connector's latest finished run that was not a dry run. A record is
// named by the user's address, an alias, its anchor, or, with WithState, the
// source's name for it as the origin connector's cache keeps it (a DN). A run
// whose report is no longer kept (reports.retention) contributes nothing.
func (s Syncs) Quarantined(ctx context.Context, who api.QuarantineQuery) ([]api.QuarantinedRecord, error) {
	want := map[string]bool{}
	for _, n := range append(who.Names, who.Anchor) {
		if n != "" {
			want[strings.ToLower(n)] = true
		}
	}
	if s.st != nil && who.Origin != "" && who.Anchor != "" {
		snap, err := s.st.Snapshot(ctx, who.Origin)
		if err != nil {
			return nil, fmt.Errorf("state of %s: %w", who.Origin, err)
		}
		if e, ok := snap[who.Anchor]; ok && e.Ref != "" {
			want[strings.ToLower(e.Ref)] = true
		}
	}
	var out []api.QuarantinedRecord
	if len(want) == 0 {
		return out, nil
	}
	for _, c := range s.r.Connectors() {
		runs, err := s.r.Runs(ctx, c, latestScan)
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", c, syncErr(err))
		}
		for _, run := range runs {
			if run.DryRun || run.Status == runner.StatusRunning || run.Status == runner.StatusPending {
				continue
			}
			d, err := s.r.Run(ctx, run.RunID)
			if errors.Is(err, runner.ErrRunNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("run %s of %s: %w", run.RunID, c, syncErr(err))
			}
			if d.Report != nil {
				for _, q := range d.Report.Quarantined {
					if want[strings.ToLower(q.Record)] {
						out = append(out, api.QuarantinedRecord{Connector: c, RunID: run.RunID, Time: d.Report.Started,
							Record: q.Record, Field: q.Field, Reason: q.Reason, Fix: q.Fix})
					}
				}
			}
			break // the latest finished run only
		}
	}
	return out, nil
}
