package console_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// The Domains, Roles and Import pages in Chromium, against a real
// `dirsync serve`.

// catSignIn signs in through the sign-in form, waits for the start page
// (the overview), then opens the domains.
func catSignIn(t *testing.T, ctx context.Context, s *served) {
	t.Helper()
	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/signin"))
	catMust(t, browsertest.SetValue(ctx, "#address", s.Admin))
	catMust(t, browsertest.SetValue(ctx, "#password", adminPassword))
	catMust(t, browsertest.Click(ctx, `form[action="/console/signin"] button[type="submit"]`))
	catWait(t, ctx, "#connectors-title")
	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/domains"))
	catWait(t, ctx, "table.domains")
}

// catWait waits for sel, for at most a minute: a guard against a page that
// never comes, not a timing assertion.
func catWait(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	catMust(t, browsertest.WaitVisible(wctx, sel))
}

func catMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// catText is the text of the first element matching sel, spaces collapsed.
func catText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := browsertest.Text(ctx, sel)
	catMust(t, err)
	return strings.Join(strings.Fields(s), " ")
}

func catEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	catMust(t, err)
	return v
}

func TestBrowserDomainsAndRoles(t *testing.T) {
	s := startServe(t, serveOptions{})
	b := browsertest.New(t)
	ctx := b.Tab(t)
	catSignIn(t, ctx, s)

	// The domains with their user counts (the daemon's first sync of the
	// sample directory may still be adding users: any count will do).
	if got := catText(t, ctx, `table.domains tbody tr:first-child`); !regexp.MustCompile(`^example\.com \d+ New address in example\.com$`).MatchString(got) {
		t.Errorf("first domain row %q", got)
	}
	browsertest.Screenshot(t, ctx, "catalog-domains")
	browsertest.Axe(t, ctx)

	// Add a domain.
	catMust(t, browsertest.SetValue(ctx, "#domain-name", "example.org"))
	catMust(t, browsertest.Click(ctx, `form[action="/console/domains"] button[type="submit"]`))
	catWait(t, ctx, ".flash")
	if got := catText(t, ctx, ".flash"); got != "Added the domain example.org." {
		t.Errorf("flash %q", got)
	}
	if n := catEval[int](t, ctx, `[...document.querySelectorAll("table.domains tbody th a")].filter(a => a.textContent === "example.org").length`); n != 1 {
		t.Errorf("example.org listed %d times", n)
	}
	browsertest.Screenshot(t, ctx, "catalog-domain-added")
	browsertest.Axe(t, ctx)

	// A refused domain: the message next to the field, the typed value kept.
	catMust(t, browsertest.SetValue(ctx, "#domain-name", "example.org"))
	catMust(t, browsertest.Click(ctx, `form[action="/console/domains"] button[type="submit"]`))
	catWait(t, ctx, "#domain-name-error")
	if got := catText(t, ctx, "#domain-name-error"); !strings.Contains(got, "already an internal domain") {
		t.Errorf("field error %q", got)
	}
	browsertest.Screenshot(t, ctx, "catalog-domain-refused")
	browsertest.Axe(t, ctx)

	// A domain's users link opens the users page filtered to it.
	href := catEval[string](t, ctx, `document.querySelector("table.domains tbody th a").getAttribute("href")`)
	if href != "/console/users?domain=example.com&registration=all" {
		t.Errorf("users link %q", href)
	}

	// The roles, from the navigation.
	catMust(t, browsertest.Click(ctx, `nav a[href="/console/roles"]`))
	catWait(t, ctx, "table.roles")
	if got := catText(t, ctx, `table.roles tbody tr:nth-child(2) td:last-child`); got != "Support contact" {
		t.Errorf("Administrator (second role) support contact cell %q", got)
	}
	browsertest.Screenshot(t, ctx, "catalog-roles")
	browsertest.Axe(t, ctx)

	// Add a role with two permissions.
	catMust(t, browsertest.SetValue(ctx, "#role-name", "Helpdesk"))
	catMust(t, browsertest.Click(ctx, `#perm-users\.read`))
	catMust(t, browsertest.Click(ctx, `#perm-console`))
	catMust(t, browsertest.Click(ctx, `form[action="/console/roles"] button[type="submit"]`))
	catWait(t, ctx, ".flash")
	if got := catText(t, ctx, ".flash"); got != "Added the role Helpdesk." {
		t.Errorf("flash %q", got)
	}
	row := catEval[string](t, ctx, `(() => { const th = [...document.querySelectorAll("table.roles tbody th")].find(th => th.textContent.trim() === "Helpdesk");
		return th ? th.parentElement.innerText.replace(/\s+/g, " ").trim() : "" })()`)
	if row != "Helpdesk console users.read No" {
		t.Errorf("new role row %q", row)
	}
	browsertest.Screenshot(t, ctx, "catalog-role-added")
	browsertest.Axe(t, ctx)
}

func TestBrowserImport(t *testing.T) {
	s := startServe(t, serveOptions{})
	b := browsertest.New(t)
	ctx := b.Tab(t)
	catSignIn(t, ctx, s)

	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/import"))
	catWait(t, ctx, "#import-form")
	browsertest.Screenshot(t, ctx, "catalog-import")
	browsertest.Axe(t, ctx)

	// The template link downloads the CSV template.
	got := catEval[string](t, ctx, `(async () => {
		const a = document.querySelector("a#import-template");
		const r = await fetch(a.href);
		return r.status + " " + r.headers.get("content-type") + " " + r.headers.get("content-disposition") + "\n" + await r.text();
	})()`)
	if !strings.HasPrefix(got, `200 text/csv; charset=utf-8 attachment; filename="dirsync-import-template.csv"`+"\nEmail,Name,Password,Force Change Password") {
		t.Errorf("template download: %q", got)
	}

	// A good file dropped onto the page is imported at once.
	good := "Email,Name,Password,Force Change Password\r\n" +
		"dropped.one@example.com,Dropped One,Temporary-Passw0rd-77,TRUE\r\n" +
		"dropped.two@example.net,Dropped Two,,\r\n"
	catMust(t, browsertest.DropFile(ctx, "[data-dropzone]", "staff.csv", good, "text/csv"))
	catWait(t, ctx, "#import-summary")
	if got := catText(t, ctx, "#import-summary"); got != "Imported 2 addresses: 2 added, 0 updated, 0 unchanged." {
		t.Errorf("summary %q", got)
	}
	browsertest.Screenshot(t, ctx, "catalog-import-done")
	browsertest.Axe(t, ctx)

	// A bad one: every problem with its row and column, nothing imported.
	bad := "Email,Name,Password,Force Change Password\r\n" +
		"fine@example.com,Fine,,\r\n" +
		"not-an-address,Broken,,\r\n" +
		"far@elsewhere.example,Far,,MAYBE\r\n"
	catMust(t, browsertest.DropFile(ctx, "[data-dropzone]", "bad.csv", bad, "text/csv"))
	catWait(t, ctx, "table.import-errors")
	rows := catEval[[]string](t, ctx, `[...document.querySelectorAll("table.import-errors tbody tr")].map(tr =>
		[...tr.cells].slice(0, 2).map(c => c.textContent.trim()).join(" "))`)
	slices.Sort(rows)
	if strings.Join(rows, "|") != "3 Email|4 Email|4 Force Change Password" {
		t.Errorf("problem rows %q", rows)
	}
	browsertest.Screenshot(t, ctx, "catalog-import-refused")
	browsertest.Axe(t, ctx)
	// Nothing of the refused file was written: fine@example.com is new to a
	// file that lists it alone.
	catMust(t, browsertest.DropFile(ctx, "[data-dropzone]", "fine.csv", "Email,Name\r\nfine@example.com,Fine\r\n", "text/csv"))
	catWait(t, ctx, "#import-summary")
	if got := catText(t, ctx, "#import-summary"); got != "Imported 1 address: 1 added, 0 updated, 0 unchanged." {
		t.Errorf("fine@example.com was written by the refused import: %q", got)
	}

	// Reached from the navigation (htmx swaps the page in, and runs none of
	// its scripts), the drop zone works too: import.js must come with the layout.
	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/domains"))
	catWait(t, ctx, "table.domains")
	catMust(t, browsertest.Click(ctx, `nav a[href="/console/import"]`))
	catWait(t, ctx, "#import-form")
	again := "Email,Name\r\nvia.nav@example.com,Via Nav\r\n"
	if err := browsertest.DropFile(ctx, "[data-dropzone]", "nav.csv", again, "text/csv"); err != nil {
		t.Fatalf("the import page reached from the navigation does not take a dropped file "+
			"(is /console/static/import.js loaded by the layout?): %v", err)
	}
	catWait(t, ctx, "#import-summary")
	if got := catText(t, ctx, "#import-summary"); got != "Imported 1 address: 1 added, 0 updated, 0 unchanged." {
		t.Errorf("summary after the navigation %q", got)
	}
}

// TestBrowserImportNoScript imports a file chosen with the file input and the
// Import button, with JavaScript off.
func TestBrowserImportNoScript(t *testing.T) {
	s := startServe(t, serveOptions{})
	b := browsertest.New(t)
	ctx := b.NoScriptTab(t)
	catSignIn(t, ctx, s)
	catMust(t, browsertest.Navigate(ctx, s.URL+"/console/import"))
	file := filepath.Join(t.TempDir(), "chosen.csv")
	catMust(t, os.WriteFile(file, []byte("Email,Name\r\nchosen@example.com,Chosen\r\n"), 0o600))
	catMust(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file})))
	catMust(t, browsertest.Click(ctx, `#import-form button[type="submit"]`))
	catWait(t, ctx, "#import-summary")
	if got := catText(t, ctx, "#import-summary"); got != "Imported 1 address: 1 added, 0 updated, 0 unchanged." {
		t.Errorf("summary %q", got)
	}
	browsertest.Screenshot(t, ctx, "catalog-import-noscript")
	browsertest.Axe(t, ctx)
}
