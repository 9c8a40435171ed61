package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/api"
)

// overviewSyncer is a sync side with a fixed overview.
type overviewSyncer struct{ ov api.Overview }

func (o overviewSyncer) Connectors() []string { return []string{"ad", "hr"} }
func (overviewSyncer) Trigger(context.Context, api.TriggerSync) ([]api.TriggeredRun, error) {
	return nil, nil
}
func (overviewSyncer) Runs(context.Context, string, int) ([]api.Run, error) { return nil, nil }
func (overviewSyncer) Run(context.Context, string) (api.RunDetail, error) {
	return api.RunDetail{}, api.ErrRunNotFound
}
func (overviewSyncer) FieldOwner(string, string) bool                   { return false }
func (o overviewSyncer) Overview(context.Context) (api.Overview, error) { return o.ov, nil }

// TestOverviewPage: the console's home is the overview; a failing, stale
// connector says so in words, with its reason, error kind and links to its
// runs; a healthy one says it is healthy.
func TestOverviewPage(t *testing.T) {
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	next, age := at.Add(time.Hour), 120.0
	ov := api.Overview{Generated: at, Replica: api.ReplicaStatus{Role: api.RoleSingle, State: api.Health{OK: true},
		Store: api.Health{Error: "the store did not answer: the daemon's log says why"}},
		Connectors: []api.ConnectorStatus{
			{Name: "ad", Type: "ldap", Enabled: true, Schedule: "@every 15m", NextRun: &next,
				LastRun: &api.Run{RunID: "run-1", Connector: "ad", Status: api.RunFailed, Started: at, Finished: at.Add(3 * time.Second), Counts: map[string]int{}},
				Stale:   true, StaleReason: "last successful run 3h ago (expected within 30m, twice the schedule's interval of 15m)",
				LastError: &api.SourceError{Message: "connect to ldap://dc1: connection refused", Kind: api.ErrorKindUnreachable,
					RunID: "run-1", At: at.Add(3 * time.Second)}},
			{Name: "hr", Type: "file", Enabled: true, Schedule: "@every 1h", NextRun: &next, CursorAgeSeconds: &age,
				LastRun: &api.Run{RunID: "run-2", Connector: "hr", Status: api.RunOK, Started: at, Finished: at.Add(time.Second),
					Counts: map[string]int{"create": 2, "unchanged": 5}}, LastSuccess: &at},
			{Name: "old", Type: "ldap", Enabled: false, Schedule: "@every 1h"},
		}}
	h := newHarnessWith(t, overviewSyncer{ov: ov})
	b := h.admin("ada@example.com")

	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/console/overview" {
		t.Fatalf("home: %d to %q, want 303 to the overview", res.StatusCode, loc)
	}

	p := b.get("/console/overview")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", p.res.StatusCode)
	}
	if v, _ := p.Find(`nav a[href="/console/overview"]`).Attr("aria-current"); v != "page" {
		t.Error("the overview is not marked current in the navigation")
	}
	if got := text(p.Find("#health-store")); !strings.Contains(got, "not answering") || !strings.Contains(got, "did not answer") {
		t.Errorf("store health = %q", got)
	}
	if got := text(p.Find("#health-state")); got != "answering" {
		t.Errorf("state health = %q", got)
	}
	if got := text(p.Find("#overview-summary")); !strings.Contains(got, "1 of 3 connector(s) need attention") {
		t.Errorf("summary = %q", got)
	}

	ad := p.Find("#connector-ad")
	if !ad.HasClass("attention") {
		t.Error("the failing connector's row is not marked")
	}
	adText := text(ad)
	for _, want := range []string{"Needs attention", "Overdue: last successful run 3h ago", "The last run failed",
		"source unreachable", "connection refused", "no successful run on record", "took 3s"} {
		if !strings.Contains(adText, want) {
			t.Errorf("ad's row lacks %q: %s", want, adText)
		}
	}
	if ad.Find(`a[href="/console/runs?connector=ad"]`).Length() != 1 || ad.Find(`a[href="/console/runs/run-1"]`).Length() != 2 {
		t.Error("ad's row does not link its runs and its failed run")
	}

	hr := p.Find("#connector-hr")
	hrText := text(hr)
	if hr.HasClass("attention") || !strings.Contains(hrText, "Healthy") || strings.Contains(hrText, "Needs attention") {
		t.Errorf("hr's row: %s", hrText)
	}
	for _, want := range []string{"2 create, 5 unchanged", "2m0s", "ok"} {
		if !strings.Contains(hrText, want) {
			t.Errorf("hr's row lacks %q: %s", want, hrText)
		}
	}
	if got := text(p.Find("#connector-old")); !strings.Contains(got, "disabled") || !strings.Contains(got, "no run yet") {
		t.Errorf("the disabled connector's row: %s", got)
	}
}

// TestOverviewPageWithoutSyncs: a process without a sync side says so on
// the page.
func TestOverviewPageWithoutSyncs(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	p := b.get("/console/overview")
	if p.res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", p.res.StatusCode)
	}
	if got := text(p.Find("#overview-problem")); !strings.Contains(got, "runs no syncs") {
		t.Errorf("problem = %q", got)
	}
}
