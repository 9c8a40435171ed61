package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// The configuration check in Chromium against a real `dirsync serve` on the
// quickstart's file connector: every line ok (configuration, state, store,
// the sample connector); then the connector's file goes, and "Run the check
// again" (past the 30-second cache) shows it failed, with the reason. With
// JavaScript and without; axe on every state; screenshots.

// configRows is the check table's rows' text, one string per row.
func configRows(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	must(t, "the check's table", browsertest.WaitVisible(ctx, "table.config-check"))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("table.config-check tbody tr")].map(r => r.innerText.split(/\s+/).join(" ").trim())`))
	must(t, "read the rows", err)
	out := map[string]string{}
	for _, r := range rows {
		f := strings.Fields(r)
		if len(f) < 2 {
			continue
		}
		key := f[0]
		if f[0] == "State" || f[0] == "Mail" {
			key = f[0] + " " + f[1]
		}
		out[key] = r
	}
	return out
}

func TestBrowserConfigCheck(t *testing.T) {
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
			must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
			if location(t, ctx).Path == "/console/signin" {
				signInWith(t, ctx, srv.Admin, adminPassword)
			}
			// From the overview, by the navigation.
			must(t, "open the check", browsertest.Click(ctx, `nav a[href="/console/config"]`))
			must(t, "the check", browsertest.WaitVisible(ctx, "#config-summary"))
			if p := location(t, ctx).Path; p != "/console/config" {
				t.Fatalf("at %s, want /console/config", p)
			}
			rows := configRows(t, ctx)
			for key, want := range map[string][]string{
				"Configuration": {"ok", "valid", "1 connector(s)", "sample (file)"},
				"State backend": {"local", "ok"},
				"Store":         {"sqlite", "ok"},
				"Connector":     {"sample", "ok"},
			} {
				row, ok := rows[key]
				if !ok {
					t.Errorf("no %s line: %v", key, rows)
					continue
				}
				for _, w := range want {
					if !strings.Contains(row, w) {
						t.Errorf("the %s line lacks %q: %s", key, w, row)
					}
				}
			}
			if got, _ := browsertest.Text(ctx, "#config-summary"); !strings.Contains(got, "4 passed, 0 failed") {
				t.Errorf("summary = %q", got)
			}
			if got, _ := browsertest.Text(ctx, "#config-file"); got != srv.Config {
				t.Errorf("file = %q, want %s", got, srv.Config)
			}
			browsertest.Screenshot(t, ctx, "configcheck-"+name)
			browsertest.Axe(t, ctx)
		})
	}

	// The connector's file goes: a reload within 30 s answers the cached
	// result; "Run the check again" checks anew and says what is wrong.
	if err := os.Remove(filepath.Join(srv.Dir, "directory.ldif")); err != nil {
		t.Fatal(err)
	}
	ctx := b.Tab(t)
	must(t, "open the check", browsertest.Navigate(ctx, srv.URL+"/console/config"))
	if row := configRows(t, ctx)["Connector"]; !strings.Contains(row, " ok") {
		t.Errorf("a reload re-checked instead of answering the recent result: %s", row)
	}
	must(t, "run it again", browsertest.Click(ctx, "form.config-again button"))
	browsertest.WaitTrue(t, ctx, "a fresh check", `location.search === "?fresh=1" && !!document.querySelector("#config-summary")`)
	row := configRows(t, ctx)["Connector"]
	for _, want := range []string{"sample", "failed", "directory.ldif"} {
		if !strings.Contains(row, want) {
			t.Errorf("the failing connector's line lacks %q: %s", want, row)
		}
	}
	if got, _ := browsertest.Text(ctx, "#config-summary"); !strings.Contains(got, "3 passed, 1 failed") {
		t.Errorf("summary = %q", got)
	}
	browsertest.Screenshot(t, ctx, "configcheck-failed")
	browsertest.Axe(t, ctx)
}
