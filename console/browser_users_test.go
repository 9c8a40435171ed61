package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/browsertest"
)

// The users page in Chromium against a real `dirsync serve`: sign in, filter,
// search, letter, sort both ways, register through the dialog, invite,
// unregister with confirmation, clear a lock after three failed sign-ins, and
// a keyboard-only pass. Axe runs on every state; every state is screenshotted.

// usersJS evaluates a JavaScript expression in the tab.
func usersJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func usersDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// usersRows are the addresses of the users table's rows.
const usersRowsJS = `Array.from(document.querySelectorAll("table.users tbody tr td:first-child a")).map(a => a.textContent.trim())`

func usersRows(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return usersJS[[]string](t, ctx, usersRowsJS)
}

func usersSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "users-"+name)
	browsertest.Axe(t, ctx)
}

// usersSeed: a small directory in example.org (the sample connector fills
// example.com and example.net), and enough users for a second page.
func usersSeed(t *testing.T, svc *api.Service) {
	ctx := context.Background()
	if _, err := svc.AddDomain(ctx, system, api.Domain{Name: "example.org"}); err != nil {
		t.Fatalf("add example.org: %v", err)
	}
	mk := func(in api.CreateUser, registered bool) {
		if _, err := svc.CreateUser(ctx, system, in); err != nil {
			t.Fatalf("create %s: %v", in.Address, err)
		}
		if registered {
			if _, err := svc.Register(ctx, system, in.Address, api.Register{Password: adminPassword,
				Question: "First pet?", Answer: "Rex"}); err != nil {
				t.Fatalf("register %s: %v", in.Address, err)
			}
		}
	}
	mk(api.CreateUser{Address: "alice@example.org", DisplayName: "Alice Archer", Department: "Sales", Title: "Rep"}, true)
	mk(api.CreateUser{Address: "bob@example.org", DisplayName: "Bob Baker", Department: "Ops"}, false)
	mk(api.CreateUser{Address: "carol@example.org", DisplayName: "Carol Cole", Department: "Legal"}, true)
	mk(api.CreateUser{Address: "dan@example.org", DisplayName: "Dan Dorsey", Department: "Ops"}, false)
	mk(api.CreateUser{Address: "lee@example.org", DisplayName: "Lee Locke", Department: "Finance"}, true)
	for i := range 52 {
		mk(api.CreateUser{Address: fmt.Sprintf("pg%02d@example.org", i), DisplayName: fmt.Sprintf("Page Person %02d", i)}, false)
	}
}

func TestBrowserUsers(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{Setup: usersSeed})
	ctx := br.Tab(t)

	// Sign in: the users page sends to the sign-in page and back.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?domain=example.org"))
	browsertest.WaitTrue(t, ctx, "sign-in page", `!!document.querySelector("#address")`)
	usersDo(t, browsertest.SendKeys(ctx, "#address", srv.Admin))
	usersDo(t, browsertest.SendKeys(ctx, "#password", adminPassword+kb.Enter))
	browsertest.WaitTrue(t, ctx, "users page", `!!document.querySelector("#users-title") && location.pathname == "/console/users"`)
	if got := usersRows(t, ctx); !slices.Equal(got, []string{"alice@example.org", "carol@example.org", "lee@example.org"}) {
		t.Errorf("registered users of example.org: %v", got)
	}
	usersSnap(t, ctx, "01-registered")

	// Filter: all logins, then unregistered.
	usersDo(t, browsertest.Click(ctx, "#show-all"))
	browsertest.WaitTrue(t, ctx, "all logins", `document.querySelector("#show-all[aria-current=true]") && document.querySelectorAll("table.users tbody tr").length == 50`)
	usersSnap(t, ctx, "02-all")
	// The next page, and back.
	usersDo(t, browsertest.Click(ctx, `a[rel="next"]`))
	browsertest.WaitTrue(t, ctx, "page 2", `document.querySelector(".pager") && document.querySelector(".pager").textContent.includes("Page 2")`)
	if got := usersRows(t, ctx); len(got) != 7 {
		t.Errorf("page 2 of example.org: %v", got)
	}
	usersSnap(t, ctx, "03-page2")
	usersDo(t, browsertest.Click(ctx, `a[rel="prev"]`))
	browsertest.WaitTrue(t, ctx, "page 1", `document.querySelector(".pager").textContent.includes("Page 1")`)

	usersDo(t, browsertest.Click(ctx, "#show-unregistered"))
	browsertest.WaitTrue(t, ctx, "unregistered", `!!document.querySelector("#show-unregistered[aria-current=true]")`)
	if got := usersRows(t, ctx); len(got) != 50 || got[0] != "bob@example.org" || got[1] != "dan@example.org" {
		t.Errorf("unregistered of example.org: %v", got[:min(3, len(got))])
	}

	// Search.
	usersDo(t, browsertest.SendKeys(ctx, "#users-q", "dors"+kb.Enter))
	browsertest.WaitTrue(t, ctx, "search", `document.querySelector("#users-q") && document.querySelector("#users-q").value == "dors" && document.querySelectorAll("table.users tbody tr").length == 1`)
	if got := usersRows(t, ctx); !slices.Equal(got, []string{"dan@example.org"}) {
		t.Errorf("search dors: %v", got)
	}
	usersSnap(t, ctx, "04-search")

	// Letter, on all logins of the domain.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?registration=all&domain=example.org"))
	usersDo(t, browsertest.Click(ctx, "#letter-c"))
	browsertest.WaitTrue(t, ctx, "letter C", `!!document.querySelector("#letter-c[aria-current=true]")`)
	if got := usersRows(t, ctx); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Errorf("letter C: %v", got)
	}
	usersSnap(t, ctx, "05-letter")

	// Sort by department, A-Z then Z-A.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?registration=all&domain=example.org&letter=&q=e"))
	usersDo(t, browsertest.Click(ctx, "#sort-department"))
	browsertest.WaitTrue(t, ctx, "sort A-Z", `document.querySelector("#sort-department").closest("th").getAttribute("aria-sort") == "ascending"`)
	deptJS := `Array.from(document.querySelectorAll("table.users tbody tr")).map(tr => tr.children[2].textContent.trim())`
	asc := usersJS[[]string](t, ctx, deptJS)
	if !slices.IsSorted(asc) || len(asc) < 3 {
		t.Errorf("department A-Z: %v", asc)
	}
	usersSnap(t, ctx, "06-sort-asc")
	usersDo(t, browsertest.Click(ctx, "#sort-department"))
	browsertest.WaitTrue(t, ctx, "sort Z-A", `document.querySelector("#sort-department").closest("th").getAttribute("aria-sort") == "descending"`)
	desc := usersJS[[]string](t, ctx, deptJS)
	if !slices.IsSortedFunc(desc, func(a, b string) int { return strings.Compare(b, a) }) || desc[0] == asc[0] {
		t.Errorf("department Z-A: %v", desc)
	}
	usersSnap(t, ctx, "07-sort-desc")

	// Register through the dialog.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?registration=unregistered&domain=example.org"))
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Register bob@example.org"]`))
	browsertest.WaitTrue(t, ctx, "register dialog", `document.querySelector("#register-dialog").open`)
	if got := usersJS[string](t, ctx, `document.querySelector("#register-dialog-title").textContent`); got != "Register bob@example.org" {
		t.Errorf("dialog title %q", got)
	}
	usersSnap(t, ctx, "08-register-dialog")
	usersDo(t, browsertest.SendKeys(ctx, "#register-password", "Sturdy-Pass-42"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-confirm", "Sturdy-Pass-42"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-question", "Town of birth?"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-answer", "Leeds"))
	usersDo(t, browsertest.Click(ctx, "#register-force"))
	usersDo(t, browsertest.Click(ctx, `#register-dialog button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "registered", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Registered bob@example.org.")`)
	if slices.Contains(usersRows(t, ctx), "bob@example.org") {
		t.Error("bob is still listed as unregistered")
	}
	usersSnap(t, ctx, "09-registered")

	// A refusal in the dialog lands on the action's page, the message next to its field.
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Register dan@example.org"]`))
	browsertest.WaitTrue(t, ctx, "register dialog", `document.querySelector("#register-dialog").open`)
	usersDo(t, browsertest.SendKeys(ctx, "#register-password", "short"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-confirm", "short"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-question", "Q?"))
	usersDo(t, browsertest.SendKeys(ctx, "#register-answer", "A"))
	usersDo(t, browsertest.Click(ctx, `#register-dialog button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "weak password", `!!document.querySelector("#password-error")`)
	if got, _ := browsertest.Text(ctx, "#password-error"); !strings.Contains(got, "weak password") {
		t.Errorf("weak password message %q", got)
	}
	usersSnap(t, ctx, "10-register-refused")

	// Send an invitation: the token is shown once.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?registration=unregistered&domain=example.org"))
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Send invitation to dan@example.org"]`))
	browsertest.WaitTrue(t, ctx, "invite dialog", `document.querySelector("#invite-dialog").open`)
	usersSnap(t, ctx, "11-invite-dialog")
	usersDo(t, browsertest.Click(ctx, `#invite-dialog button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "invitation", `!!document.querySelector("#invite-token")`)
	if tok := usersJS[string](t, ctx, `document.querySelector("#invite-token").value`); len(tok) < 20 {
		t.Errorf("token %q", tok)
	}
	usersSnap(t, ctx, "12-invited")

	// Unregister, with its confirmation.
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?domain=example.org"))
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Unregister carol@example.org"]`))
	browsertest.WaitTrue(t, ctx, "unregister dialog", `document.querySelector("#unregister-dialog").open`)
	usersSnap(t, ctx, "13-unregister-dialog")
	usersDo(t, browsertest.Click(ctx, `#unregister-dialog button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "unregistered", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Unregistered carol@example.org")`)
	if slices.Contains(usersRows(t, ctx), "carol@example.org") {
		t.Error("carol still listed as registered")
	}

	// Clear lock after three failed sign-ins (store.LockAfter) on the console's form.
	for range 3 {
		res, err := http.PostForm(srv.URL+"/console/signin", url.Values{"address": {"lee@example.org"}, "password": {"Wrong-Password-1"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d", res.StatusCode)
		}
	}
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?domain=example.org&q=lee"))
	browsertest.WaitTrue(t, ctx, "locked user", `!!document.querySelector('button[aria-label="Clear lock lee@example.org"]')`)
	usersSnap(t, ctx, "14-locked")
	usersDo(t, browsertest.Click(ctx, `button[aria-label="Clear lock lee@example.org"]`))
	browsertest.WaitTrue(t, ctx, "lock cleared", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Cleared the lock of lee@example.org")`)
	if usersJS[int](t, ctx, `document.querySelectorAll('button[aria-label^="Clear lock"]').length`) != 0 {
		t.Error("Clear lock still offered")
	}
	usersSnap(t, ctx, "15-unlocked")
}

// TestBrowserUsersKeyboard: Tab reaches search, filters, letters, sort headers
// and every row action in order; Enter on a sort header sorts; a dialog keeps
// the focus inside, Escape closes it and the focus returns to its opener.
func TestBrowserUsersKeyboard(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{Setup: usersSeed})
	ctx := br.Tab(t)
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/signin"))
	usersDo(t, browsertest.SendKeys(ctx, "#address", srv.Admin))
	usersDo(t, browsertest.SendKeys(ctx, "#password", adminPassword+kb.Enter))
	browsertest.WaitTrue(t, ctx, "signed in", `!document.querySelector("#password")`)
	page := srv.URL + "/console/users?registration=all&domain=example.org&limit=5"
	usersDo(t, browsertest.Navigate(ctx, page))
	browsertest.WaitTrue(t, ctx, "users page", `!!document.querySelector("#users-title")`)
	rows := usersRows(t, ctx)
	if !slices.Equal(rows, []string{"alice@example.org", "bob@example.org", "carol@example.org", "dan@example.org", "lee@example.org"}) {
		t.Fatalf("rows: %v", rows)
	}

	// Tab through the whole page, from the top.
	var order []string
	for range 200 {
		usersDo(t, browsertest.PressTab(ctx))
		f, err := browsertest.Focused(ctx)
		usersDo(t, err)
		if len(order) > 0 && f == order[0] {
			break // wrapped around
		}
		order = append(order, f)
	}
	index := func(prefix string) int {
		return slices.IndexFunc(order, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	want := []string{`input#users-q`, `select#users-status`, `select#users-origin`, `input#users-domain`, `button#users-go`,
		`a#show-registered`, `a#show-unregistered`, `a#show-all`, `a#letter-a`, `a#letter-z`, `a#letter-other`, `a#letter-all`,
		`a#sort-address`, `a#sort-display_name`, `a#sort-last_login`}
	for _, a := range rows {
		want = append(want, `a[aria-label="Edit `+a+`"]`, `a[aria-label="Status check `+a+`"]`)
	}
	last := -1
	for _, w := range want {
		i := index(w)
		if i < 0 {
			t.Errorf("Tab never reaches %s; order: %s", w, strings.Join(order, "\n"))
			continue
		}
		if i < last {
			t.Errorf("%s comes before the element listed ahead of it (%d < %d)", w, i, last)
		}
		last = i
	}
	// Every row action of the page is reached.
	actions := usersJS[int](t, ctx, `document.querySelectorAll("table.users .actions a, table.users .actions button").length`)
	reached := 0
	for _, f := range order {
		if strings.Contains(f, `[aria-label="`) && (strings.HasPrefix(f, "a.") || strings.HasPrefix(f, "a[") || strings.HasPrefix(f, "button[")) {
			for _, verb := range []string{"Register ", "Send invitation to ", "Unregister ", "Edit ", "Remove ", "Clear lock ", "Status check "} {
				if strings.Contains(f, `aria-label="`+verb) {
					reached++
					break
				}
			}
		}
	}
	if reached != actions {
		t.Errorf("Tab reached %d of the %d row actions", reached, actions)
	}

	// Enter on a sort header sorts, and the focus stays on it.
	usersDo(t, browsertest.Navigate(ctx, page))
	browsertest.WaitTrue(t, ctx, "users page", `!!document.querySelector("#users-title")`)
	for range 60 {
		usersDo(t, browsertest.PressTab(ctx))
		if f, _ := browsertest.Focused(ctx); strings.HasPrefix(f, "a#sort-department") {
			break
		}
	}
	if f, _ := browsertest.Focused(ctx); !strings.HasPrefix(f, "a#sort-department") {
		t.Fatalf("Tab never reached the department header; at %s", f)
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Enter))
	browsertest.WaitTrue(t, ctx, "Enter sorts", `document.querySelector("#sort-department") && document.querySelector("#sort-department").closest("th").getAttribute("aria-sort") == "ascending"`)
	if f, _ := browsertest.Focused(ctx); !strings.HasPrefix(f, "a#sort-department") {
		t.Errorf("after sorting the focus is on %s, not the header", f)
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Enter))
	browsertest.WaitTrue(t, ctx, "Enter sorts Z-A", `document.querySelector("#sort-department") && document.querySelector("#sort-department").closest("th").getAttribute("aria-sort") == "descending"`)
	usersSnap(t, ctx, "20-keyboard-sorted")

	// A dialog from the keyboard: focus inside, kept inside, Escape returns it.
	opener := `a[aria-label="Register bob@example.org"]`
	for range 120 {
		usersDo(t, browsertest.PressTab(ctx))
		if f, _ := browsertest.Focused(ctx); strings.Contains(f, `aria-label="Register bob@example.org"`) {
			break
		}
	}
	if f, _ := browsertest.Focused(ctx); !strings.Contains(f, `aria-label="Register bob@example.org"`) {
		t.Fatalf("Tab never reached %s; at %s", opener, f)
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Enter))
	browsertest.WaitTrue(t, ctx, "dialog open", `document.querySelector("#register-dialog").open`)
	// The focus starts on the dialog's title, so the Enter that opened it
	// cannot reach a field or a button of the dialog; Tab goes on to the fields.
	if f, _ := browsertest.Focused(ctx); !strings.HasPrefix(f, "h2#register-dialog-title") {
		t.Errorf("the dialog opened with the focus on %s", f)
	}
	usersSnap(t, ctx, "21-keyboard-dialog")
	// The page behind a modal dialog is inert: Tab cycles through the dialog's
	// controls, and past the last one (as Chromium does for a native modal
	// dialog) at most through the browser's own interface (no element of the
	// page focused: body) back to the first. It never reaches the page.
	back := false
	for i := range 12 {
		usersDo(t, browsertest.PressTab(ctx))
		inside := usersJS[bool](t, ctx, `!!(document.activeElement && document.activeElement.closest("dialog[open]"))`)
		f, _ := browsertest.Focused(ctx)
		if !inside && f != "body" {
			t.Fatalf("Tab %d left the dialog for the page: focus on %s", i+1, f)
		}
		if i == 0 && !strings.HasPrefix(f, "input#register-password") {
			t.Errorf("Tab from the title goes to %s, not the password", f)
		}
		if i > 0 && strings.HasPrefix(f, "input#register-password") {
			back = true
		}
	}
	if !back {
		t.Error("Tab never came back to the dialog's first field")
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Escape))
	browsertest.WaitTrue(t, ctx, "dialog closed", `!document.querySelector("#register-dialog").open`)
	if f, _ := browsertest.Focused(ctx); !strings.Contains(f, `aria-label="Register bob@example.org"`) {
		t.Errorf("after Escape the focus is on %s, not the opener", f)
	}
	// The same with the Unregister confirmation and its Cancel button.
	for range 20 {
		usersDo(t, browsertest.PressTab(ctx))
		if f, _ := browsertest.Focused(ctx); strings.Contains(f, `aria-label="Unregister carol@example.org"`) {
			break
		}
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Enter))
	browsertest.WaitTrue(t, ctx, "unregister dialog", `document.querySelector("#unregister-dialog").open`)
	if f, _ := browsertest.Focused(ctx); !strings.HasPrefix(f, "h2#unregister-dialog-title") {
		t.Errorf("the confirmation opened with the focus on %s, not its title", f)
	}
	usersDo(t, browsertest.PressTab(ctx))
	if f, _ := browsertest.Focused(ctx); !strings.Contains(f, `"Cancel"`) {
		t.Errorf("the first button of the confirmation is %s, not Cancel", f)
	}
	usersDo(t, browsertest.PressKey(ctx, kb.Enter)) // Cancel
	browsertest.WaitTrue(t, ctx, "dialog cancelled", `!document.querySelector("#unregister-dialog").open`)
	if f, _ := browsertest.Focused(ctx); !strings.Contains(f, `aria-label="Unregister carol@example.org"`) {
		t.Errorf("after Cancel the focus is on %s", f)
	}
}

// TestBrowserUsersNoScript: without JavaScript the row actions are pages of
// their own: register and unregister work as plain links and forms.
func TestBrowserUsersNoScript(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{Setup: usersSeed})
	ctx := br.NoScriptTab(t)
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/signin"))
	usersDo(t, browsertest.SendKeys(ctx, "#address", srv.Admin))
	usersDo(t, browsertest.SendKeys(ctx, "#password", adminPassword+kb.Enter))
	browsertest.WaitTrue(t, ctx, "signed in", `!document.querySelector("#password")`)
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?registration=unregistered&domain=example.org"))
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Register bob@example.org"]`))
	browsertest.WaitTrue(t, ctx, "register page", `location.pathname == "/console/users/bob@example.org/register" && !!document.querySelector("#password")`)
	usersSnap(t, ctx, "30-noscript-register-page")
	usersDo(t, browsertest.SendKeys(ctx, "#password", "Sturdy-Pass-42"))
	usersDo(t, browsertest.SendKeys(ctx, "#confirm_password", "Sturdy-Pass-4"))
	usersDo(t, browsertest.SendKeys(ctx, "#security_question", "Q?"))
	usersDo(t, browsertest.SendKeys(ctx, "#security_answer", "A"+kb.Enter))
	browsertest.WaitTrue(t, ctx, "mismatch", `!!document.querySelector("#confirm_password-error")`)
	usersSnap(t, ctx, "31-noscript-register-mismatch")
	usersDo(t, browsertest.SendKeys(ctx, "#password", "Sturdy-Pass-42"))
	usersDo(t, browsertest.SendKeys(ctx, "#confirm_password", "Sturdy-Pass-42"))
	usersDo(t, browsertest.SendKeys(ctx, "#security_answer", "A"+kb.Enter))
	browsertest.WaitTrue(t, ctx, "registered", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Registered bob@example.org.")`)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "registration=unregistered") {
		t.Errorf("back at %s, not the list it came from", loc)
	}
	usersDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?domain=example.org"))
	usersDo(t, browsertest.Click(ctx, `a[aria-label="Unregister alice@example.org"]`))
	browsertest.WaitTrue(t, ctx, "unregister page", `location.pathname == "/console/users/alice@example.org/unregister"`)
	usersSnap(t, ctx, "32-noscript-unregister-page")
	usersDo(t, browsertest.Click(ctx, `section.user-action button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "unregistered", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Unregistered alice@example.org")`)
}
