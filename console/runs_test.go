package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/api"
)

// runsSyncer is the sync side of a daemon with two connectors, hr and sample:
// a history of runs, their details, and the triggers it was sent, answered
// as next says.
type runsSyncer struct {
	mu       sync.Mutex
	runs     []api.Run // newest first
	details  map[string]api.RunDetail
	triggers []api.TriggerSync
	next     []api.TriggeredRun // the next Trigger's answer (nil: one started run per connector)
	err      error              // the next Trigger's error
}

func newRunsSyncer(runs ...api.RunDetail) *runsSyncer {
	sy := &runsSyncer{details: map[string]api.RunDetail{}}
	for _, d := range runs {
		sy.runs = append(sy.runs, d.Run)
		sy.details[d.RunID] = d
	}
	return sy
}

func (*runsSyncer) Connectors() []string { return []string{"hr", "sample"} }

func (s *runsSyncer) Trigger(_ context.Context, in api.TriggerSync) ([]api.TriggeredRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggers = append(s.triggers, in)
	if s.err != nil {
		return nil, s.err
	}
	out := s.next
	if out == nil {
		names := in.Connectors
		if len(names) == 0 {
			names = []string{"hr", "sample"}
		}
		for i, n := range names {
			out = append(out, api.TriggeredRun{Connector: n, RunID: fmt.Sprintf("new-%d-%d", len(s.triggers), i)})
		}
	}
	for _, t := range out {
		if _, ok := s.details[t.RunID]; !ok {
			run := api.Run{RunID: t.RunID, Connector: t.Connector, Status: api.RunRunning, DryRun: in.DryRun, Full: in.Full,
				Started: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Counts: map[string]int{}, RequestedBy: []string{"api"}, Triggers: 1}
			s.details[t.RunID] = api.RunDetail{Run: run}
			s.runs = append([]api.Run{run}, s.runs...)
		}
	}
	return out, nil
}

func (s *runsSyncer) Runs(_ context.Context, connector string, limit int) ([]api.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.Run
	for _, r := range s.runs {
		if (connector == "" || r.Connector == connector) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *runsSyncer) Run(_ context.Context, id string) (api.RunDetail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.details[id]
	if !ok {
		return api.RunDetail{}, fmt.Errorf("%w: %s", api.ErrRunNotFound, id)
	}
	return d, nil
}

func (*runsSyncer) FieldOwner(string, string) bool { return false }

func (s *runsSyncer) set(d api.RunDetail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.details[d.RunID] = d
}

func (s *runsSyncer) sent() []api.TriggerSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.triggers)
}

var runsT0 = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

// finishedRun is a finished run of connector, started minutes after runsT0.
func finishedRun(id, connector string, status api.RunStatus, minutes int) api.RunDetail {
	start := runsT0.Add(time.Duration(minutes) * time.Minute)
	return api.RunDetail{Run: api.Run{RunID: id, Connector: connector, Status: status, DryRun: status == api.RunDryRun,
		Started: start, Finished: start.Add(1500 * time.Millisecond), Counts: map[string]int{"create": 2, "update": 1}}}
}

// reportedRun is a finished run of sample with a full report: a failed
// update, an applied create, a held disable, a quarantined record, a warning.
func reportedRun(id string, status api.RunStatus) api.RunDetail {
	d := finishedRun(id, "sample", status, 30)
	d.Full = true
	outcome := api.OutcomeApplied
	if status == api.RunDryRun {
		outcome = api.OutcomePlanned
	}
	d.Error = "1 operation failed"
	d.Report = &api.RunReport{RunID: id, Connector: "sample", Status: status, Full: true, Started: d.Started, Finished: d.Finished,
		Counts: api.RunCounts{Create: 1, Update: 1, Disable: 1, Quarantined: 1, Held: 1},
		Operations: []api.Operation{
			{Change: api.Change{Action: "create", Kind: "user", Address: "new@example.com", Reason: "new in the source",
				Changes: []api.FieldChange{{Field: "display_name", After: "New Person"}}}, Outcome: outcome},
			{Change: api.Change{Action: "update", Kind: "user", Address: "bob@example.com", Anchor: "uid=bob",
				Changes: []api.FieldChange{{Field: "title", Before: "Engineer", After: "Lead"}}, Reason: "title changed"},
				Outcome: api.OutcomeFailed, Error: "store refused bob@example.com: title too long (max 64)"},
			{Change: api.Change{Action: "disable", Kind: "user", Address: "gone@example.com", Reason: "left the source"}, Outcome: api.OutcomeHeld},
		},
		Held:        []api.Operation{{Change: api.Change{Action: "disable", Address: "gone@example.com", Reason: "left the source"}, Outcome: api.OutcomeHeld}},
		HoldReason:  "1 disable exceeds the threshold of 0",
		Quarantined: []api.QuarantineEntry{{Record: "uid=eve,ou=people", Field: "mail", Reason: "mail is not an address", Fix: "set mail to a valid address in the source"}},
		Warnings:    []api.QuarantineEntry{{Record: "(connector)", Reason: "the delta link expired: read everything", Fix: "none needed"}},
		Errors:      []string{"1 operation failed"},
	}
	return d
}

// texts is the text of each element of the selection, joined with " | ".
func texts(s *goquery.Selection) string {
	var out []string
	s.Each(func(_ int, e *goquery.Selection) { out = append(out, text(e)) })
	return strings.Join(out, " | ")
}

func rowIDs(p page) []string {
	var ids []string
	p.Find("table.runs tbody tr[id]").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		ids = append(ids, strings.TrimPrefix(id, "run-"))
	})
	return ids
}

func TestRunsList(t *testing.T) {
	running := api.RunDetail{Run: api.Run{RunID: "r3", Connector: "sample", Status: api.RunRunning, Started: runsT0.Add(time.Hour), Counts: map[string]int{}}}
	sy := newRunsSyncer(running, finishedRun("r2", "hr", api.RunFailed, 20), finishedRun("r1", "sample", api.RunOK, 10))
	h := newHarnessWith(t, sy)
	b := h.admin("ada@example.com")

	p := b.get("/console/runs")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("runs page: %d", p.res.StatusCode)
	}
	if got := rowIDs(p); !slices.Equal(got, []string{"r3", "r2", "r1"}) {
		t.Errorf("rows %v, want newest first", got)
	}
	if got := text(p.Find("#run-r3")); !strings.Contains(got, "running in progress") || !strings.Contains(got, "not finished") {
		t.Errorf("running row %q", got)
	}
	if href, _ := p.Find("#run-r2 a").Attr("href"); href != "/console/runs/r2" {
		t.Errorf("r2 links to %q", href)
	}
	if got := text(p.Find("#run-r1")); !strings.Contains(got, "2 create, 1 update") || !strings.Contains(got, "1.5s") {
		t.Errorf("finished row %q", got)
	}
	if p.Find("#runs-older").Length() != 0 {
		t.Error("a link to older runs with every run shown")
	}

	for _, c := range []struct{ query, want string }{
		{"connector=hr", "r2"}, {"status=failed", "r2"}, {"status=running", "r3"}, {"status=ok&connector=sample", "r1"},
		{"connector=sample&status=failed", ""},
	} {
		got := strings.Join(rowIDs(b.get("/console/runs?"+c.query)), ",")
		if got != c.want {
			t.Errorf("%s: rows %q, want %q", c.query, got, c.want)
		}
	}
	p = b.get("/console/runs?status=bogus")
	if p.res.StatusCode != http.StatusBadRequest || !strings.Contains(text(p.Find("#runs-problem")), `no run status "bogus"`) {
		t.Errorf("bad status: %d %q", p.res.StatusCode, text(p.Find("#runs-problem")))
	}
}

func TestRunsOlderPages(t *testing.T) {
	var runs []api.RunDetail
	for i := 120; i > 0; i-- {
		runs = append(runs, finishedRun(fmt.Sprintf("r%03d", i), "sample", api.RunOK, i))
	}
	h := newHarnessWith(t, newRunsSyncer(runs...))
	b := h.admin("ada@example.com")
	p := b.get("/console/runs")
	if n := len(rowIDs(p)); n != 50 || p.Find("#runs-newest").Length() != 0 {
		t.Fatalf("first page: %d rows, a link to the newest %d", n, p.Find("#runs-newest").Length())
	}
	var seen []string
	pages := 1
	for {
		seen = append(seen, rowIDs(p)...)
		older, ok := p.Find("#runs-older").Attr("href")
		if !ok {
			break
		}
		if !strings.HasPrefix(older, "/console/runs?cursor=") {
			t.Fatalf("older runs: %q", older)
		}
		p = b.get(older)
		pages++
		if href, _ := p.Find("#runs-newest").Attr("href"); href != "/console/runs" {
			t.Fatalf("page %d: back to the newest %q", pages, href)
		}
	}
	if pages != 3 || len(seen) != 120 || seen[0] != "r120" || seen[119] != "r001" {
		t.Errorf("%d pages, %d rows, first %s, last %s", pages, len(seen), seen[0], seen[len(seen)-1])
	}
	if len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 120 {
		t.Error("a run shown twice")
	}
}

func TestRunPageSections(t *testing.T) {
	h := newHarnessWith(t, newRunsSyncer(reportedRun("r9", api.RunPartial)))
	b := h.admin("ada@example.com")
	p := b.get("/console/runs/r9")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("run page: %d", p.res.StatusCode)
	}
	for sel, want := range map[string]string{
		"h1":                  "Run of sample",
		"#run-status":         "partial",
		"#run-reasons li":     "1 disable exceeds the threshold of 0 | 1 operation failed",
		"#run-took":           "1.5s",
		"#run-failed":         "update bob@example.com (uid=bob): store refused bob@example.com: title too long (max 64)",
		"#run-quarantined td": "uid=eve,ou=people | mail | mail is not an address | set mail to a valid address in the source",
		"#run-warnings td":    "(connector) |  | the delta link expired: read everything | none needed",
		"#run-counts li":      "1 create | 1 update | 1 disable | 0 enable | 0 delete | 0 unchanged | 1 quarantined | 1 held",
	} {
		if got := texts(p.Find(sel)); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if got := texts(p.Find("dl.run-facts dd")); !strings.Contains(got, "| Real run | Everything (full) |") {
		t.Errorf("facts %q", got)
	}
	if href, _ := p.Find("#run-holds").Attr("href"); href != "/console/holds?run=r9" {
		t.Errorf("holds link %q", href)
	}
	if got := texts(p.Find("#run-ops tbody tr:nth-child(2) td")); got != "update | bob@example.com uid=bob | failed | title: Engineer → changed to Lead | title changed store refused bob@example.com: title too long (max 64)" {
		t.Errorf("failed op row %q", got)
	}
	if got := text(p.Find("#run-ops tbody tr:nth-child(1) ul.changes")); got != "display_name: (none) → changed to New Person" {
		t.Errorf("create's changes %q", got)
	}
	if p.Find("#run-apply").Length() != 0 {
		t.Error("a real run offers to apply it")
	}
	if p.Find("#run-progress").Length() != 0 || p.Find("#run-refresh").Length() != 0 {
		t.Error("a finished run is polled")
	}

	// Filters: by outcome, by action.
	for _, c := range []struct{ query, want string }{
		{"outcome=failed", "bob@example.com"}, {"action=disable", "gone@example.com"},
		{"action=create&outcome=applied", "new@example.com"}, {"action=create&outcome=failed", ""},
	} {
		var got []string
		b.get("/console/runs/r9?" + c.query).Find("#run-ops tbody td.address .addr").Each(func(_ int, s *goquery.Selection) {
			got = append(got, s.Text())
		})
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s: %v, want %q", c.query, got, c.want)
		}
	}
}

func TestRunPageOperationsPaged(t *testing.T) {
	d := reportedRun("big", api.RunOK)
	d.Report.Operations = nil
	for i := range 230 {
		d.Report.Operations = append(d.Report.Operations, api.Operation{Change: api.Change{Action: "create", Kind: "user",
			Address: fmt.Sprintf("u%03d@example.com", i)}, Outcome: api.OutcomeApplied})
	}
	h := newHarnessWith(t, newRunsSyncer(d))
	b := h.admin("ada@example.com")
	p := b.get("/console/runs/big")
	if n := p.Find("#run-ops tbody tr").Length(); n != 100 {
		t.Fatalf("page 1: %d rows", n)
	}
	next, _ := p.Find("#ops-next").Attr("href")
	if next != "/console/runs/big?page=2#operations" {
		t.Fatalf("next %q", next)
	}
	p = b.get("/console/runs/big?page=3")
	if n := p.Find("#run-ops tbody tr").Length(); n != 30 || p.Find("#ops-next").Length() != 0 {
		t.Errorf("page 3: %d rows, next %d", n, p.Find("#ops-next").Length())
	}
	if first := text(p.Find("#run-ops tbody td.address .addr").First()); first != "u200@example.com" {
		t.Errorf("page 3 starts at %s", first)
	}
	if prev, _ := p.Find("#ops-prev").Attr("href"); prev != "/console/runs/big?page=2#operations" {
		t.Errorf("prev %q", prev)
	}
}

func TestRunReportDownload(t *testing.T) {
	d := reportedRun("r9", api.RunPartial)
	h := newHarnessWith(t, newRunsSyncer(d))
	b := h.admin("ada@example.com")
	res, err := b.c.Get(h.srv.URL + "/console/runs/r9/report.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("download: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="dirsync-run-sample-r9.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	// The same bytes as GET /v1/runs/r9: the API's encoding of the RunDetail.
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("report:\n%s\nwant\n%s", body, want.Bytes())
	}
	var back api.RunDetail
	if err := json.Unmarshal(body, &back); err != nil || back.Report == nil || len(back.Report.Operations) != 3 {
		t.Errorf("report does not decode as a run: %v", err)
	}
	if res, _ := b.c.Get(h.srv.URL + "/console/runs/nope/report.json"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run: %d", res.StatusCode)
	}
}

func TestSyncNow(t *testing.T) {
	sy := newRunsSyncer(finishedRun("r1", "sample", api.RunOK, 10))
	h := newHarnessWith(t, sy)
	b := h.admin("ada@example.com")
	p := b.get("/console/runs")
	if p.Find(`form[action="/console/runs"][method="post"] #sync-go`).Length() != 1 {
		t.Fatal("no sync now form")
	}
	res := b.post("/console/runs", url.Values{"connector": {"sample"}, "mode": {"full"}, "dry_run": {"1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/runs/new-1-0" {
		t.Fatalf("sync now: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := sy.sent(); len(got) != 1 || !slices.Equal(got[0].Connectors, []string{"sample"}) || !got[0].DryRun || !got[0].Full || got[0].Wait {
		t.Errorf("trigger sent %+v", got)
	}
	p = b.get("/console/runs/new-1-0")
	if got := text(p.Find(".flash")); got != "Dry run of sample started." {
		t.Errorf("flash %q", got)
	}
	// The run not finished: followed by htmx, and a Refresh link without it.
	if poll := p.Find("#run-progress"); poll.AttrOr("hx-get", "") != "/console/runs/new-1-0/live" || poll.AttrOr("hx-trigger", "") != "every 2s" {
		t.Errorf("progress poll: %v", poll.Nodes)
	}
	if href, _ := p.Find("#run-refresh").Attr("href"); href != "/console/runs/new-1-0" {
		t.Errorf("refresh link %q", href)
	}
	logged := h.logs.FilterMessage("sync triggered from the console").All()
	if len(logged) != 1 || logged[0].ContextMap()["admin"] != "ada@example.com" || logged[0].ContextMap()["dry_run"] != true {
		t.Errorf("trigger log: %v", logged)
	}

	// Incremental, real, every connector: two runs, so the list.
	res = b.post("/console/runs", url.Values{"connector": {""}, "mode": {"incremental"}, "dry_run": {"0"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/runs" {
		t.Fatalf("sync all: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := sy.sent()[1]; len(got.Connectors) != 0 || got.DryRun || got.Full {
		t.Errorf("trigger sent %+v", got)
	}
	if got := text(b.get("/console/runs").Find(".flash")); got != "Sync of hr started. Sync of sample started." {
		t.Errorf("flash %q", got)
	}

	// Queued behind the run in progress; joined the pending run; forwarded.
	sy.set(api.RunDetail{Run: api.Run{RunID: "p1", Connector: "hr", Status: api.RunPending, Triggers: 1, RequestedBy: []string{"api"}}})
	sy.set(api.RunDetail{Run: api.Run{RunID: "p2", Connector: "hr", Status: api.RunPending, Started: runsT0, Triggers: 3, RequestedBy: []string{"schedule", "api"}}})
	for _, c := range []struct {
		next      api.TriggeredRun
		to, flash string
	}{
		{api.TriggeredRun{Connector: "hr", RunID: "p1", Queued: true}, "/console/runs/p1",
			"Sync of hr queued behind the run in progress: it starts when that run ends."},
		{api.TriggeredRun{Connector: "hr", RunID: "p2", Queued: true}, "/console/runs/p2",
			"Sync of hr joined the pending run (3 requests), which starts when the run in progress ends."},
		{api.TriggeredRun{Connector: "hr", RunID: "f1", Forwarded: true}, "/console/runs",
			"Sync of hr forwarded to the leader replica (run f1): it appears in the list once the leader runs it."},
	} {
		sy.mu.Lock()
		sy.next = []api.TriggeredRun{c.next}
		sy.mu.Unlock()
		res := b.post("/console/runs", url.Values{"connector": {"hr"}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != c.to {
			t.Errorf("%s: %d to %q", c.next.RunID, res.StatusCode, res.Header.Get("Location"))
			continue
		}
		if got := text(b.get(c.to).Find(".flash")); got != c.flash {
			t.Errorf("%s: flash %q, want %q", c.next.RunID, got, c.flash)
		}
	}
	if got := texts(b.get("/console/runs/p2").Find("dl.run-facts > *")); !strings.Contains(got, "Requested by | schedule, api (3 requests) | Requested | 2026-12-07 08:00 UTC") {
		t.Errorf("pending run facts %q", got)
	}

	// An unknown connector: the API's words on the runs page.
	sy.mu.Lock()
	sy.next = nil
	sy.mu.Unlock()
	p = b.postPage("/console/runs", url.Values{"connector": {"nope"}})
	if p.res.StatusCode != http.StatusNotFound || !strings.Contains(text(p.Find("#sync-problem")), `no connector "nope"`) {
		t.Errorf("unknown connector: %d %q", p.res.StatusCode, text(p.Find("#sync-problem")))
	}
	if p.Find("#sync-connector").AttrOr("aria-describedby", "") != "sync-problem" {
		t.Error("the connector field does not point at the problem")
	}
}

func TestRunLive(t *testing.T) {
	sy := newRunsSyncer()
	h := newHarnessWith(t, sy)
	b := h.admin("ada@example.com")
	b.get("/console/runs") // the form token
	if res := b.post("/console/runs", url.Values{"connector": {"sample"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sync now: %d", res.StatusCode)
	}
	live := func() (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/runs/new-1-0/live", nil)
		req.Header.Set("HX-Request", "true")
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	res, body := live()
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Running for") || strings.Contains(body, "<html") || res.Header.Get("HX-Retarget") != "" {
		t.Fatalf("progress: %d %q %q", res.StatusCode, res.Header.Get("HX-Retarget"), body)
	}
	done := reportedRun("new-1-0", api.RunOK)
	sy.set(done)
	res, body = live()
	if res.Header.Get("HX-Retarget") != "#run-body" || res.Header.Get("HX-Reswap") != "outerHTML" {
		t.Errorf("finished: retarget %q reswap %q", res.Header.Get("HX-Retarget"), res.Header.Get("HX-Reswap"))
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find("#run-body").Length() != 1 || doc.Find("#run-progress").Length() != 0 || text(doc.Find("#run-status")) != "ok" ||
		!strings.Contains(text(doc.Find("#run-counts")), "1 create") {
		t.Errorf("finished body: %s", body)
	}
	// A run that can no longer be read: its words, and the polling stops.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/runs/gone/live", nil)
	req.Header.Set("HX-Request", "true")
	gone, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	gbody, _ := io.ReadAll(gone.Body)
	gone.Body.Close()
	if gone.StatusCode != 286 || !strings.Contains(string(gbody), "run not found") || strings.Contains(string(gbody), "<html") {
		t.Errorf("gone run: %d %s", gone.StatusCode, gbody)
	}
	// Without htmx: the run page.
	if res, _ := b.c.Get(h.srv.URL + "/console/runs/new-1-0/live"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/runs/new-1-0" {
		t.Errorf("live without htmx: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestApplyDryRun(t *testing.T) {
	sy := newRunsSyncer(reportedRun("dry1", api.RunDryRun), reportedRun("real1", api.RunOK))
	h := newHarnessWith(t, sy)
	b := h.admin("ada@example.com")
	p := b.get("/console/runs/dry1")
	form := p.Find(`form[action="/console/runs/dry1/apply"]`)
	if form.Find("#run-apply").Length() != 1 || !strings.Contains(text(p.Find("dl.run-facts")), "Dry run: nothing is changed") {
		t.Fatal("a dry run's page offers no apply")
	}
	res := b.post("/console/runs/dry1/apply", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/runs/new-1-0" {
		t.Fatalf("apply: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := sy.sent(); len(got) != 1 || !slices.Equal(got[0].Connectors, []string{"sample"}) || got[0].DryRun || !got[0].Full {
		t.Errorf("apply sent %+v", got)
	}
	p = b.get("/console/runs/new-1-0")
	if got := text(p.Find(".flash")); got != "Applying dry run dry1: Sync of sample started." {
		t.Errorf("flash %q", got)
	}
	if got := texts(p.Find("dl.run-facts dd")); !strings.Contains(got, "Real run") {
		t.Errorf("the new run: %q", got)
	}
	logged := h.logs.FilterMessage("sync triggered from the console").All()
	if len(logged) != 1 || logged[0].ContextMap()["applies_dry_run"] != "dry1" {
		t.Errorf("apply log: %v", logged)
	}
	// A real run has no plan to apply.
	if p := b.postPage("/console/runs/real1/apply", nil); p.res.StatusCode != http.StatusConflict {
		t.Errorf("apply a real run: %d", p.res.StatusCode)
	}
	if len(sy.sent()) != 1 {
		t.Errorf("a refused apply triggered: %+v", sy.sent())
	}
}

func TestRunsReadOnly(t *testing.T) {
	sy := newRunsSyncer(reportedRun("dry1", api.RunDryRun))
	h := newHarnessWith(t, sy)
	if _, err := h.svc.AddRole(context.Background(), system, api.Role{Name: "Sync viewer", Permissions: []string{"console"}}); err != nil {
		t.Fatal(err)
	}
	admin := h.admin("ada@example.com") // for a valid form token of another session
	_ = admin
	h.user("view@example.com", "Sync viewer")
	b := h.browser()
	b.signIn("view@example.com", adminPassword)

	p := b.get("/console/runs")
	if p.res.StatusCode != http.StatusOK || len(rowIDs(p)) != 1 {
		t.Fatalf("runs page for a viewer: %d, %d rows", p.res.StatusCode, len(rowIDs(p)))
	}
	if p.Find("#sync-go, form[method=post][action='/console/runs']").Length() != 0 {
		t.Error("a read-only administrator sees the sync now form")
	}
	p = b.get("/console/runs/dry1")
	if p.res.StatusCode != http.StatusOK || p.Find("#run-apply").Length() != 0 {
		t.Errorf("run page for a viewer: %d, apply buttons %d", p.res.StatusCode, p.Find("#run-apply").Length())
	}
	if p.Find("#run-download").Length() != 1 {
		t.Error("no download for a viewer")
	}
	for _, path := range []string{"/console/runs", "/console/runs/dry1/apply"} {
		if res := b.post(path, url.Values{"connector": {"sample"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("crafted POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	if got := sy.sent(); len(got) != 0 {
		t.Errorf("a viewer triggered %+v", got)
	}
}

func TestRunPageWithoutReport(t *testing.T) {
	d := finishedRun("old", "hr", api.RunFailed, 5)
	d.Error = "ldap search: connection refused"
	h := newHarnessWith(t, newRunsSyncer(d))
	b := h.admin("ada@example.com")
	p := b.get("/console/runs/old")
	if got := texts(p.Find("#run-reasons li")); got != "ldap search: connection refused" {
		t.Errorf("reason %q", got)
	}
	if got := texts(p.Find("#run-counts li")); got != "2 create | 1 update" {
		t.Errorf("counts %q", got)
	}
	if p.Find("#run-no-report").Length() != 1 || p.Find("#operations").Length() != 0 {
		t.Error("a run without its report does not say so")
	}
	if p := b.get("/console/runs/missing"); p.res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run: %d", p.res.StatusCode)
	}
}

// bigRun is a finished run of sample whose report lists 3 of its 2503
// operations, as the engine reports a big run: the tally counts them all.
func bigRun(id string, status api.RunStatus) api.RunDetail {
	d := reportedRun(id, status)
	d.Report.OperationsOmitted = 2500
	applied := "applied"
	if status == api.RunDryRun {
		applied = "planned"
	}
	d.Report.Outcomes = map[string]map[string]int{applied: {"create": 2000, "update": 400}, "unchanged": {"update": 50},
		"failed": {"update": 52}, "held": {"disable": 1}}
	return d
}

// outcomeLabels are the outcome filter's options, " | " between them.
func outcomeLabels(p page) string { return texts(p.Find("#ops-outcome option")) }

func TestRunPageOmittedOperations(t *testing.T) {
	h := newHarnessWith(t, newRunsSyncer(bigRun("run-7", api.RunPartial), bigRun("dry-8", api.RunDryRun), reportedRun("r9", api.RunPartial)))
	auditSeed(t, h) // two changes by run run-7, two by an administrator
	b := h.admin("ada@example.com")

	p := b.get("/console/runs/run-7")
	wantStatus(t, p, http.StatusOK)
	// The filter counts every operation of the run, not the listed three.
	if got, want := outcomeLabels(p), "Any outcome | planned (0) | applied (2400) | unchanged (50) | failed (52) | held (1)"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	note := p.Find("#run-ops-omitted")
	if got := text(note); got != "This report lists 3 of 2503 operations. Every applied change is in the audit log: the changes of run run-7." {
		t.Errorf("note %q", got)
	}
	// Above the operations table.
	if note.Closest("#operations").Length() != 1 || note.NextAllFiltered(".table-wrap").Find("#run-ops").Length() != 1 {
		t.Error("the note is not above the operations table")
	}
	href, _ := p.Find("#run-audit").Attr("href")
	if href != "/console/audit?run=run-7" {
		t.Fatalf("audit link %q", href)
	}
	// The link shows this run's changes, and only them.
	a := b.get(href)
	wantStatus(t, a, http.StatusOK)
	if got, want := auditRows(a), []string{"sync: corp (run run-7)|update|alice@example.com", "sync: corp (run run-7)|create|alice@example.com"}; !slices.Equal(got, want) {
		t.Errorf("the run's changes: %v, want %v", got, want)
	}

	// A dry run applied nothing: no audit log to point at.
	p = b.get("/console/runs/dry-8")
	if got := text(p.Find("#run-ops-omitted")); got != "This report lists 3 of 2503 operations. A dry run changed nothing: the counts above are the whole plan." {
		t.Errorf("dry run's note %q", got)
	}
	if p.Find("#run-audit").Length() != 0 || !strings.HasPrefix(outcomeLabels(p), "Any outcome | planned (2400) | applied (0)") {
		t.Errorf("dry run: audit link %d, outcomes %q", p.Find("#run-audit").Length(), outcomeLabels(p))
	}

	// A report from before the tally lists every operation: counted from
	// the list, and no note.
	p = b.get("/console/runs/r9")
	if got, want := outcomeLabels(p), "Any outcome | planned (0) | applied (1) | unchanged (0) | failed (1) | held (1)"; got != want {
		t.Errorf("old report's outcomes %q, want %q", got, want)
	}
	if p.Find("#run-ops-omitted, #run-audit").Length() != 0 {
		t.Error("a note about omitted operations on a report that lists them all")
	}
}
