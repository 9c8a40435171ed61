package console_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/store"
)

// The audit log page in Chromium against a real `dirsync serve`: from the
// navigation, filtered through the form, a user's history from the user page,
// the next page, a refused filter, and markup in values kept inert. Axe runs
// on every state; every state is screenshotted.

// auditBrowserSeed: hx@example.org, created by a sync with markup in its
// title, then changed by an administrator four times, and registered (a
// password, which the log redacts).
func auditBrowserSeed(t *testing.T, svc *api.Service) {
	ctx := context.Background()
	if _, err := svc.AddDomain(ctx, system, api.Domain{Name: "example.org"}); err != nil {
		t.Fatalf("add example.org: %v", err)
	}
	sync := store.Actor{Kind: "sync", Name: "corp", RunID: "run-42"}
	if _, err := svc.CreateUser(ctx, sync, api.CreateUser{Address: "hx@example.org", DisplayName: "Hex Hacker",
		Title: `<img src=x onerror="document.title='pwned'">`}); err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Kind: "admin", Name: "console:admin@example.com"}
	for _, d := range []string{"Ops", "Sales", "Legal", "Finance"} {
		if _, err := svc.UpdateUser(ctx, admin, "hx@example.org", api.UpdateUser{Department: &d}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Register(ctx, admin, "hx@example.org", api.Register{Password: "Hidden-Horse-Battery-5",
		Question: "First pet?", Answer: "Rex"}); err != nil {
		t.Fatal(err)
	}
}

func auditSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "audit-"+name)
	browsertest.Axe(t, ctx)
}

// auditActions are the Action column of the table's rows, in order.
func auditActions(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return catEval[[]string](t, ctx, `Array.from(document.querySelectorAll("table.audit tbody tr td:nth-child(3)")).map(td => td.textContent.trim())`)
}

func TestBrowserAudit(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{Setup: auditBrowserSeed})
	ctx := br.Tab(t)
	catSignIn(t, ctx, srv)

	// From the navigation: the whole log, newest first.
	catMust(t, browsertest.Click(ctx, `nav[aria-label="Main"] a[href="/console/audit"]`))
	browsertest.WaitTrue(t, ctx, "audit log", `location.pathname == "/console/audit" && !!document.querySelector("table.audit tbody tr td:nth-child(6)")`)
	if got := catText(t, ctx, "h1"); got != "Audit log" {
		t.Errorf("heading %q", got)
	}
	auditSnap(t, ctx, "01-all")

	// The form: hx@example.org's updates.
	catMust(t, browsertest.SetValue(ctx, "#audit-address", "hx@example.org"))
	catMust(t, browsertest.SetValue(ctx, "#audit-action", "update"))
	catMust(t, browsertest.Click(ctx, "#audit-go"))
	browsertest.WaitTrue(t, ctx, "filtered", `document.querySelector("h1").textContent.includes("History of hx@example.org") && location.search.includes("action=update")`)
	if got := auditActions(t, ctx); !slices.Equal(got, []string{"update", "update", "update", "update"}) {
		t.Errorf("hx's updates: %v", got)
	}
	if got := catText(t, ctx, "table.audit tbody tr:first-child ul.changes"); got != "department: Legal → changed to Finance" {
		t.Errorf("newest change %q", got)
	}
	auditSnap(t, ctx, "02-filtered")

	// The user page's History link: everything about the user, markup inert,
	// the password redacted.
	catMust(t, browsertest.Navigate(ctx, srv.URL+"/console/users/hx@example.org"))
	catMust(t, browsertest.Click(ctx, `a[aria-label="History of hx@example.org"]`))
	browsertest.WaitTrue(t, ctx, "history", `location.search == "?address=hx%40example.org" && !!document.querySelector("table.audit tbody tr td:nth-child(6)")`)
	if got := auditActions(t, ctx); !slices.Equal(got, []string{"register", "update", "update", "update", "update", "create"}) {
		t.Errorf("hx's history: %v", got)
	}
	if n := catEval[int](t, ctx, `document.querySelectorAll("main img").length`); n != 0 || catEval[string](t, ctx, "document.title") == "pwned" {
		t.Errorf("markup in a value became an element (%d images)", n)
	}
	created := catText(t, ctx, "table.audit tbody tr:last-child ul.changes")
	if !strings.Contains(created, `title: (none) → changed to <img src=x onerror="document.title='pwned'">`) {
		t.Errorf("the create's title is not shown as text: %q", created)
	}
	if body := catText(t, ctx, "main"); strings.Contains(body, "Hidden-Horse-Battery-5") || strings.Contains(body, "Rex") {
		t.Errorf("a secret is shown")
	}
	auditSnap(t, ctx, "03-history")

	// Pages of two: the next page's link, and back to the newest.
	catMust(t, browsertest.Navigate(ctx, srv.URL+"/console/audit?address=hx@example.org&limit=2"))
	catMust(t, browsertest.Click(ctx, `a[rel="next"]`))
	browsertest.WaitTrue(t, ctx, "page 2", `document.querySelector(".pager").textContent.includes("Page 2")`)
	if got := auditActions(t, ctx); !slices.Equal(got, []string{"update", "update"}) {
		t.Errorf("page 2: %v", got)
	}
	auditSnap(t, ctx, "04-page2")
	catMust(t, browsertest.Click(ctx, `a[rel="next"]`))
	browsertest.WaitTrue(t, ctx, "page 3", `document.querySelector(".pager").textContent.includes("Page 3") && !document.querySelector('a[rel="next"]')`)
	if got := auditActions(t, ctx); !slices.Equal(got, []string{"update", "create"}) {
		t.Errorf("page 3: %v", got)
	}
	catMust(t, browsertest.Click(ctx, "#page-first"))
	browsertest.WaitTrue(t, ctx, "page 1", `document.querySelector(".pager").textContent.includes("Page 1")`)

	// A refused filter: the service's message, the field marked.
	catMust(t, browsertest.SetValue(ctx, "#audit-since", "yesterday"))
	catMust(t, browsertest.Click(ctx, "#audit-go"))
	browsertest.WaitTrue(t, ctx, "refusal", `!!document.querySelector("#audit-problem") && document.querySelector("#audit-since").getAttribute("aria-invalid") == "true"`)
	if got := catText(t, ctx, "#audit-problem"); !strings.Contains(got, "since") || !strings.Contains(got, "RFC 3339") {
		t.Errorf("refusal message %q", got)
	}
	auditSnap(t, ctx, "05-refused")

	// Without JavaScript the form and links are plain GETs.
	// (The tab shares the browser's cookies: it may be signed in already.)
	nojs := br.NoScriptTab(t)
	catMust(t, browsertest.Navigate(nojs, srv.URL+"/console/audit"))
	browsertest.WaitTrue(t, nojs, "no-JS audit or sign-in", `!!document.querySelector("#audit-actor, #address")`)
	if catEval[bool](t, nojs, `!!document.querySelector("#address")`) {
		catMust(t, browsertest.SetValue(nojs, "#address", srv.Admin))
		catMust(t, browsertest.SetValue(nojs, "#password", adminPassword))
		catMust(t, browsertest.Click(nojs, `form[action="/console/signin"] button[type="submit"]`))
		browsertest.WaitTrue(t, nojs, "no-JS audit", `!!document.querySelector("#audit-actor")`)
	}
	catMust(t, browsertest.SetValue(nojs, "#audit-actor", "sync:corp"))
	catMust(t, browsertest.Click(nojs, "#audit-go"))
	browsertest.WaitTrue(t, nojs, "no-JS filter", `location.search.includes("actor=sync%3Acorp") && !!document.querySelector("table.audit tbody tr td:nth-child(6)")`)
	if got := auditActions(t, nojs); !slices.Equal(got, []string{"create"}) {
		t.Errorf("no-JS sync:corp: %v", got)
	}
}
