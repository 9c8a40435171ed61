package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxeTags are the axe-core rule tags Axe and Violations run: WCAG 2.0, 2.1
// and 2.2, levels A and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// axePath is the vendored axe-core, relative to the repository root
// (console/static/VENDORED.md pins its version and SHA-256). It lives in
// testdata, so it is never compiled or embedded in the binary.
const axePath = "internal/browsertest/testdata/axe.min.js"

// axeSource reads the vendored axe.min.js once.
var axeSource = sync.OnceValues(func() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(axePath)))
	if err != nil {
		return "", fmt.Errorf("browsertest: reading axe-core: %w", err)
	}
	return string(b), nil
})

// Violation is one axe-core rule the page breaks.
type Violation struct {
	ID      string          `json:"id"`     // the rule, e.g. "button-name"
	Impact  string          `json:"impact"` // minor, moderate, serious or critical
	Help    string          `json:"help"`   // what the rule asks
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"`
}

// ViolationNode is one element that breaks a rule.
type ViolationNode struct {
	// Target holds the CSS selectors of the element (more than one when
	// it is inside an iframe or a shadow root).
	Target         []string `json:"target"`
	HTML           string   `json:"html"`
	FailureSummary string   `json:"failureSummary"`
}

// Violations runs axe-core (injected into the page when not there yet) with
// AxeTags over the whole document and returns what it found.
//
// In a NoScriptTab, axe-core (whose run needs timers and promises) runs with
// scripts switched on for its run, then off again: the page's own scripts
// have not run and do not run then, so the page checked is the one a
// visitor without JavaScript sees.
func Violations(ctx context.Context) (_ []Violation, err error) {
	if off, _ := ctx.Value(noScriptKey{}).(bool); off {
		if err := setScriptsDisabled(ctx, false); err != nil {
			return nil, fmt.Errorf("axe: %w", err)
		}
		defer func() {
			if rerr := setScriptsDisabled(ctx, true); rerr != nil && err == nil {
				err = fmt.Errorf("axe: %w", rerr)
			}
		}()
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object" && typeof window.axe.run === "function"`))
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	if !loaded {
		src, err := axeSource()
		if err != nil {
			return nil, err
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			return nil, fmt.Errorf("axe: injecting axe.min.js: %w", err)
		}
	}
	tags, err := json.Marshal(AxeTags)
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	js := `axe.run(document, {runOnly: {type: "tag", values: ` + string(tags) + `}, resultTypes: ["violations"]})
	.then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(s => typeof s === "string" ? s : JSON.stringify(s)),
			html: n.html, failureSummary: n.failureSummary || "",
		})),
	})))`
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](js, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("axe: running: %w", err)
	}
	return vs, nil
}

// Axe checks the page in the tab with axe-core (WCAG 2.2 A and AA) and
// reports each violation with t.Errorf: zero are allowed.
func Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	vs, err := Violations(ctx)
	if err != nil {
		t.Errorf("browsertest: %v", err)
		return
	}
	if len(vs) == 0 {
		return
	}
	where, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		where = "the page"
	}
	for _, v := range vs {
		t.Errorf("axe: %s on %s", FormatViolation(v), where)
	}
}

// FormatViolation renders a violation for a test failure: rule, impact, help,
// link and up to five of the failing elements (selectors, HTML and axe's
// summary of the fix, truncated).
func FormatViolation(v Violation) string {
	const maxNodes, maxHTML = 5, 200
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s (%s)", v.ID, v.Impact, v.Help, v.HelpURL)
	for i, n := range v.Nodes {
		if i == maxNodes {
			fmt.Fprintf(&b, "\n\t… and %d more elements", len(v.Nodes)-maxNodes)
			break
		}
		fmt.Fprintf(&b, "\n\t%s: %s", strings.Join(n.Target, " > "), truncate(n.HTML, maxHTML))
		if fs := strings.Join(strings.Fields(n.FailureSummary), " "); fs != "" {
			fmt.Fprintf(&b, "\n\t\t%s", truncate(fs, maxHTML))
		}
	}
	return b.String()
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
