package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// The overview in Chromium against a real `dirsync serve` on the quickstart's
// file connector: the console's home after sign-in, the sample connector's
// last run ok with its counts, the replica's backends answering; and a
// connector whose source cannot be read, marked in words with the reason.
// With JavaScript and without; axe on every state; screenshots.

// overviewRow waits until the overview shows connector's last run (the
// start-up run), reloading the page, and returns the row's text.
func overviewRow(t *testing.T, ctx context.Context, srv *served, connector string) string {
	t.Helper()
	sel := "#connector-" + connector
	for range 50 {
		must(t, "open the overview", browsertest.Navigate(ctx, srv.URL+"/console/overview"))
		must(t, "the overview", browsertest.WaitVisible(ctx, sel))
		row, err := browsertest.Text(ctx, sel)
		must(t, "the connector's row", err)
		if !strings.Contains(row, "no run yet") && !strings.Contains(row, "running now") {
			return strings.Join(strings.Fields(row), " ")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-srv.exited:
			t.Fatal("the daemon exited")
		default:
		}
		_ = browsertest.WaitVisible(ctx, "main h1")
	}
	t.Fatalf("%s's first run did not show on the overview", connector)
	return ""
}

func TestBrowserOverview(t *testing.T) {
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
			// The tabs share the browser's cookies: the first signs in.
			must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
			if location(t, ctx).Path == "/console/signin" {
				signInWith(t, ctx, srv.Admin, adminPassword)
			}
			if p := location(t, ctx).Path; p != "/console/overview" {
				t.Fatalf("signed in to %s, want the overview", p)
			}
			row := overviewRow(t, ctx, srv, "sample")
			for _, want := range []string{"sample", "file", "Healthy", "@every 1h", "next", "ok", "create"} {
				if !strings.Contains(row, want) {
					t.Errorf("the sample connector's row lacks %q: %s", want, row)
				}
			}
			if strings.Contains(row, "Needs attention") {
				t.Errorf("a healthy connector needs attention: %s", row)
			}
			for _, sel := range []string{"#health-state", "#health-store"} {
				if got, _ := browsertest.Text(ctx, sel); strings.TrimSpace(got) != "answering" {
					t.Errorf("%s = %q", sel, got)
				}
			}
			if got, _ := browsertest.Text(ctx, "#replica-role"); !strings.Contains(got, "single") {
				t.Errorf("role = %q", got)
			}
			if got, _ := browsertest.Text(ctx, "#overview-summary"); !strings.Contains(got, "healthy") {
				t.Errorf("summary = %q", got)
			}
			browsertest.Screenshot(t, ctx, "overview-"+name)
			browsertest.Axe(t, ctx)

			// Two clicks to the last run: its status links the run's page.
			must(t, "open the last run", browsertest.Click(ctx, "#connector-sample td.last-run a"))
			browsertest.WaitTrue(t, ctx, "the run's page", `location.pathname.startsWith("/console/runs/")`)
		})
	}
}

// TestBrowserOverviewFailingConnector: a source that cannot be read (its
// file is gone) fails the start-up run; the overview says the connector needs
// attention, why, and the error, in words.
func TestBrowserOverviewFailingConnector(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	overviewRow(t, ctx, srv, "sample") // the start-up run, which read the file
	if err := os.Remove(filepath.Join(srv.Dir, "directory.ldif")); err != nil {
		t.Fatal(err)
	}
	// A run now, through the admin API, waited for.
	upNewAPI(t, srv).do("POST", "/v1/syncs", `{"wait": true}`, nil)
	var row string
	for range 50 {
		row = overviewRow(t, ctx, srv, "sample")
		if strings.Contains(row, "failed") {
			break
		}
	}
	for _, want := range []string{"Needs attention", "The last run failed", "directory.ldif"} {
		if !strings.Contains(row, want) {
			t.Errorf("the failing connector's row lacks %q: %s", want, row)
		}
	}
	if got, _ := browsertest.Text(ctx, "#overview-summary"); !strings.Contains(got, "1 of 1 connector(s) need attention") {
		t.Errorf("summary = %q", got)
	}
	browsertest.Screenshot(t, ctx, "overview-failing")
	browsertest.Axe(t, ctx)
}
