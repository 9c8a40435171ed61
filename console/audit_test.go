package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// auditSeed: a sync creates alice (with markup in her title) and updates her;
// an administrator creates bob and sets his password; an import-like actor
// disables carol. Returns nothing: the tests read the log through the page.
func auditSeed(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	sync := store.Actor{Kind: "sync", Name: "corp", RunID: "run-7"}
	apply := func(a store.Actor, ch store.Change) {
		t.Helper()
		out, err := h.st.Apply(ctx, store.ApplyRequest{Actor: a, Changes: []store.Change{ch}})
		if err != nil || len(out) != 1 || out[0].Err != nil {
			t.Fatalf("apply %s %s: %v %v", ch.Action, ch.Address, err, out)
		}
	}
	apply(sync, store.Change{Action: store.ActionCreate, Kind: "user", Address: "alice@example.com", Origin: "corp", Anchor: "a-1",
		Reason: "new in the source", Changes: []store.FieldChange{{Field: "display_name", After: "Alice"},
			{Field: "title", After: `<script>alert("t")</script>`}}})
	apply(sync, store.Change{Action: store.ActionUpdate, Kind: "user", Address: "alice@example.com", Origin: "corp", Anchor: "a-1",
		Reason: `changed <b>in</b> the source`, Changes: []store.FieldChange{{Field: "title", Before: `<script>alert("t")</script>`, After: "Lead"}}})
	admin := store.Actor{Kind: "admin", Name: "console:root@example.com"}
	if _, err := h.svc.CreateUser(ctx, admin, api.CreateUser{Address: "bob@example.com", DisplayName: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Register(ctx, admin, "bob@example.com", api.Register{Password: "Secret-Horse-Battery-77",
		Question: "First pet?", Answer: "Fido"}); err != nil {
		t.Fatal(err)
	}
}

// auditRows are the table's rows: "who|action|address" each, in order.
func auditRows(p page) []string {
	var out []string
	p.Find("table.audit tbody tr").Each(func(_ int, tr *goquery.Selection) {
		td := tr.Find("td")
		if td.Length() < 6 {
			return
		}
		out = append(out, text(td.Eq(1))+"|"+text(td.Eq(2))+"|"+text(td.Eq(3)))
	})
	return out
}

func TestAuditPage(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h)
	b := h.admin("root@example.com")

	p := b.get("/console/audit?address=alice@example.com")
	wantStatus(t, p, http.StatusOK)
	if got := text(p.Find("h1")); got != "History of alice@example.com" {
		t.Errorf("heading %q", got)
	}
	want := []string{"sync: corp (run run-7)|update|alice@example.com", "sync: corp (run run-7)|create|alice@example.com"}
	if got := auditRows(p); !slices.Equal(got, want) {
		t.Errorf("alice's history: %v, want %v", got, want)
	}
	// Newest first: the update's changes, before → after; the create's field had no value.
	first := p.Find("table.audit tbody tr").First()
	if got := text(first.Find("ul.changes li")); got != `title: <script>alert("t")</script> → changed to Lead` {
		t.Errorf("update's change: %q", got)
	}
	if got := text(first.Find("td").Eq(5)); got != "changed <b>in</b> the source" {
		t.Errorf("reason: %q", got)
	}
	if got := text(p.Find("table.audit tbody tr").Eq(1).Find("ul.changes li").First()); got != "address: (none) → changed to alice@example.com" {
		t.Errorf("create's change: %q", got)
	}
	// Markup in values and reasons is text, never elements.
	if n := p.Find("table.audit script, table.audit td b").Length(); n != 0 {
		t.Errorf("%d elements from values rendered as HTML", n)
	}
	if _, ok := first.Find("time").Attr("datetime"); !ok {
		t.Errorf("no machine-readable time")
	}
	if cur, _ := p.Find(`nav[aria-label="Main"] a[href="/console/audit"]`).Attr("aria-current"); cur != "page" {
		t.Errorf("the Audit log navigation entry is not current: %q", cur)
	}
	if v, _ := p.Find("#audit-address").Attr("value"); v != "alice@example.com" {
		t.Errorf("the address filter shows %q", v)
	}

	// The whole log: every change, newest first; the password is redacted.
	p = b.get("/console/audit")
	wantStatus(t, p, http.StatusOK)
	rows := auditRows(p)
	if len(rows) < 5 || !slices.Contains(rows, "sync: corp (run run-7)|create|alice@example.com") || rows[len(rows)-1] != "system|add_domain|example.com" {
		t.Errorf("whole log: %v", rows)
	}
	body := text(p.Find("main"))
	if strings.Contains(body, "Secret-Horse-Battery-77") || strings.Contains(body, "Fido") {
		t.Errorf("a secret is shown in the audit page")
	}
	if !slices.Contains(rows, "admin: console:root@example.com|register|bob@example.com") {
		t.Errorf("no registration of bob by the console administrator: %v", rows)
	}
}

func TestAuditPageFilters(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h)
	b := h.admin("root@example.com")
	cases := []struct {
		query string
		want  []string
	}{
		{"actor=sync", []string{"sync: corp (run run-7)|update|alice@example.com", "sync: corp (run run-7)|create|alice@example.com"}},
		{"actor=sync%3Acorp&action=create", []string{"sync: corp (run run-7)|create|alice@example.com"}},
		{"connector=corp&action=update", []string{"sync: corp (run run-7)|update|alice@example.com"}},
		{"address=bob@example.com&action=register", []string{"admin: console:root@example.com|register|bob@example.com"}},
		{"address=alice@example.com&since=2000-01-01&until=", []string{"sync: corp (run run-7)|update|alice@example.com", "sync: corp (run run-7)|create|alice@example.com"}},
		{"address=alice@example.com&since=2000-01-01T00:00:00Z&until=2000-01-02", nil},
		{"address=alice@example.com&until=2000-01-01+10:30", nil},
		{"address=nobody@example.com", nil},
	}
	for _, c := range cases {
		p := b.get("/console/audit?" + c.query)
		wantStatus(t, p, http.StatusOK)
		if got := auditRows(p); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
		if c.want == nil && !strings.Contains(text(p.Find("table.audit tbody")), "No changes match these filters.") {
			t.Errorf("%s: no empty-list message", c.query)
		}
	}
	// The form keeps what was chosen.
	p := b.get("/console/audit?actor=sync&action=update&connector=corp&since=2000-01-01")
	if v, _ := p.Find(`#audit-action option[selected]`).Attr("value"); v != "update" {
		t.Errorf("selected action %q", v)
	}
	for id, want := range map[string]string{"#audit-actor": "sync", "#audit-connector": "corp", "#audit-since": "2000-01-01"} {
		if v, _ := p.Find(id).Attr("value"); v != want {
			t.Errorf("%s = %q, want %q", id, v, want)
		}
	}
	// An actor's and an address's links filter by them.
	for i, want := range map[int]string{1: "actor=sync%3Acorp", 3: "address=alice%40example.com"} {
		href, _ := p.Find("table.audit tbody tr td").Eq(i).Find("a").Attr("href")
		if u, err := url.Parse(href); err != nil || u.Path != "/console/audit" || u.Query().Encode() != want {
			t.Errorf("link in column %d: %q, want ?%s", i, href, want)
		}
	}
}

func TestAuditPagePaging(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h)
	b := h.admin("root@example.com")
	all := auditRows(b.get("/console/audit"))
	var paged []string
	path := "/console/audit?limit=2"
	for page := 1; path != ""; page++ {
		p := b.get(path)
		wantStatus(t, p, http.StatusOK)
		rows := auditRows(p)
		if len(rows) == 0 || len(rows) > 2 {
			t.Fatalf("page %d: %v", page, rows)
		}
		paged = append(paged, rows...)
		if got := text(p.Find(".pager span")); got != "Page "+strconv.Itoa(page) {
			t.Errorf("pager says %q on page %d", got, page)
		}
		if page > 1 && p.Find("#page-first").Length() != 1 {
			t.Errorf("page %d has no link to the newest entries", page)
		}
		next, ok := p.Find(`a[rel="next"]`).Attr("href")
		if !ok {
			break
		}
		if !strings.Contains(next, "limit=2") || !strings.Contains(next, "cursor=") {
			t.Errorf("next link %q loses the limit or has no cursor", next)
		}
		path = next
		if page > 20 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged rows %v\nwhole log %v", paged, all)
	}
	// The filters travel with the cursor.
	p := b.get("/console/audit?limit=1&actor=sync")
	next, _ := p.Find(`a[rel="next"]`).Attr("href")
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("actor") != "sync" {
		t.Fatalf("next link %q", next)
	}
	if got := auditRows(b.get(next)); !slices.Equal(got, []string{"sync: corp (run run-7)|create|alice@example.com"}) {
		t.Errorf("second page of the sync's changes: %v", got)
	}
}

func TestAuditPageRefusals(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h)
	b := h.admin("root@example.com")
	for _, c := range []struct{ query, field, id string }{
		{"since=yesterday", "since", "#audit-since"},
		{"until=%3Cb%3Esoon%3C%2Fb%3E", "until", "#audit-until"},
		{"limit=abc", "limit", ""},
		{"cursor=%21%21", "cursor", ""},
		{"action=explode", "action", "#audit-action"},
	} {
		p := b.get("/console/audit?" + c.query)
		wantStatus(t, p, http.StatusBadRequest)
		alert := p.Find(`#audit-problem[role="alert"]`)
		if alert.Length() != 1 || !strings.Contains(text(alert), c.field) {
			t.Errorf("%s: the service's message is not shown: %q", c.query, text(alert))
		}
		if len(auditRows(p)) != 0 || !strings.Contains(text(p.Find("table.audit tbody")), "see the message above") {
			t.Errorf("%s: rows listed with a refusal", c.query)
		}
		if p.Find("table.audit b, #audit-problem b").Length() != 0 {
			t.Errorf("%s: markup from the query rendered", c.query)
		}
		if c.id != "" {
			if v, _ := p.Find(c.id).Attr("aria-invalid"); v != "true" {
				t.Errorf("%s: %s is not marked invalid", c.query, c.id)
			}
		}
		if p.Find(`a[rel="next"]`).Length() != 0 {
			t.Errorf("%s: a next link with a refusal", c.query)
		}
	}
}

func TestAuditPageAccess(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h)
	// Signed out: to the sign-in page, and back here afterwards.
	res, err := h.browser().c.Get(h.srv.URL + "/console/audit?address=bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin?") ||
		!strings.Contains(loc, url.QueryEscape("/console/audit?address=bob@example.com")) {
		t.Errorf("signed out: %d %s", res.StatusCode, loc)
	}
	// Read-only administrators read it; a console role without users.read does not.
	v := h.catViewer("viewer@example.com")
	p := v.get("/console/audit")
	wantStatus(t, p, http.StatusOK)
	if p.Find(`nav a[href="/console/audit"]`).Length() != 1 {
		t.Errorf("no Audit log entry in the navigation of a read-only administrator")
	}
	if _, err := h.svc.AddRole(context.Background(), system, api.Role{Name: "Console only", Permissions: []string{"console"}}); err != nil {
		t.Fatal(err)
	}
	h.user("nobody@example.com", "Console only")
	nb := h.browser()
	nb.signIn("nobody@example.com", adminPassword)
	p = nb.get("/console/audit")
	wantStatus(t, p, http.StatusForbidden)
	if p.Find(`nav a[href="/console/audit"]`).Length() != 0 {
		t.Errorf("the Audit log is offered without users.read")
	}
	// The user page links to the user's history.
	p = v.get("/console/users/bob@example.com")
	wantStatus(t, p, http.StatusOK)
	if href, _ := p.Find(`a[aria-label="History of bob@example.com"]`).Attr("href"); !strings.EqualFold(href, "/console/audit?address=bob%40example.com") {
		t.Errorf("history link %q", href)
	}
}

func TestAuditPageRunFilter(t *testing.T) {
	h := newHarness(t)
	auditSeed(t, h) // run-7 created and updated alice
	ctx := context.Background()
	other := store.Actor{Kind: "sync", Name: "corp", RunID: "run-8"}
	if out, err := h.st.Apply(ctx, store.ApplyRequest{Actor: other, Changes: []store.Change{{Action: store.ActionCreate, Kind: "user",
		Address: "dave@example.com", Origin: "corp", Anchor: "d-1", Reason: "new in the source"}}}); err != nil || out[0].Err != nil {
		t.Fatalf("apply: %v %v", err, out)
	}
	b := h.admin("root@example.com")

	p := b.get("/console/audit?run=+run-8+")
	wantStatus(t, p, http.StatusOK)
	if got, want := auditRows(p), []string{"sync: corp (run run-8)|create|dave@example.com"}; !slices.Equal(got, want) {
		t.Errorf("run-8: %v, want %v", got, want)
	}
	if got := text(p.Find("h1")); got != "Changes of run run-8" {
		t.Errorf("heading %q", got)
	}
	if got := text(p.Find("table.audit caption")); got != "Changes, newest first; run run-8; page 1" {
		t.Errorf("caption %q", got)
	}
	// The form has the field, labelled, with the run typed.
	field := p.Find(`form.audit-filters input#audit-run[name="run"][type="text"]`)
	if v, _ := field.Attr("value"); field.Length() != 1 || v != "run-8" {
		t.Errorf("run field %d %q", field.Length(), v)
	}
	if got := text(p.Find(`label[for="audit-run"]`)); got != "Run" {
		t.Errorf("run label %q", got)
	}
	// With the other filters, and across pages.
	if got := auditRows(b.get("/console/audit?run=run-7&action=create")); !slices.Equal(got, []string{"sync: corp (run run-7)|create|alice@example.com"}) {
		t.Errorf("run-7 creates: %v", got)
	}
	p = b.get("/console/audit?run=run-7&limit=1")
	next, _ := p.Find(`a[rel="next"]`).Attr("href")
	if u, err := url.Parse(next); err != nil || u.Query().Get("run") != "run-7" {
		t.Fatalf("next link %q loses the run", next)
	}
	if got := auditRows(b.get(next)); !slices.Equal(got, []string{"sync: corp (run run-7)|create|alice@example.com"}) {
		t.Errorf("second page of run-7: %v", got)
	}
	if got := auditRows(b.get("/console/audit?run=nope")); len(got) != 0 {
		t.Errorf("unknown run: %v", got)
	}
}
