package console_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
)

// The handler tests run the console over a real SQLite store and the real
// api.Service, through httptest, and read the pages with goquery.

// fast argon2 costs: the tests check behaviour, not hashing cost.
var fast = password.Params{Memory: 64, Time: 1, Threads: 1}

// adminPassword is every test administrator's password.
const adminPassword = "Correct-Horse-Battery-9"

type harness struct {
	t    *testing.T
	st   store.Store
	svc  *api.Service
	con  *console.Console
	srv  *httptest.Server
	clk  *testenv.Clock
	logs *observer.ObservedLogs
}

// system is the actor of the test's own set-up changes.
var system = store.Actor{Kind: "system", Name: "test"}

// newHarness starts the console on a fresh store with the domains example.com
// and example.net.
func newHarness(t *testing.T) *harness { return newHarnessWith(t, nil) }

// newHarnessWith is newHarness with a sync side (nil: none), for the pages that
// show what connectors own and quarantine.
func newHarnessWith(t *testing.T, sy api.Syncer) *harness {
	t.Helper()
	h := &harness{t: t, st: testenv.SQLiteStore(t, "example.com", "example.net"),
		clk: testenv.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.svc = api.NewService(api.Options{Store: h.st, Syncer: sy, Log: zap.New(core), Now: h.clk.Now, PasswordParams: fast})
	var err error
	h.con, err = console.New(console.Options{Service: h.svc, Store: h.st, Log: zap.New(core), Now: h.clk.Now})
	if err != nil {
		t.Fatalf("console.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, h.con)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// user creates a registered user with adminPassword and the given roles.
func (h *harness) user(address string, roles ...string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.svc.CreateUser(ctx, system, api.CreateUser{Address: address, DisplayName: strings.Split(address, "@")[0]}); err != nil {
		h.t.Fatalf("create %s: %v", address, err)
	}
	if _, err := h.svc.Register(ctx, system, address, api.Register{Password: adminPassword,
		Question: "First pet?", Answer: "Rex"}); err != nil {
		h.t.Fatalf("register %s: %v", address, err)
	}
	if len(roles) > 0 {
		if _, err := h.svc.SetRoles(ctx, system, address, roles); err != nil {
			h.t.Fatalf("roles of %s: %v", address, err)
		}
	}
}

// browser is one client with its own cookies, like one browser profile. It
// does not follow redirects, so tests see them.
type browser struct {
	h    *harness
	c    *http.Client
	csrf string // the form token of the last page read
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// admin is a browser signed in as a new Administrator.
func (h *harness) admin(address string) *browser {
	h.t.Helper()
	h.user(address, "Administrator")
	b := h.browser()
	b.signIn(address, adminPassword)
	return b
}

func (b *browser) signIn(address, pw string) *http.Response {
	b.h.t.Helper()
	res := b.post("/console/signin", url.Values{"address": {address}, "password": {pw}})
	if res.StatusCode != http.StatusSeeOther {
		b.h.t.Fatalf("sign in as %s: %d, want 303", address, res.StatusCode)
	}
	return res
}

// page is one answer: its status, headers and parsed document.
type page struct {
	*goquery.Document
	res *http.Response
}

// get reads a page; the form token found in it is kept for the next post.
func (b *browser) get(path string) page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.srv.URL+path, nil)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) page {
	b.h.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		b.h.t.Fatalf("parse %s: %v", req.URL.Path, err)
	}
	if tok, ok := doc.Find(`input[name="csrf"]`).First().Attr("value"); ok {
		b.csrf = tok
	}
	return page{Document: doc, res: res}
}

// post sends a form as a same-origin browser would, with the current form
// token added unless the form has one.
func (b *browser) post(path string, form url.Values) *http.Response {
	b.h.t.Helper()
	return b.postPage(path, form).res
}

func (b *browser) postPage(path string, form url.Values) page {
	b.h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// text is the trimmed text of the selection, spaces collapsed.
func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }
