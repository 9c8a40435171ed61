package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestBrowserTwoClicksToWhy is issue 24's "Done when": from the overview an
// administrator finds why one named user was not created, and why the last
// run of a connector failed, in two clicks each at most. Each path starts
// on the overview and counts its clicks.
func TestBrowserTwoClicksToWhy(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	overviewRow(t, ctx, srv, "sample") // the start-up run has finished

	// Why was jordan.miles@partner-corp.org not created? Click 1: the
	// connector's last run; its page lists the quarantined record with the
	// reason and the fix.
	must(t, "open the overview", browsertest.Navigate(ctx, srv.URL+"/console/overview"))
	must(t, "click 1: the last run", browsertest.Click(ctx, "#connector-sample td.last-run a"))
	browsertest.WaitTrue(t, ctx, "the run's page", `!!document.querySelector("#run-quarantined")`)
	row := catEval[string](t, ctx, `[...document.querySelectorAll("#run-quarantined tbody tr")]
		.map(tr => tr.textContent).find(s => s.includes("uid=jordan.miles,")) || ""`)
	if row == "" {
		all := catEval[string](t, ctx, `document.querySelector("#run-quarantined").textContent`)
		t.Fatalf("the run page does not list jordan.miles@partner-corp.org as quarantined: %s", strings.Join(strings.Fields(all), " "))
	}
	for _, want := range []string{"partner-corp.org is not an internal domain", "add the domain"} {
		if !strings.Contains(row, want) {
			t.Errorf("the quarantined row lacks %q: %s", want, row)
		}
	}
	browsertest.Screenshot(t, ctx, "twoclicks-user-not-created")

	// Why did the last run fail? The source file goes; a run fails. Click 1:
	// the connector's last run (its status is the link); the page says why.
	if err := os.Remove(filepath.Join(srv.Dir, "directory.ldif")); err != nil {
		t.Fatal(err)
	}
	upNewAPI(t, srv).do("POST", "/v1/syncs", `{"wait": true}`, nil)
	for range 50 {
		if strings.Contains(overviewRow(t, ctx, srv, "sample"), "failed") {
			break
		}
	}
	must(t, "click 1: the failed run", browsertest.Click(ctx, "#connector-sample td.last-run a"))
	browsertest.WaitTrue(t, ctx, "the failed run's page", `!!document.querySelector("#run-status")`)
	status, _ := browsertest.Text(ctx, "#run-status")
	reasons, _ := browsertest.Text(ctx, "#run-reasons")
	if status != "failed" || !strings.Contains(reasons, "directory.ldif") {
		t.Errorf("the failed run's page: status %q, reasons %q (want failed, naming directory.ldif)", status, reasons)
	}
	browsertest.Screenshot(t, ctx, "twoclicks-run-failed")
	browsertest.Axe(t, ctx)
}
