package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/store"
)

// The sign-in flows in Chromium against a real `dirsync serve`: the root
// redirect, a refused and an accepted sign-in, sign-out, an expired session
// that brings the administrator back where they were, a cross-site form
// refused, a read-only administrator, and all of it with JavaScript off too.

// location is the tab's current URL.
func location(t *testing.T, ctx context.Context) *url.URL {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// must fails the test on a browser error, naming the step.
func must(t *testing.T, step string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// signInWith fills and sends the sign-in form in the tab, which must show it,
// and waits for the page that follows (one with an h1).
func signInWith(t *testing.T, ctx context.Context, address, pw string) {
	t.Helper()
	must(t, "type the address", browsertest.SetValue(ctx, "#address", address))
	must(t, "type the password", browsertest.SetValue(ctx, "#password", pw))
	// Mark this document, so the wait below sees the next one, not this one.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.dirsyncOld = true`))
	must(t, "mark the page", err)
	must(t, "send the sign-in form", browsertest.Click(ctx, `form[action="/console/signin"] button[type="submit"]`))
	browsertest.WaitTrue(t, ctx, "the answer to the sign-in form", `window.dirsyncOld !== true && document.readyState !== "loading"`)
	must(t, "the next page", browsertest.WaitVisible(ctx, "main h1"))
}

func TestBrowserSignInAndOut(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{})
	for _, js := range []bool{true, false} {
		name := "javascript"
		if !js {
			name = "no-javascript"
		}
		t.Run(name, func(t *testing.T) {
			ctx := b.Tab(t)
			if !js {
				ctx = b.NoScriptTab(t)
			}
			// The daemon's root leads to the sign-in page.
			must(t, "open /", browsertest.Navigate(ctx, srv.URL+"/"))
			if p := location(t, ctx).Path; p != "/console/signin" {
				t.Fatalf("/ led to %s, want /console/signin", p)
			}
			browsertest.Screenshot(t, ctx, "signin-"+name)
			browsertest.Axe(t, ctx)

			// A wrong password: the refusal, in the page, with the address kept.
			signInWith(t, ctx, srv.Admin, "not-the-password-1")
			msg, err := browsertest.Text(ctx, `[role="alert"]`)
			must(t, "the refusal", err)
			if !strings.Contains(strings.ToLower(msg), "invalid") && !strings.Contains(strings.ToLower(msg), "wrong") {
				t.Errorf("refusal = %q", msg)
			}
			browsertest.Screenshot(t, ctx, "signin-refused-"+name)
			browsertest.Axe(t, ctx)

			// The right one: the console's start page, with the administrator named.
			signInWith(t, ctx, srv.Admin, adminPassword)
			if p := location(t, ctx).Path; p == "/console/signin" {
				body, _ := browsertest.Text(ctx, "main")
				t.Fatalf("still on the sign-in page after a right password: %q", body)
			}
			who, err := browsertest.Text(ctx, ".signout .who")
			must(t, "the signed-in administrator", err)
			if !strings.Contains(who, srv.Admin) {
				t.Errorf("header names %q, want %s", who, srv.Admin)
			}
			browsertest.Screenshot(t, ctx, "home-"+name)
			browsertest.Axe(t, ctx)

			// Sign out: back at the sign-in page, which says so; the console is closed again.
			must(t, "sign out", browsertest.Click(ctx, `.signout button[type="submit"]`))
			must(t, "the signed-out page", browsertest.WaitVisible(ctx, ".notice"))
			if n, _ := browsertest.Text(ctx, ".notice"); !strings.Contains(n, "signed out") {
				t.Errorf("after sign-out the page says %q", n)
			}
			must(t, "open the domains again", browsertest.Navigate(ctx, srv.URL+"/console/domains"))
			if p := location(t, ctx).Path; p != "/console/signin" {
				t.Errorf("after sign-out /console/domains showed %s", p)
			}
		})
	}
}

func TestBrowserExpiredSessionReturnsToThePage(t *testing.T) {
	b := browsertest.New(t)
	const idle = 2 * time.Second
	srv := startServe(t, serveOptions{IdleTimeout: idle})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	// Nothing to wait on but the clock: the idle timeout is real time here.
	time.Sleep(idle + 500*time.Millisecond)
	must(t, "open a page after the timeout", browsertest.Navigate(ctx, srv.URL+"/console/roles?from=expired"))
	if p := location(t, ctx).Path; p != "/console/signin" {
		t.Fatalf("an expired session opened %s", p)
	}
	n, err := browsertest.Text(ctx, ".notice")
	must(t, "the notice", err)
	if !strings.Contains(n, "session has ended") {
		t.Errorf("notice = %q", n)
	}
	browsertest.Screenshot(t, ctx, "signin-expired")
	browsertest.Axe(t, ctx)
	signInWith(t, ctx, srv.Admin, adminPassword)
	if u := location(t, ctx); u.Path != "/console/roles" || u.Query().Get("from") != "expired" {
		t.Errorf("after signing in again: %s, want /console/roles?from=expired", u)
	}
}

func TestBrowserCrossSiteFormIsRefused(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)

	// Another site (another origin: another port) posts a form to the console.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><title>Win a prize</title><body>
<form id="f" method="post" action="%s/console/signout"><input name="csrf" value="guess"><button>Claim</button></form>
<script>document.getElementById("f").submit()</script></body></html>`, srv.URL)
	}))
	t.Cleanup(evil.Close)
	must(t, "open the other site", browsertest.Navigate(ctx, evil.URL))
	must(t, "the refusal", browsertest.WaitVisible(ctx, "main h1"))
	body, err := browsertest.Text(ctx, "main")
	must(t, "the refusal's text", err)
	if !strings.Contains(body, "another site") || !strings.Contains(body, "nothing was changed") {
		t.Errorf("cross-site form answered %q", body)
	}
	browsertest.Screenshot(t, ctx, "cross-site-refused")
	// Still signed in.
	must(t, "back to the console", browsertest.Navigate(ctx, srv.URL+"/console/roles"))
	if p := location(t, ctx).Path; p != "/console/roles" {
		t.Errorf("the cross-site form signed the administrator out: now at %s", p)
	}
}

func TestBrowserReadOnlyAdministratorSeesButCannotAct(t *testing.T) {
	b := browsertest.New(t)
	const viewer = "vera@example.com"
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		ctx := context.Background()
		if _, err := svc.AddRole(ctx, system, api.Role{Name: "Console Viewer", Permissions: []string{store.PermissionConsole, "users.read"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateUser(ctx, system, api.CreateUser{Address: viewer, DisplayName: "Vera Viewer"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Register(ctx, system, viewer, api.Register{Password: adminPassword, Question: "First pet?", Answer: "Rex"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetRoles(ctx, system, viewer, []string{"Console Viewer"}); err != nil {
			t.Fatal(err)
		}
	}})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, viewer, adminPassword)
	must(t, "open the users", browsertest.Navigate(ctx, srv.URL+"/console/users?registration=all"))
	must(t, "the users table", browsertest.WaitVisible(ctx, "main table"))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main form[method=post], main [data-dialog]").length`))
	must(t, "count the actions", err)
	if n != 0 {
		t.Errorf("a read-only administrator is shown %d actions on the users page", n)
	}
	browsertest.Screenshot(t, ctx, "users-read-only")
	browsertest.Axe(t, ctx)
	// Typing an action's address does not help: the page says the role lacks it.
	must(t, "open an action page", browsertest.Navigate(ctx, srv.URL+"/console/users/"+url.PathEscape(srv.Admin)+"/register"))
	body, err := browsertest.Text(ctx, "main")
	must(t, "the refusal", err)
	if !strings.Contains(body, "users.write") {
		t.Errorf("a read-only administrator opening an action got %q", body)
	}

	// The sync pages (issue 24): every one shown, no action on any of them,
	// and the server refuses a crafted request with the page's own form token.
	for _, page := range []string{"/console/overview", "/console/runs", "/console/holds", "/console/explain"} {
		must(t, "open "+page, browsertest.Navigate(ctx, srv.URL+page))
		must(t, page, browsertest.WaitVisible(ctx, "main h1"))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main form[method=post], main [data-dialog]").length`))
		must(t, "count the actions on "+page, err)
		if n != 0 {
			t.Errorf("a read-only administrator is shown %d actions on %s", n, page)
		}
	}
	for _, post := range []struct{ path, body string }{
		{"/console/runs", "connector=sample&mode=incremental"},
		{"/console/holds/approve", "ids=h1"},
		{"/console/explain", "connector=sample&user=ann%40example.com"},
	} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
			const csrf = document.querySelector("input[name=csrf]").value;
			const r = await fetch(`+"`"+`${location.origin}`+post.path+"`"+`, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
				body: "csrf=" + encodeURIComponent(csrf) + "&`+post.body+`"});
			return r.status + " " + (await r.text());
		})()`, chromedp.EvalAwaitPromise))
		must(t, "a crafted POST "+post.path, err)
		// Refused for the missing permission (not the form token): the
		// page names it.
		if !strings.HasPrefix(got, strconv.Itoa(http.StatusForbidden)+" ") || !strings.Contains(got, "sync") {
			t.Errorf("a read-only administrator's crafted POST %s got %.300q, want 403 naming the sync permission", post.path, got)
		}
	}
}
