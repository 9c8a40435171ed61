package browsertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// pages served to the browser by the tests.
var pages = map[string]string{
	// A page with nothing for axe to report.
	"/clean": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clean page</title></head>
<body><main><h1>Users</h1>
<form action="/clean" method="get">
<label for="first">First name</label> <input id="first" name="first">
<label for="last">Last name</label> <input id="last" name="last">
<button type="submit">Search</button>
</form></main></body></html>`,

	// A nameless button and an image without alt.
	"/broken": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken page</title></head>
<body><main><h1>Broken</h1>
<button id="icon"></button>
<img id="logo" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
</main></body></html>`,

	// A drop zone that writes the dropped file's name, size and content; and
	// one that refuses drops (its dragover does not call preventDefault).
	"/drop": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drop</title></head>
<body><main><h1>Import</h1>
<div id="zone" style="width:300px;height:100px;border:1px dashed">Drop a CSV file here</div>
<div id="deaf" style="width:300px;height:100px">Not a drop zone</div>
<p id="out"></p>
<script>
const zone = document.getElementById("zone"), out = document.getElementById("out");
zone.addEventListener("dragover", e => e.preventDefault());
zone.addEventListener("drop", async e => {
	e.preventDefault();
	const f = e.dataTransfer.files[0];
	const bytes = new Uint8Array(await f.arrayBuffer());
	out.textContent = f.name + " " + f.size + " " + f.type + " " + Array.from(bytes).join(",");
	out.dataset.done = "1";
});
document.getElementById("deaf").addEventListener("drop", () => { out.textContent = "dropped on deaf"; });
</script></main></body></html>`,

	// What shows depends on whether scripts run.
	"/noscript": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No script</title></head>
<body><main><h1>Sign in</h1>
<noscript><p id="ns">JavaScript is off: the forms still work.</p></noscript>
<p id="js" hidden>JavaScript is on.</p>
<script>document.getElementById("js").hidden = false;</script>
</main></body></html>`,
}

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAxeCleanPage(t *testing.T) {
	srv := serve(t)
	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Navigate(ctx, srv.URL+"/clean"); err != nil {
		t.Fatal(err)
	}
	size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int]("[window.innerWidth, window.innerHeight]"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(size, []int{browsertest.Width, browsertest.Height}) {
		t.Errorf("viewport %v, want %dx%d", size, browsertest.Width, browsertest.Height)
	}
	browsertest.Axe(t, ctx)
	// Run twice: the second run reuses the axe already in the page.
	vs, err := browsertest.Violations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("second run: %d violations, want 0: %+v", len(vs), vs)
	}
	path := browsertest.Screenshot(t, ctx, "browsertest/clean page")
	if filepath.Base(path) != "browsertest-clean-page.png" || filepath.Base(filepath.Dir(path)) != browsertest.ScreenshotDir {
		t.Errorf("screenshot written to %s, want .screenshots/browsertest-clean-page.png", path)
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
		t.Errorf("%s is not a PNG", path)
	}
}

func TestAxeReportsViolations(t *testing.T) {
	srv := serve(t)
	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Navigate(ctx, srv.URL+"/broken"); err != nil {
		t.Fatal(err)
	}
	vs, err := browsertest.Violations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string][]string{}
	for _, v := range vs {
		for _, n := range v.Nodes {
			targets[v.ID] = append(targets[v.ID], n.Target...)
		}
	}
	if !slices.Contains(targets["button-name"], "#icon") {
		t.Errorf("button-name on #icon not reported; violations: %v", targets)
	}
	if !slices.Contains(targets["image-alt"], "#logo") {
		t.Errorf("image-alt on #logo not reported; violations: %v", targets)
	}

	// Axe turns each violation into a test error.
	rec := &recorder{TB: t}
	browsertest.Axe(rec, ctx)
	if len(rec.errors) != len(vs) {
		t.Fatalf("Axe reported %d errors for %d violations: %q", len(rec.errors), len(vs), rec.errors)
	}
	all := strings.Join(rec.errors, "\n")
	for _, want := range []string{"axe: button-name (critical)", "#icon: <button id=\"icon\"></button>", "axe: image-alt", "/broken"} {
		if !strings.Contains(all, want) {
			t.Errorf("Axe's errors lack %q:\n%s", want, all)
		}
	}
}

func TestKeyboardFocus(t *testing.T) {
	srv := serve(t)
	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Navigate(ctx, srv.URL+"/clean"); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#first"))); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`input#first[name="first"]`,
		`input#last[name="last"]`,
		`button "Search"`,
	}
	for i, w := range want {
		if i > 0 {
			if err := browsertest.PressTab(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, err := browsertest.Focused(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Fatalf("after %d Tab presses the focus is on %s, want %s", i, got, w)
		}
	}
	if err := browsertest.PressShiftTab(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := browsertest.Focused(ctx); err != nil || got != want[1] {
		t.Fatalf("after Shift+Tab the focus is on %s (%v), want %s", got, err, want[1])
	}
	// Typing goes to the focused input; Enter submits its form.
	if err := browsertest.PressKey(ctx, "Smith"+kb.Enter); err != nil {
		t.Fatal(err)
	}
	// Not "#first" visible: the page before the submission has it too.
	browsertest.WaitTrue(t, ctx, "the submitted form's page", `location.search.includes("last=")`)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/clean?first=&last=Smith") {
		t.Errorf("after typing and Enter the page is %s, want the form submitted with last=Smith", loc)
	}
}

func TestDropFile(t *testing.T) {
	srv := serve(t)
	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Navigate(ctx, srv.URL+"/drop"); err != nil {
		t.Fatal(err)
	}
	// Not UTF-8 on purpose: the bytes reach the page unchanged.
	content := "mail\n\xe9\n"
	if err := browsertest.DropFile(ctx, "#zone", "users.csv", content, "text/csv"); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitVisible(ctx, "#out[data-done]"); err != nil {
		t.Fatal(err)
	}
	got, err := browsertest.Text(ctx, "#out")
	if err != nil {
		t.Fatal(err)
	}
	if want := "users.csv 7 text/csv 109,97,105,108,10,233,10"; got != want {
		t.Errorf("the page saw %q, want %q", got, want)
	}

	err = browsertest.DropFile(ctx, "#deaf", "users.csv", content, "text/csv")
	if err == nil || !strings.Contains(err.Error(), "refused the drop") {
		t.Errorf("dropping on an element that does not accept drops: %v, want a refusal", err)
	}
	err = browsertest.DropFile(ctx, "#missing", "users.csv", content, "text/csv")
	if err == nil || !strings.Contains(err.Error(), "no element matches #missing") {
		t.Errorf("dropping on a missing element: %v, want an error naming it", err)
	}
}

func TestNoScriptTab(t *testing.T) {
	srv := serve(t)
	b := browsertest.New(t)

	off := b.NoScriptTab(t)
	if err := browsertest.Navigate(off, srv.URL+"/noscript"); err != nil {
		t.Fatal(err)
	}
	got, err := browsertest.Text(off, "#ns")
	if err != nil {
		t.Fatal(err)
	}
	if got != "JavaScript is off: the forms still work." {
		t.Errorf("noscript text = %q", got)
	}
	if visible(t, off, "#js") {
		t.Error("with JavaScript off, the script still ran")
	}
	browsertest.Axe(t, off) // axe runs in a tab without the page's scripts too
	// and leaves them off.
	if err := browsertest.Navigate(off, srv.URL+"/noscript?again"); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitVisible(off, "#ns"); err != nil {
		t.Fatal(err)
	}
	if visible(t, off, "#js") {
		t.Error("after Axe, the tab runs scripts again")
	}

	on := b.Tab(t)
	if err := browsertest.Navigate(on, srv.URL+"/noscript"); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitVisible(on, "#js"); err != nil {
		t.Fatal(err)
	}
	if visible(t, on, "#ns") {
		t.Error("with JavaScript on, the noscript text shows")
	}
}

// visible reports whether an element matching sel exists and is rendered.
func visible(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.checkVisibility(); })()`, sel)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("is %s visible: %v", sel, err)
	}
	return v
}

func TestMissingChromium(t *testing.T) {
	t.Setenv(browsertest.EnvChromium, filepath.Join(t.TempDir(), "no-chromium"))
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recorder{TB: t}
		if b := browsertest.New(rec); b != nil {
			t.Fatalf("CI=%q: New returned a browser without a binary", ci)
		}
		got := rec.skipped
		if ci == "true" {
			got = rec.fatal
		}
		if !strings.Contains(got, "no-chromium") || !strings.Contains(got, "DIRSYNC_CHROMIUM") {
			t.Errorf("CI=%q: skipped %q, fatal %q; want the missing path and the variable named", ci, rec.skipped, rec.fatal)
		}
		if (ci == "true") == (rec.skipped != "") {
			t.Errorf("CI=%q: skipped %q, fatal %q; want a skip locally and a failure under CI", ci, rec.skipped, rec.fatal)
		}
	}
}

// recorder records what a helper reports instead of failing the test.
type recorder struct {
	testing.TB
	errors         []string
	skipped, fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
