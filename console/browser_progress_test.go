package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestBrowserRunStages: a running run's page lists the engine's stages, the
// current one marked for screen readers, with its counts and a progress bar
// while changes are applied; the page keeps following the run. Axe finds
// nothing.
func TestBrowserRunStages(t *testing.T) {
	br := browsertest.New(t)
	run := finishedRun("r-live", "sample", api.RunRunning, 0)
	run.Finished, run.Counts = time.Time{}, map[string]int{}
	run.Progress = &api.RunProgress{Stage: api.StageApply, Read: 1200, Applied: 300, Total: 1200, Updated: run.Started}
	h := newHarnessWith(t, newRunsSyncer(run))
	h.user("ada@example.com", "Administrator")
	ctx := br.Tab(t)
	catMust(t, browsertest.Navigate(ctx, h.srv.URL+"/console/signin"))
	catMust(t, browsertest.SetValue(ctx, "#address", "ada@example.com"))
	catMust(t, browsertest.SetValue(ctx, "#password", adminPassword))
	catMust(t, browsertest.Click(ctx, `form[action="/console/signin"] button[type="submit"]`))
	// Not "h1": the sign-in page has one, and opening the run page while
	// the sign-in is still on its way aborts one of the two navigations.
	browsertest.WaitTrue(t, ctx, "signed in", `location.pathname != "/console/signin" && !!document.querySelector("form.signout")`)
	catMust(t, browsertest.Navigate(ctx, h.srv.URL+"/console/runs/r-live"))
	catWait(t, ctx, "ol.stages")

	if got := catText(t, ctx, "#run-progress p"); !strings.Contains(got, "applied 300/1200 changes") {
		t.Errorf("progress line %q", got)
	}
	states := catEval[string](t, ctx, `[...document.querySelectorAll("ol.stages li")].map(li => li.className).join(",")`)
	if states != "stage-done,stage-done,stage-current,stage-todo" {
		t.Errorf("stages %q", states)
	}
	if got := catText(t, ctx, `ol.stages li[aria-current="step"]`); !strings.HasPrefix(got, "Apply them to the store") {
		t.Errorf("current stage %q", got)
	}
	if v := catEval[string](t, ctx, `(p => p ? p.value + "/" + p.max : "none")(document.querySelector("progress"))`); v != "300/1200" {
		t.Errorf("progress bar %s", v)
	}
	if !catEval[bool](t, ctx, `!!document.querySelector("#run-progress[hx-trigger]")`) {
		t.Error("the page does not follow the running run")
	}
	browsertest.Screenshot(t, ctx, "runs-10-stages")
	browsertest.Axe(t, ctx)

	// The list says the same of the running run.
	catMust(t, browsertest.Navigate(ctx, h.srv.URL+"/console/runs"))
	catWait(t, ctx, "#run-r-live")
	if got := catText(t, ctx, "#run-r-live"); !strings.Contains(got, "applied 300/1200 changes") {
		t.Errorf("the list's row %q", got)
	}
}
