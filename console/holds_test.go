package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/internal/testenv"
)

// Handler tests of the held operations and explain pages (issue 24), over the
// real api.Service with a fake engine behind it (fakeHolds, fakeExplainer).

// newSyncHarness is newHarnessWith whose service also has holds and an
// explainer, as the daemon's does.
func newSyncHarness(t *testing.T, holds api.Holds, ex api.Explainer) *harness {
	t.Helper()
	h := &harness{t: t, st: testenv.SQLiteStore(t, "example.com", "example.net"),
		clk: testenv.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.svc = api.NewService(api.Options{Store: h.st, Syncer: upSyncer{}, Holds: holds, Explainer: ex,
		Log: zap.New(core), Now: h.clk.Now, PasswordParams: fast})
	var err error
	h.con, err = console.New(console.Options{Service: h.svc, Store: h.st, Log: zap.New(core), Now: h.clk.Now})
	if err != nil {
		t.Fatalf("console.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, h.con)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// syncViewer is a browser of an administrator with the console only: sees
// the sync pages, acts on none of them.
func (h *harness) syncViewer(address string) *browser {
	h.t.Helper()
	if _, err := h.svc.AddRole(context.Background(), system, api.Role{Name: "Sync viewer",
		Permissions: []string{"console"}}); err != nil {
		h.t.Fatalf("add the Sync viewer role: %v", err)
	}
	h.user(address, "Sync viewer")
	b := h.browser()
	b.signIn(address, adminPassword)
	return b
}

// fakeHolds is the engine's held operations: Decide applies or rejects
// pending ones, refuses the others with the engine's codes, and fails the
// approval of the ids in failApply as the store would.
type fakeHolds struct {
	mu        sync.Mutex
	holds     []api.Hold
	failApply map[string]string
	decisions []fakeDecision
}

type fakeDecision struct {
	ids     []string
	approve bool
	by      string
}

func (f *fakeHolds) Holds(_ context.Context, connector, status string) ([]api.Hold, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Hold
	for _, h := range f.holds {
		if (connector == "" || h.Connector == connector) && (status == "" || string(h.Status) == status) {
			out = append(out, h)
		}
	}
	return out, nil
}

func (f *fakeHolds) Decide(_ context.Context, d api.DecideHolds, approve bool, by string) ([]api.HoldResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, fakeDecision{ids: d.IDs, approve: approve, by: by})
	var out []api.HoldResult
	for _, id := range d.IDs {
		i := slices.IndexFunc(f.holds, func(h api.Hold) bool { return h.ID == id })
		switch {
		case i < 0:
			out = append(out, api.HoldResult{ID: id, Code: api.CodeHoldNotFound, Error: "no held operation " + id})
		case f.holds[i].Status != api.HoldPending:
			out = append(out, api.HoldResult{ID: id, Status: f.holds[i].Status, Code: api.CodeHoldDecided,
				Error: fmt.Sprintf("held operation %s was already %s", id, f.holds[i].Status)})
		case approve && f.failApply[id] != "":
			out = append(out, api.HoldResult{ID: id, Status: api.HoldPending, Code: api.CodeApplyFailed, Error: f.failApply[id]})
		default:
			st := api.HoldRejected
			if approve {
				st = api.HoldApplied
			}
			f.holds[i].Status, f.holds[i].By, f.holds[i].Decided = st, by, time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
			out = append(out, api.HoldResult{ID: id, Status: st})
		}
	}
	return out, nil
}

func (f *fakeHolds) calls() []fakeDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.decisions)
}

const heldReason = "the run plans 4 disables in example.com, more than sync.max_destructive (2)"

// sampleHolds: run r2 (newer) of hr held three operations in example.com and
// one in example.net; run r1 one in example.com, already applied.
func sampleHolds() *fakeHolds {
	at := func(m int) time.Time { return time.Date(2026, 12, 7, 8, m, 0, 0, time.UTC) }
	return &fakeHolds{holds: []api.Hold{
		{ID: "h001", Connector: "hr", RunID: "r2", Reason: heldReason, Created: at(30), Action: "disable", Kind: "user",
			Address: "bob@example.com", Status: api.HoldPending, Changes: []api.FieldChange{{Field: "enabled", Before: true, After: false}}},
		{ID: "h002", Connector: "hr", RunID: "r2", Reason: heldReason, Created: at(30), Action: "disable", Kind: "user",
			Address: "amy@example.com", Status: api.HoldPending},
		{ID: "h003", Connector: "hr", RunID: "r2", Reason: heldReason, Created: at(30), Action: "delete", Kind: "user",
			Address: "cid@example.com", Status: api.HoldPending},
		{ID: "h004", Connector: "hr", RunID: "r2", Reason: "protected account: holds the Administrator role", Created: at(30),
			Action: "disable", Kind: "user", Address: "dan@example.net", Status: api.HoldPending},
		{ID: "h000", Connector: "hr", RunID: "r1", Reason: heldReason, Created: at(1), Action: "disable", Kind: "user",
			Address: "eve@example.com", Status: api.HoldApplied, By: "console:ada@example.com", Decided: at(5)},
	}, failApply: map[string]string{"h002": "user amy@example.com: the store refused the disable: it is the last administrator"}}
}

func TestHoldsPageGroupsByRunConnectorAndDomain(t *testing.T) {
	h := newSyncHarness(t, sampleHolds(), nil)
	b := h.admin("ada@example.com")
	p := b.get("/console/holds")
	wantStatus(t, p, http.StatusOK)
	var heads []string
	p.Find("section.hold-group h2").Each(func(_ int, s *goquery.Selection) { heads = append(heads, text(s)) })
	want := []string{"hr · example.com · run r2", "hr · example.net · run r2"}
	if !slices.Equal(heads, want) {
		t.Fatalf("groups %q, want %q (pending only, by run, connector and domain)", heads, want)
	}
	first := p.Find("section.hold-group").First()
	var rows []string
	first.Find("tbody tr td:nth-child(2)").Each(func(_ int, s *goquery.Selection) { rows = append(rows, text(s)) })
	if !slices.Equal(rows, []string{"amy@example.com", "bob@example.com", "cid@example.com"}) {
		t.Errorf("rows of the first group %q", rows)
	}
	if got := text(first.Find(".hold-reason")); !strings.Contains(got, heldReason) {
		t.Errorf("the group does not say why it was held: %q", got)
	}
	if got := text(p.Find("section.hold-group").Eq(1).Find(".hold-reason")); !strings.Contains(got, "protected account") {
		t.Errorf("the second group's reason: %q", got)
	}
	if n := p.Find(`input[type=checkbox][name=id]`).Length(); n != 4 {
		t.Errorf("%d checkboxes, want one per pending hold (4)", n)
	}
	if a, _ := p.Find(`input[value="h003"]`).Attr("data-action"); a != "delete" {
		t.Errorf("the delete's checkbox says action %q", a)
	}
	// A group's buttons confirm exactly its operations, and say what they do.
	approve := first.Find(`a#group-1-approve`)
	href, _ := approve.Attr("href")
	if q := mustQuery(t, href); !slices.Equal(q["id"], []string{"h002", "h001", "h003"}) || !strings.HasPrefix(href, "/console/holds/approve?") {
		t.Errorf("approve all of the group: %q", href)
	}
	if s, _ := approve.Attr("data-summary"); s != "3 held operations will be applied: 2 users will be disabled and 1 user will be deleted." {
		t.Errorf("approve summary %q", s)
	}
	if s, _ := first.Find(`a#group-1-reject`).Attr("data-summary"); !strings.HasPrefix(s, "3 held operations will be rejected: no user will be disabled or deleted") {
		t.Errorf("reject summary %q", s)
	}
	if p.Find(`dialog#holds-dialog form[method=post] input[name=csrf]`).Length() != 1 {
		t.Errorf("no decision dialog with the form token")
	}
	if p.Find(`nav a[href="/console/holds"][aria-current=page]`).Length() != 1 {
		t.Errorf("Held operations is not the current navigation entry")
	}

	// The filters: a run, a connector with none, and the decided ones with who and when.
	p = b.get("/console/holds?run=r1")
	if n := p.Find("section.hold-group").Length(); n != 0 || !strings.Contains(text(p.Find("#holds-none")), "No operations are waiting") {
		t.Errorf("run r1 has no pending holds: %d groups, %q", n, text(p.Find("#holds-none")))
	}
	p = b.get("/console/holds?status=applied")
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("section.hold-group")); !strings.Contains(got, "eve@example.com") ||
		!strings.Contains(got, "by console:ada@example.com on 2026-12-07 08:05 UTC") {
		t.Errorf("an applied hold does not say who decided and when: %q", got)
	}
	if p.Find(`input[type=checkbox], [data-dialog]`).Length() != 0 {
		t.Errorf("decided holds are offered for a decision")
	}
	p = b.get("/console/holds?status=bogus")
	if p.res.StatusCode != http.StatusBadRequest || !strings.Contains(text(p.Find("#holds-problem")), "use one of pending") {
		t.Errorf("a bad status: %d %q", p.res.StatusCode, text(p.Find("#holds-problem")))
	}
}

func TestHoldsConfirmationCounts(t *testing.T) {
	h := newSyncHarness(t, sampleHolds(), nil)
	b := h.admin("ada@example.com")
	cases := []struct {
		path, summary string
		ids           int
	}{
		{"/console/holds/approve?id=h001&id=h003&id=h004", "3 held operations will be applied: 2 users will be disabled and 1 user will be deleted.", 3},
		{"/console/holds/approve?id=h003", "1 held operation will be applied: 1 user will be deleted.", 1},
		{"/console/holds/reject?id=h001&id=h002", "2 held operations will be rejected: no user will be disabled or deleted, and the store is left as it is.", 2},
		// An already decided one is listed but not counted.
		{"/console/holds/approve?id=h000&id=h001", "1 held operation will be applied: 1 user will be disabled.", 2},
		{"/console/holds/approve", "No held operations are selected: tick the ones to decide, or use a group's buttons.", 0},
	}
	for _, c := range cases {
		p := b.get(c.path)
		wantStatus(t, p, http.StatusOK)
		if got := text(p.Find("#holds-summary")); got != c.summary {
			t.Errorf("%s: summary %q, want %q", c.path, got, c.summary)
		}
		if n := p.Find(`form[method=post] input[name=id]`).Length(); n != c.ids {
			t.Errorf("%s: the form posts %d ids, want %d", c.path, n, c.ids)
		}
	}
	// The form selecting some (no JavaScript): the list's form is a GET to the confirmation.
	p := b.get("/console/holds")
	if act, _ := p.Find("#holds-form").Attr("action"); act != "/console/holds/approve" {
		t.Errorf("the selection form goes to %q", act)
	}
	if fa, _ := p.Find("#holds-reject").Attr("formaction"); fa != "/console/holds/reject" {
		t.Errorf("Reject selected goes to %q", fa)
	}
	if got := text(b.get("/console/holds/delete?id=h001").Find("h1")); got != "Page not found" {
		t.Errorf("an unknown decision: %q", got)
	}
}

func TestHoldsDecideShowsEachResult(t *testing.T) {
	f := sampleHolds()
	h := newSyncHarness(t, f, nil)
	b := h.admin("ada@example.com")
	b.get("/console/holds")
	p := b.postPage("/console/holds/approve", url.Values{"id": {"h001", "h002", "h000", "h999"}, "back": {"/console/holds?connector=hr"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#holds-outcome")); got != "1 applied, 3 refused." {
		t.Errorf("outcome %q", got)
	}
	var rows []string
	p.Find("table.hold-results tbody tr").Each(func(_ int, s *goquery.Selection) { rows = append(rows, text(s)) })
	want := []string{
		"bob@example.com disable applied",
		"amy@example.com disable refused apply_failed: user amy@example.com: the store refused the disable: it is the last administrator",
		"eve@example.com disable refused hold_decided: held operation h000 was already applied",
		"h999 refused hold_not_found: no held operation h999",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("results:\n%q\nwant\n%q", rows, want)
	}
	if href, _ := p.Find("#holds-back").Attr("href"); href != "/console/holds?connector=hr" {
		t.Errorf("back to %q", href)
	}
	calls := f.calls()
	if len(calls) != 1 || !calls[0].approve || calls[0].by != "console:ada@example.com" {
		t.Fatalf("decisions %+v: want one approval by console:ada@example.com", calls)
	}
	// Rejecting the rest; the list then shows who decided.
	p = b.postPage("/console/holds/reject", url.Values{"id": {"h002", "h003", "h004"}})
	if got := text(p.Find("#holds-outcome")); got != "3 rejected." {
		t.Errorf("reject outcome %q", got)
	}
	if n := b.get("/console/holds").Find("section.hold-group").Length(); n != 0 {
		t.Errorf("%d groups still pending", n)
	}
	if got := text(b.get("/console/holds?status=rejected").Find("main")); !strings.Contains(got, "cid@example.com") ||
		!strings.Contains(got, "by console:ada@example.com on 2026-12-07 09:30 UTC") {
		t.Errorf("the rejected list: %q", got)
	}
	// An off-site back link is not followed.
	p = b.postPage("/console/holds/reject", url.Values{"id": {"h001"}, "back": {"https://evil.example/"}})
	if href, _ := p.Find("#holds-back").Attr("href"); href != "/console/holds" {
		t.Errorf("back to %q", href)
	}
	// Nothing selected: nothing decided.
	p = b.postPage("/console/holds/approve", url.Values{})
	if p.res.StatusCode != http.StatusBadRequest || !strings.Contains(text(p.Find("#holds-problem")), "nothing was decided") {
		t.Errorf("an empty decision: %d %q", p.res.StatusCode, text(p.Find("#holds-problem")))
	}
	if n := len(f.calls()); n != 3 {
		t.Errorf("%d decisions reached the engine, want 3", n)
	}
	// Without a form token the decision is refused.
	p = b.postPage("/console/holds/approve", url.Values{"id": {"h004"}, "csrf": {"forged"}})
	if p.res.StatusCode != http.StatusForbidden {
		t.Errorf("a forged form token: %d", p.res.StatusCode)
	}
}

func TestHoldsReadOnlyAdministratorSeesButCannotDecide(t *testing.T) {
	f := sampleHolds()
	h := newSyncHarness(t, f, nil)
	h.admin("ada@example.com") // the console needs one administrator first
	v := h.syncViewer("vic@example.com")
	p := v.get("/console/holds")
	wantStatus(t, p, http.StatusOK)
	if n := p.Find("section.hold-group").Length(); n != 2 {
		t.Errorf("a read-only administrator sees %d groups, want 2", n)
	}
	if n := p.Find(`main input[type=checkbox], main [data-dialog], main form[method=post], #holds-form`).Length(); n != 0 {
		t.Errorf("a read-only administrator is offered %d controls to decide", n)
	}
	if !strings.Contains(text(p.Find("#holds-readonly")), "sync") {
		t.Errorf("no word on why nothing can be decided")
	}
	if got := v.get("/console/holds/approve?id=h001"); got.res.StatusCode != http.StatusForbidden {
		t.Errorf("the confirmation for a read-only administrator: %d", got.res.StatusCode)
	}
	for _, d := range []string{"approve", "reject"} {
		res := v.post("/console/holds/"+d, url.Values{"id": {"h001"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("a crafted %s: %d, want 403", d, res.StatusCode)
		}
	}
	if n := len(f.calls()); n != 0 {
		t.Errorf("%d decisions reached the engine from a read-only administrator", n)
	}
}

func TestHoldsWithoutEngine(t *testing.T) {
	h := newSyncHarness(t, nil, nil)
	b := h.admin("ada@example.com")
	p := b.get("/console/holds")
	if p.res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(text(p.Find("#holds-problem")), "dirsync serve") {
		t.Errorf("no holds in this process: %d %q", p.res.StatusCode, text(p.Find("#holds-problem")))
	}
}

// fakeExplainer explains the objects of connector hr: a quarantined one, an
// out-of-scope one and one a run would update; others are not in the source,
// and connector csv cannot read one object.
type fakeExplainer struct {
	mu   sync.Mutex
	reqs []api.ExplainRequest
}

func (f *fakeExplainer) Explain(_ context.Context, req api.ExplainRequest) (*api.Explanation, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if req.Connector == "csv" {
		return nil, fmt.Errorf("connector csv (type csv): %w: explain reads LDAP, Entra and file sources", api.ErrExplainUnsupported)
	}
	x := &api.Explanation{Connector: req.Connector, Key: req.User,
		Read: api.ExplainRead{Query: "(|(mail=" + req.User + ")(entryUUID=" + req.User + "))",
			Attributes: map[string][]string{"mail": {req.User}, "cn": {"Some One"}}}}
	switch req.User {
	case "morgan.price(at)example.com":
		x.Scope = api.ExplainScope{InScope: true}
		x.Normalise = api.ExplainNormalise{Quarantined: []api.QuarantineEntry{{Record: "uid=morgan.price", Field: "mail",
			Reason: `"morgan.price(at)example.com" is not an email address`, Fix: "correct the mail attribute in the source"}}}
		x.Join = api.ExplainJoin{By: api.JoinByNone, Detail: "no store object has anchor 150882e6"}
		x.Plan = api.ExplainPlan{Summary: "quarantined: nothing is planned"}
	case "contractor@example.com":
		x.Scope = api.ExplainScope{InScope: false, Checks: []api.ScopeCheck{{Rule: "base ou=people,dc=example,dc=com", Admitted: true},
			{Rule: "filter (!(title=Contractor))", Admitted: false, Detail: "title is Contractor"}}}
		x.Join = api.ExplainJoin{By: api.JoinByNone, Detail: "no store object has anchor 1d4f1480"}
		x.Plan = api.ExplainPlan{Summary: "out of scope and never synchronised by this connector: nothing to do"}
	case "bob@example.com":
		x.Scope = api.ExplainScope{InScope: true, Checks: []api.ScopeCheck{{Rule: "base ou=people,dc=example,dc=com", Admitted: true}}}
		x.Normalise = api.ExplainNormalise{OK: true, Record: &api.ExplainRecord{Kind: "user", Anchor: "a-bob", Address: "bob@example.com",
			DisplayName: "Bob Baker", Department: "Ops", Enabled: true}}
		x.Join = api.ExplainJoin{By: api.JoinByAnchor, Detail: "anchor a-bob is bob@example.com in the store (origin hr)",
			User:   &api.JoinedUser{Address: "bob@example.com", Kind: "user", Origin: "hr", Enabled: true, Protected: "holds the Administrator role"},
			Cached: &api.CachedEntry{Address: "bob@example.com", Fingerprint: "f1"}, Changed: true}
		x.Plan = api.ExplainPlan{Summary: "update bob@example.com (changed in the source)", Operations: []api.PlannedOp{
			{Change: api.Change{Action: "update", Kind: "user", Address: "bob@example.com", Reason: "changed in the source",
				Changes: []api.FieldChange{{Field: "department", Before: "Sales", After: "Ops"}}}},
			{Change: api.Change{Action: "disable", Kind: "user", Address: "bob@example.com", Reason: "disabled in the source"},
				Note: "held for an admin's approval (protected account): holds the Administrator role"}}}
		if req.Apply {
			x.Apply = &api.RunReport{RunID: "run-one", Connector: "hr", Status: api.RunOK,
				Operations: []api.Operation{{Change: x.Plan.Operations[0].Change, Outcome: api.OutcomeApplied}},
				Held:       []api.Operation{{Change: x.Plan.Operations[1].Change, Outcome: api.OutcomeHeld}}}
		}
	default:
		return nil, fmt.Errorf("connector %s: %s: %w", req.Connector, req.User, api.ErrNotInSource)
	}
	return x, nil
}

func (f *fakeExplainer) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if r.Apply {
			n++
		}
	}
	return n
}

func TestExplainShowsEveryStage(t *testing.T) {
	f := &fakeExplainer{}
	h := newSyncHarness(t, nil, f)
	b := h.admin("ada@example.com")
	p := b.get("/console/explain")
	wantStatus(t, p, http.StatusOK)
	if p.Find("ol.explain-stages").Length() != 0 {
		t.Errorf("an explanation before anything was asked")
	}
	if v, _ := p.Find(`#explain-connector option[selected]`).Attr("value"); v != "hr" {
		t.Errorf("the only connector is not preselected: %q", v)
	}
	if m, _ := p.Find("form.explain-form").Attr("method"); m != "get" {
		t.Errorf("the explain form is a %q, not a shareable GET", m)
	}
	if p.Find(`label[for=explain-user]`).Length() != 1 || p.Find(`label[for=explain-connector]`).Length() != 1 {
		t.Errorf("an input without its label")
	}

	p = b.get("/console/explain?connector=hr&user=bob%40example.com")
	wantStatus(t, p, http.StatusOK)
	var stages []string
	p.Find("ol.explain-stages h2").Each(func(_ int, s *goquery.Selection) { stages = append(stages, text(s)) })
	want := []string{"1. Read", "2. Scope: in scope", "3. Normalise: ok", "4. Join: by anchor", "5. Plan", "6. Check"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages %q, want %q", stages, want)
	}
	main := text(p.Find("main"))
	for _, s := range []string{"(|(mail=bob@example.com)(entryUUID=bob@example.com))", "Bob Baker",
		"anchor a-bob is bob@example.com in the store (origin hr)", "holds the Administrator role",
		"changed since the last run", "department: Sales → Ops",
		"disable bob@example.com held for an admin's approval (protected account)"} {
		if !strings.Contains(main, s) {
			t.Errorf("the explanation lacks %q:\n%s", s, main)
		}
	}
	if p.Find("#explain-apply").Length() != 1 {
		t.Errorf("no Apply button for an administrator with sync")
	}
	if href, _ := p.Find("#explain-link").Attr("href"); href != "/console/explain?connector=hr&user=bob%40example.com" {
		t.Errorf("the shareable link %q", href)
	}

	// A quarantined user: why, and the fix.
	p = b.get("/console/explain?" + url.Values{"connector": {"hr"}, "user": {"morgan.price(at)example.com"}}.Encode())
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#stage-normalise")); got != "3. Normalise: quarantined" {
		t.Errorf("normalise %q", got)
	}
	if got := text(p.Find("#explain-quarantined")); !strings.Contains(got, `mail: "morgan.price(at)example.com" is not an email address`) ||
		!strings.Contains(got, "Fix: correct the mail attribute in the source") {
		t.Errorf("quarantine %q", got)
	}
	if p.Find("#explain-apply").Length() != 0 {
		t.Errorf("Apply offered for an object with nothing planned")
	}
	// Out of scope: which rule excluded it.
	p = b.get("/console/explain?connector=hr&user=contractor%40example.com")
	if got := text(p.Find("#stage-scope")); got != "2. Scope: out of scope" {
		t.Errorf("scope %q", got)
	}
	if got := text(p.Find("#stage-scope").Parent()); !strings.Contains(got, "excluded filter (!(title=Contractor)): title is Contractor") {
		t.Errorf("scope checks %q", got)
	}
	if got := text(p.Find("#stage-normalise")); got != "3. Normalise: skipped" {
		t.Errorf("normalise of an out-of-scope object %q", got)
	}
	if got := text(p.Find("#explain-summary")); got != "out of scope and never synchronised by this connector: nothing to do" {
		t.Errorf("plan %q", got)
	}
}

func TestExplainErrorsInTheAPIsWords(t *testing.T) {
	h := newSyncHarness(t, nil, &fakeExplainer{})
	b := h.admin("ada@example.com")
	cases := []struct {
		query  string
		status int
		sel    string
		want   string
	}{
		{"connector=hr&user=ghost%40example.com", http.StatusNotFound, "#explain-problem", "Not in the source: connector hr: ghost@example.com: not in the source"},
		{"connector=csv&user=bob%40example.com", http.StatusUnprocessableEntity, "#explain-problem", "Cannot explain: connector csv (type csv): explain is not supported by this connector"},
		{"connector=hr&user=", http.StatusUnprocessableEntity, "#explain-user-error", "required: an address, alias or source anchor"},
		{"connector=&user=bob", http.StatusUnprocessableEntity, "#explain-connector-error", "required: the connector to read the object from"},
	}
	for _, c := range cases {
		p := b.get("/console/explain?" + c.query)
		if p.res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.query, p.res.StatusCode, c.status)
		}
		if got := text(p.Find(c.sel)); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %s says %q, want %q", c.query, c.sel, got, c.want)
		}
		if p.Find("ol.explain-stages").Length() != 0 {
			t.Errorf("%s: stages shown for an error", c.query)
		}
	}
	p := b.get("/console/explain?connector=hr&user=")
	if d, _ := p.Find("#explain-user").Attr("aria-describedby"); d != "explain-user-help explain-user-error" {
		t.Errorf("the user field is described by %q", d)
	}
	h2 := newSyncHarness(t, nil, nil)
	p = h2.admin("ada@example.com").get("/console/explain?connector=hr&user=bob")
	if p.res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(text(p.Find("#explain-problem")), "dirsync serve") {
		t.Errorf("no explainer: %d %q", p.res.StatusCode, text(p.Find("#explain-problem")))
	}
}

func TestExplainApply(t *testing.T) {
	f := &fakeExplainer{}
	h := newSyncHarness(t, nil, f)
	b := h.admin("ada@example.com")
	b.get("/console/explain?connector=hr&user=bob%40example.com")
	p := b.postPage("/console/explain", url.Values{"connector": {"hr"}, "user": {"bob@example.com"}, "apply": {"true"}})
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#stage-apply")); got != "7. Applied: run run-one ok" {
		t.Errorf("apply stage %q", got)
	}
	if got := text(p.Find("#explain-applied")); got != "update bob@example.com: applied" {
		t.Errorf("applied %q", got)
	}
	if !strings.Contains(text(p.Find("#stage-apply").Parent()), "disable bob@example.com: held for an administrator's decision") {
		t.Errorf("the held disable is not reported")
	}
	if p.Find("#explain-apply").Length() != 0 {
		t.Errorf("Apply offered again after applying")
	}
	if n := f.applies(); n != 1 {
		t.Errorf("%d applies reached the engine, want 1", n)
	}

	// A read-only administrator: the explanation, no button, and a crafted POST is refused.
	v := h.syncViewer("vic@example.com")
	p = v.get("/console/explain?connector=hr&user=bob%40example.com")
	wantStatus(t, p, http.StatusOK)
	if p.Find("#explain-apply, main form[method=post]").Length() != 0 || !strings.Contains(text(p.Find("#explain-readonly")), "sync") {
		t.Errorf("a read-only administrator is offered Apply")
	}
	res := v.post("/console/explain", url.Values{"connector": {"hr"}, "user": {"bob@example.com"}, "apply": {"true"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a crafted apply: %d, want 403", res.StatusCode)
	}
	if n := f.applies(); n != 1 {
		t.Errorf("%d applies reached the engine, want still 1", n)
	}
}
