package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// Held operations and explain in Chromium against a real `dirsync serve` on
// the quickstart's sample directory: five people leave the directory, the
// brakes (sync.max_destructive 2) hold their disables, three are approved
// through the dialog, the other two rejected through the no-JavaScript
// confirmation page, and the users page agrees. Then a quarantined user and
// an out-of-scope one are explained. Axe runs on every state; every state is
// screenshotted.

// holdsLeavers are the sample directory's people the test removes.
var holdsLeavers = []string{"ethan.tanaka", "liam.smith", "noah.garcia", "olivia.rossi", "sofia.haddad"}

// holdsServiceAccount is an entry the openldap preset's classes do not admit:
// out of scope.
const holdsServiceAccount = `
dn: uid=backup.bot,ou=people,dc=example,dc=com
objectClass: top
objectClass: account
objectClass: extensibleObject
uid: backup.bot
mail: backup.bot@example.com
entryUUID: 6a0c4e2e-1b7e-4f39-9d2a-6f0e5b9d7c11
`

// withoutEntries is an LDIF without the entries of the uids.
func withoutEntries(ldif string, uids []string) string {
	var keep []string
	for _, e := range strings.Split(ldif, "\n\n") {
		if !slices.ContainsFunc(uids, func(u string) bool { return strings.HasPrefix(strings.TrimSpace(e), "dn: uid="+u+",") }) {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, "\n\n")
}

func holdsSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "holds-"+name)
	browsertest.Axe(t, ctx)
}

// holdsRun waits for the sample connector's latest run to end.
func holdsRun(t *testing.T, a upAPI) {
	t.Helper()
	var runs struct {
		Runs []struct {
			Status string `json:"status"`
		} `json:"runs"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.do(http.MethodGet, "/v1/runs?connector=sample", "", &runs)
		if len(runs.Runs) > 0 && runs.Runs[0].Status != "running" && runs.Runs[0].Status != "pending" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %+v", runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var holdsAddr = regexp.MustCompile(`[a-z.]+@example\.com`)

func TestBrowserHeldOperationsAndExplain(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	sample, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "examples", "sample-directory.ldif"))
	upDo(t, err)
	source := strings.TrimRight(string(sample), "\n") + "\n" + holdsServiceAccount
	srv := startServe(t, serveOptions{Source: source})
	a := upNewAPI(t, srv)
	holdsRun(t, a)

	// The leavers go; the brakes drop to 2 and one missing run disables.
	upDo(t, os.WriteFile(filepath.Join(srv.Dir, "directory.ldif"), []byte(withoutEntries(source, holdsLeavers)), 0o600))
	cfg, err := os.ReadFile(srv.Config)
	upDo(t, err)
	braked := strings.Replace(string(cfg), "  soft_match: true\n", "  soft_match: true\n  max_destructive: 2\n  missing_runs: 1\n", 1)
	upDo(t, os.WriteFile(srv.Config, []byte(braked), 0o600))
	upDo(t, syscall.Kill(srv.pid, syscall.SIGHUP))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(srv.Logs(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not reload its configuration")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.do(http.MethodPost, "/v1/syncs", `{"connectors":["sample"],"full":true,"wait":true}`, nil)
	var held struct {
		Holds []struct {
			ID, Address, Action string
		} `json:"holds"`
	}
	a.do(http.MethodGet, "/v1/holds?status=pending", "", &held)
	var heldAddrs []string
	for _, h := range held.Holds {
		heldAddrs = append(heldAddrs, h.Address)
	}
	slices.Sort(heldAddrs)
	var want []string
	for _, u := range holdsLeavers {
		want = append(want, u+"@example.com")
	}
	if !slices.Equal(heldAddrs, want) {
		t.Fatalf("held %q, want the leavers %q", heldAddrs, want)
	}

	// Approve three through the dialog, the keyboard ticking one.
	ctx := br.Tab(t)
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/holds"))
	upDo(t, browsertest.WaitVisible(ctx, "section.hold-group"))
	if got := upText(t, ctx, "section.hold-group h2"); got != "sample · example.com · run "+upText(t, ctx, "section.hold-group h2 code") {
		t.Errorf("the group's heading %q", got)
	}
	if got := upText(t, ctx, "section.hold-group .hold-reason"); !strings.Contains(got, "max_destructive") {
		t.Errorf("the group does not say why it was held: %q", got)
	}
	holdsSnap(t, ctx, "pending")
	approve := []string{"ethan.tanaka@example.com", "liam.smith@example.com", "noah.garcia@example.com"}
	upDo(t, browsertest.Click(ctx, `input[aria-label="Select disable ethan.tanaka@example.com"]`))
	upDo(t, browsertest.Click(ctx, `input[aria-label="Select disable liam.smith@example.com"]`))
	upDo(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`input[aria-label="Select disable noah.garcia@example.com"]`))))
	upDo(t, browsertest.PressKey(ctx, " "))
	upDo(t, browsertest.Click(ctx, "#holds-approve"))
	browsertest.WaitTrue(t, ctx, "the decision dialog opens", `document.querySelector("#holds-dialog").open`)
	if got := upText(t, ctx, "#holds-dialog-summary"); got != "3 held operations will be applied: 3 users will be disabled." {
		t.Errorf("the dialog says %q", got)
	}
	if f, err := browsertest.Focused(ctx); err != nil || !strings.Contains(f, "holds-dialog-title") {
		t.Errorf("focus in the dialog: %q %v", f, err)
	}
	holdsSnap(t, ctx, "approve-dialog")
	// Escape closes it and nothing is decided; then again, and approve.
	upDo(t, browsertest.PressKey(ctx, kb.Escape))
	browsertest.WaitTrue(t, ctx, "Escape closes the dialog", `!document.querySelector("#holds-dialog").open`)
	upDo(t, browsertest.Click(ctx, "#holds-approve"))
	browsertest.WaitTrue(t, ctx, "the decision dialog opens again", `document.querySelector("#holds-dialog").open`)
	upDo(t, browsertest.Click(ctx, "#holds-dialog-submit"))
	upDo(t, browsertest.WaitVisible(ctx, "#holds-outcome"))
	if got := upText(t, ctx, "#holds-outcome"); got != "3 applied." {
		t.Errorf("the outcome %q", got)
	}
	if got := upText(t, ctx, "table.hold-results tbody"); strings.Count(got, "applied") != 3 {
		t.Errorf("the results %q", got)
	}
	holdsSnap(t, ctx, "approved")

	// Reject the rest without JavaScript: the group's button, the confirmation page.
	// (The tab shares the browser's cookies: the administrator is signed in.)
	nctx := br.NoScriptTab(t)
	upDo(t, browsertest.Navigate(nctx, srv.URL+"/console/holds"))
	upDo(t, browsertest.WaitVisible(nctx, "section.hold-group"))
	if got := upText(t, nctx, "#holds-count"); got != "2 operations pending, in 1 group." {
		t.Errorf("after approving three: %q", got)
	}
	rejectFirstGroupNoJS(t, nctx, 2, "")
	upDo(t, browsertest.Navigate(nctx, srv.URL+"/console/holds?status=rejected"))
	upDo(t, browsertest.WaitVisible(nctx, "section.hold-group"))
	if got := upText(t, nctx, "main"); !strings.Contains(got, "by console:"+srv.Admin) {
		t.Errorf("the rejected list does not say who decided: %q", got)
	}
	holdsSnap(t, nctx, "rejected-list")

	// The users page agrees: the approved three are disabled, the rejected two not.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?"+url.Values{"registration": {"all"}, "status": {"disabled"},
		"domain": {"example.com"}, "limit": {"100"}}.Encode()))
	upDo(t, browsertest.WaitVisible(ctx, "table.users"))
	disabled := holdsAddr.FindAllString(upText(t, ctx, "table.users tbody"), -1)
	for _, u := range approve {
		if !slices.Contains(disabled, u) {
			t.Errorf("%s was approved but is not disabled: %q", u, disabled)
		}
	}
	for _, u := range []string{"olivia.rossi@example.com", "sofia.haddad@example.com"} {
		if slices.Contains(disabled, u) {
			t.Errorf("%s was rejected but is disabled", u)
		}
	}

	// Explain a quarantined user, with the keyboard: type, Enter.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/explain"))
	upDo(t, browsertest.WaitVisible(ctx, "#explain-user"))
	upDo(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#explain-user"))))
	upDo(t, browsertest.SendKeys(ctx, "#explain-user", "jordan.miles@partner-corp.org"+kb.Enter))
	upDo(t, browsertest.WaitVisible(ctx, "#stage-normalise"))
	if got := upText(t, ctx, "#stage-normalise"); got != "3. Normalise: quarantined" {
		t.Errorf("jordan.miles: %q", got)
	}
	if got := upText(t, ctx, "#explain-quarantined"); !strings.Contains(got, "partner-corp.org") || !strings.Contains(got, "Fix:") {
		t.Errorf("the quarantine's reason and fix: %q", got)
	}
	if loc := usersJS[string](t, ctx, "location.search"); !strings.Contains(loc, "user=jordan.miles%40partner-corp.org") {
		t.Errorf("the explanation's address is not shareable: %q", loc)
	}
	holdsSnap(t, ctx, "explain-quarantined")

	// An out-of-scope one: a service account the preset's classes skip.
	upDo(t, browsertest.SetValue(ctx, "#explain-user", "backup.bot@example.com"))
	upDo(t, browsertest.Click(ctx, "#explain-go"))
	browsertest.WaitTrue(t, ctx, "the out-of-scope explanation", `(document.querySelector("#stage-scope")||{}).textContent === "2. Scope: out of scope"`)
	if got := upText(t, ctx, "#stage-normalise"); got != "3. Normalise: skipped" {
		t.Errorf("the normalise stage of an out-of-scope object: %q", got)
	}
	if got := upText(t, ctx, "#explain-summary"); !strings.Contains(got, "out of scope") {
		t.Errorf("the plan of an out-of-scope object: %q", got)
	}
	holdsSnap(t, ctx, "explain-out-of-scope")

	// Not in the source, in the API's words (without JavaScript too).
	upDo(t, browsertest.Navigate(nctx, srv.URL+"/console/explain?connector=sample&user=olivia.rossi%40example.com"))
	upDo(t, browsertest.WaitVisible(nctx, "#explain-problem"))
	if got := upText(t, nctx, "#explain-problem"); !strings.HasPrefix(got, "Not in the source:") || !strings.Contains(got, "olivia.rossi@example.com") {
		t.Errorf("a leaver explained: %q", got)
	}
	holdsSnap(t, nctx, "explain-not-in-source")
}

// rejectFirstGroupNoJS rejects the first group's held operations through the
// confirmation page (JavaScript off), checking that it counts n and that the
// outcome says so; its screenshots are named with prefix.
func rejectFirstGroupNoJS(t *testing.T, nctx context.Context, n int, prefix string) {
	t.Helper()
	upDo(t, browsertest.Click(nctx, "#group-1-reject"))
	upDo(t, browsertest.WaitVisible(nctx, "#holds-summary"))
	want := fmt.Sprintf("%d held operations will be rejected: no user will be disabled or deleted, and the store is left as it is.", n)
	if got := upText(t, nctx, "#holds-summary"); got != want {
		t.Errorf("the confirmation says %q", got)
	}
	holdsSnap(t, nctx, prefix+"reject-confirm-nojs")
	upDo(t, browsertest.Click(nctx, "#holds-confirm"))
	upDo(t, browsertest.WaitVisible(nctx, "#holds-outcome"))
	if got := upText(t, nctx, "#holds-outcome"); got != fmt.Sprintf("%d rejected.", n) {
		t.Errorf("the outcome %q", got)
	}
	holdsSnap(t, nctx, prefix+"rejected-nojs")
}
