package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// The runs pages in Chromium against a real `dirsync serve` on the
// quickstart's file connector: sync now (a dry run) from the runs page, the
// run page following the run live to its final counts, "Apply this run", the
// real run's page; the same without JavaScript through the Refresh link; the
// keyboard through the sync form. Axe runs on every page; every state is
// screenshotted.

// runsExtraPeople are added to the sample directory so that a run lasts long
// enough for the page to be seen following it.
const runsExtraPeople = 6000

// runsSource is the quickstart's sample directory with n more people.
func runsSource(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "examples", "sample-directory.ldif"))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.Write(b)
	for i := range n {
		fmt.Fprintf(&sb, `
dn: uid=bulk%05d,ou=people,dc=example,dc=com
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
uid: bulk%05d
cn: Bulk Person %05d
givenName: Bulk
sn: Person %05d
mail: bulk%05d@example.com
departmentNumber: Load
title: Tester
entryUUID: 00000000-0000-4000-8000-%012d
`, i, i, i, i, i, i)
	}
	return sb.String()
}

// runsSignIn signs in as the daemon's administrator and waits for the start page.
func runsSignIn(t *testing.T, ctx context.Context, s *served) {
	t.Helper()
	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/signin"))
	catMust(t, browsertest.SetValue(ctx, "#address", s.Admin))
	catMust(t, browsertest.SetValue(ctx, "#password", adminPassword))
	catMust(t, browsertest.Click(ctx, `form[action="/console/signin"] button[type="submit"]`))
	browsertest.WaitTrue(t, ctx, "signed in", `location.pathname != "/console/signin" && !!document.querySelector("form.signout")`)
}

func runsSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "runs-"+name)
	browsertest.Axe(t, ctx)
}

// runCount is the count named name on a run page (-1 when it is not shown).
func runCount(t *testing.T, ctx context.Context, name string) int {
	t.Helper()
	return catEval[int](t, ctx, `(() => { for (const li of document.querySelectorAll("#run-counts li")) {
		if (li.querySelector(".count-name").textContent.trim() == `+strconv.Quote(name)+`) return parseInt(li.querySelector(".count-value").textContent, 10) }
		return -1 })()`)
}

func TestBrowserRuns(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{Source: runsSource(t, runsExtraPeople)})
	ctx := br.Tab(t)
	runsSignIn(t, ctx, srv)

	// The runs page from the navigation: the daemon's first run (a full
	// reconcile at start), followed until it has finished.
	catMust(t, browsertest.Click(ctx, `nav[aria-label="Main"] a[href="/console/runs"]`))
	browsertest.WaitTrue(t, ctx, "runs page", `location.pathname == "/console/runs" && !!document.querySelector("#sync-go")`)
	if got := catText(t, ctx, "h1"); got != "Runs" {
		t.Errorf("heading %q", got)
	}
	for i := 0; !catEval[bool](t, ctx, `!!document.querySelector("table.runs tbody tr[id] .badge.status-ok")`); i++ {
		if i > 60 {
			t.Fatal("the daemon's first run did not finish")
		}
		time.Sleep(500 * time.Millisecond)
		catMust(t, browsertest.Navigate(ctx, srv.URL+"/console/runs"))
		catWait(t, ctx, "#sync-go")
	}
	runsSnap(t, ctx, "01-first-run")
	// The source changes: a dry run plans the new titles, and the real run applies them.
	src := filepath.Join(srv.Dir, "directory.ldif")
	b, err := os.ReadFile(src)
	catMust(t, err)
	catMust(t, os.WriteFile(src, []byte(strings.ReplaceAll(string(b), "title: Tester\n", "title: Senior Tester\n")), 0o600))

	// The keyboard: from the connector, Tab goes through the choices to the
	// button; arrow keys pick the dry run.
	catEval[bool](t, ctx, `(document.querySelector("#sync-connector").focus(), true)`)
	catMust(t, browsertest.SetValue(ctx, "#sync-connector", "sample"))
	var path []string
	for range 6 {
		catMust(t, browsertest.PressTab(ctx))
		f, err := browsertest.Focused(ctx)
		catMust(t, err)
		path = append(path, f)
		if strings.HasPrefix(f, "button#sync-go") {
			break
		}
		if strings.Contains(f, `[name="dry_run"]`) && !catEval[bool](t, ctx, `document.querySelector('input[name="dry_run"][value="1"]').checked`) {
			catMust(t, browsertest.PressKey(ctx, kb.ArrowDown)) // the dry run
		}
	}
	if last := path[len(path)-1]; !strings.HasPrefix(last, "button#sync-go") {
		t.Fatalf("Tab from the connector never reached Sync now: %v", path)
	}
	if !catEval[bool](t, ctx, `document.querySelector('input[name="dry_run"][value="1"]').checked`) {
		t.Fatalf("the arrow key did not choose the dry run (focus path %v)", path)
	}
	start := time.Now()
	catMust(t, browsertest.PressKey(ctx, kb.Enter))

	// The answer at once, then the page follows the run.
	browsertest.WaitTrue(t, ctx, "dry run page", `location.pathname.startsWith("/console/runs/") && !!document.querySelector(".flash")`)
	if got := catText(t, ctx, ".flash"); got != "Dry run of sample started." {
		t.Errorf("flash %q", got)
	}
	dryURL := catEval[string](t, ctx, "location.href")
	followed := catEval[bool](t, ctx, `!!document.querySelector("#run-progress[hx-trigger]")`)
	if followed {
		if got := catText(t, ctx, "#run-progress"); !strings.Contains(got, "running") {
			t.Errorf("progress %q", got)
		}
		runsSnap(t, ctx, "02-dry-run-live")
		// Marks this document: a reload would lose the mark, the htmx swap keeps it.
		catEval[bool](t, ctx, `(window.runsMark = true)`)
	} else {
		t.Logf("the dry run ended before its page loaded (%s): the live part was not seen", time.Since(start))
	}
	browsertest.WaitTrue(t, ctx, "dry run finished", `document.querySelector("#run-status").textContent.trim() == "dry-run" && !!document.querySelector("#run-counts")`)
	t.Logf("dry run page final after %s", time.Since(start))
	if followed && !catEval[bool](t, ctx, `window.runsMark === true`) {
		t.Error("the page reloaded instead of following the run")
	}
	if n := runCount(t, ctx, "update"); n != runsExtraPeople {
		t.Errorf("dry run plans %d updates, want %d", n, runsExtraPeople)
	}
	if n := runCount(t, ctx, "quarantined"); n != 2 {
		t.Errorf("dry run quarantines %d, want the sample's 2", n)
	}
	if n := catEval[int](t, ctx, `document.querySelectorAll("#run-quarantined tbody tr").length`); n != 2 {
		t.Errorf("%d quarantined rows", n)
	}
	if fix := catText(t, ctx, "#run-quarantined tbody tr td:nth-child(4)"); fix == "" {
		t.Error("a quarantined record without its fix")
	}
	if got := catText(t, ctx, "#operations-title"); !strings.HasPrefix(got, "Operations (") {
		t.Errorf("operations heading %q", got)
	}
	if n := catEval[int](t, ctx, `document.querySelectorAll("#run-ops tbody tr").length`); n != 100 {
		t.Errorf("operations page 1: %d rows, want 100", n)
	}
	if got := catText(t, ctx, "#run-ops tbody tr:first-child td:nth-child(3)"); got != "planned" {
		t.Errorf("a dry run's outcome %q", got)
	}
	if got := catText(t, ctx, "#run-ops tbody tr:first-child ul.changes"); got != "title: Tester → changed to Senior Tester" {
		t.Errorf("a dry run's change %q", got)
	}
	runsSnap(t, ctx, "03-dry-run")

	// Filter the operations: none failed.
	catMust(t, browsertest.SetValue(ctx, "#ops-outcome", "failed"))
	catMust(t, browsertest.Click(ctx, "#ops-go"))
	browsertest.WaitTrue(t, ctx, "filtered ops", `location.search.includes("outcome=failed") && document.querySelector("#run-ops tbody").textContent.includes("No operations match")`)
	runsSnap(t, ctx, "04-ops-filtered")
	catMust(t, browsertest.Navigate(ctx, dryURL))
	catWait(t, ctx, "#run-apply")

	// Apply this run: the real run's page, followed to its counts.
	catMust(t, browsertest.Click(ctx, "#run-apply"))
	browsertest.WaitTrue(t, ctx, "applied run page", `location.href != `+strconv.Quote(dryURL)+` && location.pathname.startsWith("/console/runs/") && !!document.querySelector(".flash")`)
	if got := catText(t, ctx, ".flash"); !strings.HasPrefix(got, "Applying dry run ") || !strings.HasSuffix(got, "Sync of sample started.") {
		t.Errorf("apply flash %q", got)
	}
	if catEval[bool](t, ctx, `!!document.querySelector("#run-progress[hx-trigger]")`) {
		runsSnap(t, ctx, "05-real-run-live")
	}
	browsertest.WaitTrue(t, ctx, "real run finished", `["ok", "partial", "held"].includes(document.querySelector("#run-status").textContent.trim()) && !!document.querySelector("#run-counts")`)
	if got := catText(t, ctx, "dl.run-facts"); !strings.Contains(got, "Real run") {
		t.Errorf("the applied run: %q", got)
	}
	if n := runCount(t, ctx, "update"); n != runsExtraPeople {
		t.Errorf("the real run updated %d, want %d", n, runsExtraPeople)
	}
	if got := catText(t, ctx, "#run-ops tbody tr:first-child td:nth-child(3)"); got != "applied" {
		t.Errorf("a real run's outcome %q", got)
	}
	if catEval[bool](t, ctx, `!!document.querySelector("#run-apply")`) {
		t.Error("a real run offers to apply it")
	}
	runsSnap(t, ctx, "06-real-run")

	// The list: both runs, newest first, each linking its page.
	catMust(t, browsertest.Click(ctx, `nav[aria-label="Main"] a[href="/console/runs"]`))
	browsertest.WaitTrue(t, ctx, "runs list", `document.querySelectorAll("table.runs tbody tr[id]").length >= 2`)
	statuses := catEval[[]string](t, ctx, `Array.from(document.querySelectorAll("table.runs tbody tr[id] td:nth-child(3) .badge")).map(b => b.textContent.trim())`)
	if len(statuses) != 3 || statuses[1] != "dry-run" {
		t.Errorf("run statuses %v, want the real run, the dry run, the first run", statuses)
	}
	runsSnap(t, ctx, "07-list")

	// Without JavaScript: sync now, then the Refresh link to the final counts.
	nojs := br.NoScriptTab(t)
	catMust(t, browsertest.Navigate(nojs, srv.URL+"/console/runs"))
	browsertest.WaitTrue(t, nojs, "no-JS runs or sign-in", `!!document.querySelector("#sync-go, #address")`)
	if catEval[bool](t, nojs, `!!document.querySelector("#address")`) {
		catMust(t, browsertest.SetValue(nojs, "#address", srv.Admin))
		catMust(t, browsertest.SetValue(nojs, "#password", adminPassword))
		catMust(t, browsertest.Click(nojs, `form[action="/console/signin"] button[type="submit"]`))
		catWait(t, nojs, "#connectors-title")
		catMust(t, browsertest.Navigate(nojs, srv.URL+"/console/runs"))
	}
	catWait(t, nojs, "#sync-go")
	catMust(t, browsertest.SetValue(nojs, "#sync-connector", "sample"))
	catMust(t, browsertest.Click(nojs, `input[name="mode"][value="full"]`))
	catMust(t, browsertest.Click(nojs, "#sync-go"))
	browsertest.WaitTrue(t, nojs, "no-JS run page", `location.pathname.startsWith("/console/runs/") && !!document.querySelector("#run-status")`)
	if got := catText(t, nojs, ".flash"); got != "Sync of sample started." {
		t.Errorf("no-JS flash %q", got)
	}
	sawRefresh := false
	for i := 0; catEval[bool](t, nojs, `!!document.querySelector("#run-refresh")`); i++ {
		sawRefresh = true
		if i == 0 {
			runsSnap(t, nojs, "08-nojs-live")
		}
		if i > 60 {
			t.Fatal("the run never finished through the Refresh link")
		}
		time.Sleep(500 * time.Millisecond)
		catMust(t, browsertest.Click(nojs, "#run-refresh"))
		browsertest.WaitTrue(t, nojs, "refreshed", `document.readyState == "complete" && !!document.querySelector("#run-status")`)
	}
	t.Logf("no-JS: Refresh link seen: %v", sawRefresh)
	if got := catText(t, nojs, "#run-status"); got != "ok" && got != "partial" {
		t.Errorf("no-JS full run status %q", got)
	}
	if got := catText(t, nojs, "dl.run-facts"); !strings.Contains(got, "Everything (full)") {
		t.Errorf("no-JS run facts %q", got)
	}
	runsSnap(t, nojs, "09-nojs-final")
}
