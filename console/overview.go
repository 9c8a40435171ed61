package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dirsync/dirsync/api"
)

// The sync console's overview (issue 24): every connector's health at a
// glance, and this replica's role and backends. It is the console's home.

func (c *Console) overviewRoutes() []route {
	return []route{{"GET " + Prefix + "overview", PermConsole, c.overviewPage}}
}

// overviewView is the data of templates/overview.html.
type overviewView struct {
	Problem   *problem
	Generated time.Time
	Replica   api.ReplicaStatus
	Rows      []overviewRow
	Attention int // connectors that need attention
}

func (overviewView) PageTitle() string { return "Overview" }

// RoleText says the replica's role in words.
func (v overviewView) RoleText() string {
	switch v.Replica.Role {
	case api.RoleLeader:
		return "Leader: this replica runs the schedule"
	case api.RoleFollower:
		return "Follower: another replica runs the schedule; runs asked for here are forwarded to it"
	}
	return "Single daemon: no other replica shares the state"
}

// overviewRow is one connector as the table shows it.
type overviewRow struct {
	api.ConnectorStatus
	// Attention lists why the connector needs attention (none: it is fine).
	Attention []string
	Took      string // how long the last run took
	Counts    string // the last run's non-zero counts
	CursorAge string // "" = no cursor
	ErrorKind string // the last error's kind in words
	// OldError: the last error is from before the last run (it has recovered).
	OldError bool
	// Next, NextFull and LastOK are NextRun, NextFullRun and LastSuccess
	// (zero: none), for the template.
	Next, NextFull, LastOK time.Time
}

// overviewPage shows the overview; a process without a sync side, or a
// failure to read it, is said on the page.
func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ov, err := c.svc.Overview(r.Context())
	status := http.StatusOK
	v := overviewView{}
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			return err
		}
		v.Problem, status = p, p.Status
	}
	v.Generated, v.Replica = ov.Generated, ov.Replica
	for _, cs := range ov.Connectors {
		row := newOverviewRow(cs)
		if len(row.Attention) > 0 {
			v.Attention++
		}
		v.Rows = append(v.Rows, row)
	}
	c.render(w, r, s, status, "overview", v)
	return nil
}

func newOverviewRow(cs api.ConnectorStatus) overviewRow {
	row := overviewRow{ConnectorStatus: cs, Next: ovTime(cs.NextRun), NextFull: ovTime(cs.NextFullRun), LastOK: ovTime(cs.LastSuccess)}
	if cs.Stale {
		row.Attention = append(row.Attention, "Overdue: "+cs.StaleReason)
	}
	if lr := cs.LastRun; lr != nil {
		switch lr.Status {
		case api.RunFailed:
			row.Attention = append(row.Attention, "The last run failed")
		case api.RunPartial:
			row.Attention = append(row.Attention, "The last run applied only part of its changes")
		}
		if !lr.Finished.IsZero() {
			row.Took = ovDuration(lr.Finished.Sub(lr.Started))
		}
		row.Counts = ovCounts(lr.Counts)
	}
	if cs.PendingHolds > 0 {
		row.Attention = append(row.Attention, fmt.Sprintf("%d held operation(s) wait for a decision", cs.PendingHolds))
	}
	if cs.CursorAgeSeconds != nil {
		row.CursorAge = ovDuration(time.Duration(*cs.CursorAgeSeconds * float64(time.Second)))
	}
	if e := cs.LastError; e != nil {
		row.ErrorKind = errorKinds[e.Kind]
		if row.ErrorKind == "" {
			row.ErrorKind = e.Kind
		}
		row.OldError = cs.LastRun != nil && cs.LastRun.RunID != e.RunID
	}
	return row
}

// errorKinds are the source errors' kinds in words.
var errorKinds = map[string]string{
	api.ErrorKindTimeout:     "timed out",
	api.ErrorKindUnreachable: "source unreachable",
	api.ErrorKindAuth:        "credentials or permissions refused",
	api.ErrorKindPartial:     "partial read",
	api.ErrorKindOther:       "other error",
}

// countOrder is the order the counts are shown in.
var countOrder = []string{"create", "update", "disable", "enable", "delete", "unchanged", "quarantined", "held", "joined", "protected"}

// ovCounts is a run's non-zero counts in words ("2 create, 5 unchanged").
func ovCounts(m map[string]int) string {
	var parts []string
	for _, k := range countOrder {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// ovDuration rounds a duration for people: "850ms", "12s", "4m10s", "3h5m", "2d4h".
func ovDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}

func ovTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
