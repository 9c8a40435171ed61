// Package browsertest drives a real, headless Chromium from tests: the
// console's end-to-end flows, keyboard passes, accessibility checks (axe-core)
// and screenshots. Only tests import it.
//
// The browser is Debian's chromium package, which scripts/testenv.sh installs
// and names in DIRSYNC_CHROMIUM (default /usr/bin/chromium). Without it a test
// skips with a message, or fails under CI=true, as internal/testenv does for
// the test servers. Chromium runs with flags that keep it off the network (no
// background networking, component updates, sync or default apps) and in a
// temporary profile; it is never downloaded at test time.
//
// A test starts one browser and opens tabs in it:
//
//	b := browsertest.New(t)
//	ctx := b.Tab(t) // a tab of 1280x900, closed when the test ends
//	if err := browsertest.Navigate(ctx, srv.URL+"/console/"); err != nil {
//		t.Fatal(err)
//	}
//	browsertest.Screenshot(t, ctx, "signin")
//	browsertest.Axe(t, ctx) // zero WCAG 2.2 A/AA violations
//
// Selectors of the helpers (Click, SetValue, SendKeys, Text, WaitVisible,
// DropFile) are CSS selectors, matching the first element. The helpers are
// thin wrappers of chromedp (github.com/chromedp/chromedp v0.23, whose actions
// are typed): for anything else use chromedp directly on the tab's context,
// e.g. chromedp.Run(ctx, chromedp.Location()), chromedp.Do(ctx,
// chromedp.WaitNotPresent(chromedp.CSS("dialog[open]"))), or
// chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll('tr').length")).
// Click does not wait for the navigation it may start: wait for an element of
// the next page (WaitVisible) before reading it.
//
// Every core flow of the console works with JavaScript off: NoScriptTab opens
// a tab in which the page's scripts do not run (chromedp's own queries and the
// helpers still work there; Axe switches scripts on for its own run only).
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

const (
	// EnvChromium names the environment variable with the path of the
	// Chromium binary (scripts/testenv.sh writes it to .testenv/env.sh).
	EnvChromium = "DIRSYNC_CHROMIUM"
	// DefaultChromium is the binary of Debian's chromium package, used when
	// EnvChromium is unset.
	DefaultChromium = "/usr/bin/chromium"

	// Width and Height are the size of the window and of every tab's viewport.
	Width, Height = 1280, 900

	// tabLimit bounds everything done in one tab: a guard against a test
	// that would otherwise hang on an element that never appears, not a
	// timing assertion.
	tabLimit = 3 * time.Minute
)

// Browser is one headless Chromium process, closed when the test that started
// it ends.
type Browser struct {
	ctx context.Context // the browser's first tab; parent of every Tab
}

// ChromiumPath returns the Chromium binary to run: EnvChromium, or
// DefaultChromium when unset.
func ChromiumPath() string {
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	return DefaultChromium
}

// New starts a headless Chromium for the test and closes it at t.Cleanup.
// When the binary is missing it skips the test, or fails it under CI=true,
// and returns nil (a real testing.TB stops the test first).
func New(t testing.TB) *Browser {
	t.Helper()
	path := ChromiumPath()
	if err := checkExecutable(path); err != nil {
		msg := fmt.Sprintf("no Chromium for the browser tests: %v (install Debian's chromium package, as scripts/testenv.sh does, or set %s)", err, EnvChromium)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI=true, so a missing browser is a failure", msg)
		} else {
			t.Skipf("%s", msg)
		}
		return nil
	}

	// chromedp's defaults (headless, no-first-run, …), then the flags the
	// tests rely on, named even where a default sets them already.
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		// Off the network: nothing outside loopback is reachable here.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(Width, Height),
		// No UserDataDir: chromedp makes a temporary profile and removes it
		// once the browser has exited.
	})
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	start := time.Now()
	// The first Do starts the browser; it must have no deadline, or the
	// deadline would end the browser.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
		return nil
	}
	t.Logf("browsertest: %s started in %v", path, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browsertest: closing the browser: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	return &Browser{ctx: ctx}
}

// checkExecutable returns an error unless path is an executable file.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("chromium binary: %w", err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("chromium binary %s: %w", path, fs.ErrPermission)
	}
	return nil
}

// Tab opens a new tab (viewport Width x Height) and returns its context, for
// chromedp and the helpers of this package. The tab closes when the test ends;
// everything done in it is bounded by a generous limit so that a broken test
// fails instead of hanging.
func (b *Browser) Tab(t testing.TB) context.Context {
	t.Helper()
	limited, cancelLimit := context.WithTimeout(b.ctx, tabLimit)
	ctx, cancel := chromedp.NewContext(limited)
	t.Cleanup(func() {
		cancel()
		cancelLimit()
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(Width, Height)); err != nil {
		t.Fatalf("browsertest: opening a tab: %v", err)
	}
	return ctx
}

// NoScriptTab opens a tab like Tab in which the pages' JavaScript does not run
// (Emulation.setScriptExecutionDisabled): <noscript> content shows, and forms
// and links must work on their own.
func (b *Browser) NoScriptTab(t testing.TB) context.Context {
	t.Helper()
	ctx := b.Tab(t)
	if err := setScriptsDisabled(ctx, true); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return context.WithValue(ctx, noScriptKey{}, true)
}

// noScriptKey marks the context of a NoScriptTab.
type noScriptKey struct{}

// setScriptsDisabled switches the page's JavaScript off or back on.
func setScriptsDisabled(ctx context.Context, disabled bool) error {
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: disabled})
		return err
	}))
	if err != nil {
		return fmt.Errorf("switching JavaScript off=%t: %w", disabled, err)
	}
	return nil
}

// repoRoot returns the repository root: the folder of go.mod above this
// source file, or above the working directory.
var repoRoot = sync.OnceValues(func() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("browsertest: no go.mod above %s", strings.Join(starts, " or "))
})

// ScreenshotDir is the git-ignored folder, at the repository root, that
// Screenshot writes to.
const ScreenshotDir = ".screenshots"

// Screenshot saves a full-page PNG of the tab as .screenshots/NAME.png at the
// repository root (git-ignored), and logs its path. NAME is reduced to
// letters, digits, '.', '_' and '-'.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	waitLaidOut(ctx)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ScreenshotDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	path := filepath.Join(dir, fileName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	t.Logf("browsertest: screenshot %s", path)
	return path
}

// waitLaidOut waits, for at most 5 s, until the tab's document has loaded
// and has a width: a full-page screenshot of a page still loading fails
// ("Cannot take screenshot with 0 width"). On time-out the screenshot is
// tried anyway, and says what went wrong.
func waitLaidOut(ctx context.Context) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		ok, err := chromedp.Run(callCtx, chromedp.Evaluate[bool](
			`document.readyState === "complete" && document.documentElement.scrollWidth > 0`))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fileName keeps the letters, digits, '.', '_' and '-' of name (others become
// '-'), without a leading '.' and without a ".png" suffix.
func fileName(name string) string {
	name = strings.TrimSuffix(name, ".png")
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, name)
	s = strings.TrimLeft(s, ".")
	if s == "" {
		s = "screenshot"
	}
	return s
}

// Navigate loads url in the tab and waits for its load event.
func Navigate(ctx context.Context, url string) error {
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("navigate to %s: %w", url, err)
	}
	return nil
}

// Click clicks the first element matching the CSS selector, once visible.
func Click(ctx context.Context, sel string) error {
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		return fmt.Errorf("click %s: %w", sel, err)
	}
	return nil
}

// SetValue sets the value of the first input, select or textarea matching the
// CSS selector, without key events.
func SetValue(ctx context.Context, sel, value string) error {
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(sel), value)); err != nil {
		return fmt.Errorf("set the value of %s: %w", sel, err)
	}
	return nil
}

// SendKeys focuses the first element matching the CSS selector and types
// keys, as a user would (key events; kb's constants for special keys).
func SendKeys(ctx context.Context, sel, keys string) error {
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), keys)); err != nil {
		return fmt.Errorf("type into %s: %w", sel, err)
	}
	return nil
}

// Text returns the rendered text (innerText) of the first element matching
// the CSS selector, once visible.
func Text(ctx context.Context, sel string) (string, error) {
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		return "", fmt.Errorf("text of %s: %w", sel, err)
	}
	return s, nil
}

// WaitVisible waits until an element matching the CSS selector is visible.
func WaitVisible(ctx context.Context, sel string) error {
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		return fmt.Errorf("wait for %s to be visible: %w", sel, err)
	}
	return nil
}

// PressKey presses and releases key in the focused element (one of kb's
// constants, e.g. kb.Enter, kb.Escape, kb.ArrowDown, or plain characters);
// opts add modifiers, e.g. chromedp.KeyModifiers(chromedp.ModifierShift).
func PressKey(ctx context.Context, key string, opts ...chromedp.KeyOption) error {
	if err := chromedp.Do(ctx, chromedp.KeyEvent(key, opts...)); err != nil {
		return fmt.Errorf("press %q: %w", key, err)
	}
	return nil
}

// PressTab presses Tab, moving the focus to the next focusable element.
func PressTab(ctx context.Context) error { return PressKey(ctx, kb.Tab) }

// PressShiftTab presses Shift+Tab, moving the focus back.
func PressShiftTab(ctx context.Context) error {
	return PressKey(ctx, kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
}

// focusedJS describes document.activeElement (or the element focused inside
// an open shadow root): tag, #id, [name], [aria-label] and its text.
const focusedJS = `(() => {
	let e = document.activeElement;
	while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
	if (!e) return "none";
	let s = e.tagName.toLowerCase();
	if (e.id) s += "#" + e.id;
	const name = e.getAttribute("name");
	if (name) s += '[name="' + name + '"]';
	const label = e.getAttribute("aria-label");
	if (label) s += '[aria-label="' + label + '"]';
	if (e !== document.body && e !== document.documentElement) {
		const text = (e.innerText || e.textContent || "").replace(/\s+/g, " ").trim();
		if (text) s += ' "' + (text.length > 60 ? text.slice(0, 59) + "…" : text) + '"';
	}
	return s;
})()`

// Focused describes the element that has the keyboard focus, for keyboard
// tests: its tag, then #id, [name="…"], [aria-label="…"] when set, and its
// text in quotes when it has some, e.g. `button#sort-name "Name"` or
// `input#search[name="q"]`; "body" when nothing is focused.
func Focused(ctx context.Context) (string, error) {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](focusedJS))
	if err != nil {
		return "", fmt.Errorf("read the focused element: %w", err)
	}
	return s, nil
}

// waitLimit bounds WaitTrue: a guard against a page that never gets there,
// not a timing assertion.
const waitLimit = 20 * time.Second

// WaitTrue waits until the JavaScript expression is true in the tab, across
// page loads and htmx swaps (the document may be replaced while it is asked),
// and fails the test, with a screenshot, when it is not within waitLimit.
// what names the step for the failure.
func WaitTrue(t testing.TB, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last error
	for time.Now().Before(deadline) {
		// One plain evaluation at a time, each bounded: a page-side poll
		// relies on the page's timers, which do not run in a NoScriptTab, and
		// a call caught by a navigation can hang until the tab's limit.
		// In a loaded document only: in a NoScriptTab the next page's URL is
		// there as soon as it starts loading, before it has a layout.
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(callCtx, chromedp.Evaluate[bool](`document.readyState !== "loading" && !!(`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	Screenshot(t, ctx, "timeout-"+what)
	t.Fatalf("%s: %s not true within %s at %s (%v)", what, expr, waitLimit, loc, last)
}
