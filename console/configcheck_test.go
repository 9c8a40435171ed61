package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
)

// recordingChecker answers a fixed check and records how it was asked.
type recordingChecker struct {
	mu     sync.Mutex
	asked  []bool // fresh, per call
	result api.ConfigCheck
}

func (r *recordingChecker) Check(_ context.Context, fresh bool) (api.ConfigCheck, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, fresh)
	return r.result, nil
}

// withChecker serves h's console over a service with the checker (nil: none).
func (h *harness) withChecker(ck api.ConfigChecker) {
	h.t.Helper()
	h.svc = api.NewService(api.Options{Store: h.st, Log: zap.NewNop(), Now: h.clk.Now, Checker: ck})
	con, err := console.New(console.Options{Service: h.svc, Store: h.st, Log: zap.NewNop(), Now: h.clk.Now})
	if err != nil {
		h.t.Fatalf("console.New: %v", err)
	}
	h.con = con
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	h.srv = httptest.NewServer(mux)
	h.t.Cleanup(h.srv.Close)
}

// TestConfigCheckPage: one row per check with its status in words, the
// detail with its fix and the time taken; a summary; "Run the check again"
// asks for a fresh check; a read-only administrator sees the page.
func TestConfigCheckPage(t *testing.T) {
	h := newHarness(t)
	ck := &recordingChecker{result: api.ConfigCheck{Generated: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC),
		File: "/etc/dirsync/dirsync.yaml", Checks: []api.CheckLine{
			{Check: "configuration", Status: api.CheckOK, Detail: "valid: 2 connector(s)"},
			{Check: "secret", Name: "connectors[0].config.bind_password", Status: api.CheckOK, Detail: "env:AD_PASSWORD resolved (value not shown)"},
			{Check: "connector", Name: "ad", Status: api.CheckFailed, TookSeconds: 10,
				Detail: "bind as cn=sync: invalid credentials: check connectors[0].config.bind_password"},
			{Check: "connector", Name: "old", Status: api.CheckSkipped, Detail: "disabled: true"},
		}}}
	h.withChecker(ck)
	b := h.admin("ada@example.com")

	p := b.get("/console/config")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("config check: %d", p.res.StatusCode)
	}
	if v, _ := p.Find(`nav a[href="/console/config"]`).Attr("aria-current"); v != "page" {
		t.Error("the configuration check is not marked current in the navigation")
	}
	if got := text(p.Find("#config-summary")); !strings.Contains(got, "2 passed, 1 failed, 1 skipped") {
		t.Errorf("summary = %q", got)
	}
	if got := text(p.Find("#config-file")); got != "/etc/dirsync/dirsync.yaml" {
		t.Errorf("file = %q", got)
	}
	rows := p.Find("table.config-check tbody tr")
	if rows.Length() != 4 {
		t.Fatalf("%d rows, want 4", rows.Length())
	}
	failed := rows.Eq(2)
	if !failed.HasClass("check-failed") || text(failed.Find(".badge")) != "failed" {
		t.Errorf("failed row: %q", text(failed))
	}
	for _, want := range []string{"Connector", "ad", "check connectors[0].config.bind_password", "10s"} {
		if !strings.Contains(text(failed), want) {
			t.Errorf("failed row %q lacks %q", text(failed), want)
		}
	}
	if got := text(rows.Eq(3).Find(".badge")); got != "skipped" {
		t.Errorf("skipped badge = %q", got)
	}
	if got := text(rows.Eq(0).Find(".badge")); got != "ok" {
		t.Errorf("ok badge = %q", got)
	}

	// The button asks for a fresh check: a GET with fresh=1.
	form := p.Find("form.config-again")
	if m, _ := form.Attr("method"); m != "get" {
		t.Errorf("form method %q", m)
	}
	if v, _ := form.Find(`input[name="fresh"]`).Attr("value"); v != "1" {
		t.Errorf("fresh = %q", v)
	}
	b.get("/console/config?fresh=1")
	ck.mu.Lock()
	if len(ck.asked) != 2 || ck.asked[0] || !ck.asked[1] {
		t.Errorf("checker asked fresh=%v, want [false true]", ck.asked)
	}
	ck.mu.Unlock()

	// Viewing needs only the console.
	v := h.catViewer("vic@example.com")
	if p := v.get("/console/config"); p.res.StatusCode != http.StatusOK || p.Find("table.config-check tbody tr").Length() != 4 {
		t.Errorf("read-only administrator: %d", p.res.StatusCode)
	}
}

// TestConfigCheckPageWithoutChecker: a process that runs no configuration
// says so on the page.
func TestConfigCheckPageWithoutChecker(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	p := b.get("/console/config")
	if p.res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", p.res.StatusCode)
	}
	if got := text(p.Find("#config-problem")); !strings.Contains(got, "dirsync config check") {
		t.Errorf("problem = %q", got)
	}
}
