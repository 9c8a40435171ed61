package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
)

// Sign-in, sessions, sign-out, timeouts and cross-site protection of the
// console, through its handler on a real SQLite store.

func TestSignInPageIsPublicAndEveryOtherPageSendsThere(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	p := b.get("/console/signin")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: %d", p.res.StatusCode)
	}
	if p.Find(`form[action="/console/signin"] input[name="address"]`).Length() != 1 ||
		p.Find(`input[name="password"][type="password"]`).Length() != 1 {
		t.Fatal("the sign-in page has no address and password fields")
	}
	if p.Find(`label[for="address"]`).Length() != 1 || p.Find(`label[for="password"]`).Length() != 1 {
		t.Error("the sign-in fields have no labels")
	}
	for _, path := range []string{"/console/", "/console/users?q=al", "/console/domains"} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || loc.Path != "/console/signin" || loc.Query().Get("next") != path {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the sign-in page with next=%s", path, res.StatusCode, loc, path)
		}
	}
	// Headers every page carries.
	if csp := p.res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if cc := p.res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func TestSignInOpensASessionWithAStrictCookie(t *testing.T) {
	h := newHarness(t)
	h.user("ada@example.com", "Administrator")
	b := h.browser()
	res := b.signIn("ada@example.com", adminPassword)
	if loc := res.Header.Get("Location"); loc != "/console/" {
		t.Errorf("after sign-in: Location %q, want /console/", loc)
	}
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "dirsync_console" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatal("no session cookie set")
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q, want HttpOnly, Strict, /", ck.HttpOnly, ck.SameSite, ck.Path)
	}
	if strings.Contains(dumpLogs(h), ck.Value) || strings.Contains(dumpLogs(h), adminPassword) {
		t.Error("the session id or the password is in the log")
	}
	// The store keeps the hash only.
	if _, err := h.st.Session(context.Background(), ck.Value); err == nil {
		t.Error("the store keeps the session id itself, not its hash")
	}
	// Signed in: the start page leads on, and the layout names the administrator.
	p := b.get("/console/signin?next=/console/roles")
	if p.res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page while signed in: %d", p.res.StatusCode)
	}
}

func dumpLogs(h *harness) string {
	var sb strings.Builder
	for _, e := range h.logs.All() {
		sb.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			sb.WriteString(" " + k + "=")
			if s, ok := v.(string); ok {
				sb.WriteString(s)
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

func TestSignInRefusalsSayNothingAboutTheAccount(t *testing.T) {
	h := newHarness(t)
	h.user("ada@example.com", "Administrator")
	b := h.browser()
	wrong := b.postPage("/console/signin", url.Values{"address": {"ada@example.com"}, "password": {"not-the-password-1"}})
	unknown := b.postPage("/console/signin", url.Values{"address": {"nobody@example.com"}, "password": {"not-the-password-1"}})
	for name, p := range map[string]page{"wrong password": wrong, "unknown address": unknown} {
		if p.res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, p.res.StatusCode)
		}
		if p.Find(`[role="alert"]`).Length() != 1 {
			t.Errorf("%s: no alert with the refusal", name)
		}
	}
	if a, b := text(wrong.Find(`[role="alert"]`)), text(unknown.Find(`[role="alert"]`)); a != b {
		t.Errorf("refusals differ: %q vs %q (they must not tell which addresses exist)", a, b)
	}
	// The address typed stays in the form; the password does not.
	if v, _ := wrong.Find(`input[name="address"]`).Attr("value"); v != "ada@example.com" {
		t.Errorf("address field = %q after a refusal", v)
	}
	if v, _ := wrong.Find(`input[name="password"]`).Attr("value"); v != "" {
		t.Error("the password is echoed back into the page")
	}
}

func TestALoginWithoutTheConsolePermissionIsRefused(t *testing.T) {
	h := newHarness(t)
	h.user("sam@example.com", "Sales")
	b := h.browser()
	p := b.postPage("/console/signin", url.Values{"address": {"sam@example.com"}, "password": {adminPassword}})
	if p.res.StatusCode != http.StatusForbidden || !strings.Contains(text(p.Find(`[role="alert"]`)), "console permission") {
		t.Fatalf("sign-in of a Sales login: %d %q, want 403 naming the console permission", p.res.StatusCode, text(p.Find(`[role="alert"]`)))
	}
	for _, c := range p.res.Cookies() {
		if c.Name == "dirsync_console" && c.Value != "" {
			t.Error("a session cookie was set for a login without the console permission")
		}
	}
}

func TestSignInGoesBackToThePageAskedFor(t *testing.T) {
	h := newHarness(t)
	h.user("ada@example.com", "Administrator")
	b := h.browser()
	res := b.post("/console/signin", url.Values{"address": {"ada@example.com"}, "password": {adminPassword}, "next": {"/console/roles?x=1"}})
	if loc := res.Header.Get("Location"); loc != "/console/roles?x=1" {
		t.Errorf("Location = %q, want /console/roles?x=1", loc)
	}
	for _, evil := range []string{"//evil.example/x", "https://evil.example/", "/console/\\evil", "/v1/users", "/console/signin?next=//evil"} {
		b := h.browser()
		res := b.post("/console/signin", url.Values{"address": {"ada@example.com"}, "password": {adminPassword}, "next": {evil}})
		if loc := res.Header.Get("Location"); loc != "/console/" {
			t.Errorf("next=%q: Location %q, want /console/ (never another site)", evil, loc)
		}
	}
}

func TestSignOutEndsTheSessionForGood(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	b.get("/console/roles") // a page with the layout's sign-out form and its token
	u, _ := url.Parse(h.srv.URL)
	old := b.c.Jar.Cookies(u)
	res := b.post("/console/signout", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "why=out") {
		t.Fatalf("sign-out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Replaying the old cookie finds no session.
	replay := h.browser()
	replay.c.Jar.SetCookies(u, old)
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/domains", nil)
	res, err := replay.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "why=expired") {
		t.Errorf("replayed session after sign-out: %d to %q, want the sign-in page saying the session ended", res.StatusCode, loc)
	}
}

func TestSessionsEndWhenIdleAndAfterTheAbsoluteTimeout(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	// Used every 20 minutes, a session lives on past the 30-minute idle timeout...
	for range 3 {
		h.clk.Advance(20 * time.Minute)
		if p := b.get("/console/signin"); p.res.StatusCode != http.StatusOK {
			t.Fatal("sign-in page")
		}
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/", nil)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if loc := res.Header.Get("Location"); loc != "/console/overview" {
			t.Fatalf("an active session was refused: %d to %q", res.StatusCode, loc)
		}
	}
	// ...but not past 31 quiet minutes.
	h.clk.Advance(31 * time.Minute)
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/domains?page=2", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc.Path != "/console/signin" || loc.Query().Get("why") != "expired" || loc.Query().Get("next") != "/console/domains?page=2" {
		t.Fatalf("idle session: %d to %q, want the sign-in page, why=expired, next=the page", res.StatusCode, loc)
	}
	p := h.browser().get(loc.String())
	if !strings.Contains(text(p.Find(".notice")), "session has ended") {
		t.Errorf("the sign-in page does not say the session ended: %q", text(p.Find("main")))
	}

	// The absolute timeout ends even a busy session.
	b = h.browser()
	b.signIn("ada@example.com", adminPassword)
	for range 12*3 + 1 { // 12 h in 20-minute steps, and one more
		h.clk.Advance(20 * time.Minute)
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/", nil)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if strings.Contains(res.Header.Get("Location"), "why=expired") {
			return
		}
	}
	t.Fatal("a session used every 20 minutes outlived the 12 h absolute timeout")
}

func TestStateChangingRequestsNeedTheFormTokenAndTheSameOrigin(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	b.get("/console/roles") // a page with the layout's sign-out form and its token
	// No token: refused, and the session is still there.
	for name, form := range map[string]url.Values{"missing": {"csrf": {""}}, "wrong": {"csrf": {"AAAA"}}} {
		p := b.postPage("/console/signout", form)
		if p.res.StatusCode != http.StatusForbidden || !strings.Contains(text(p.Find("main")), "nothing was changed") {
			t.Errorf("%s token: %d %q", name, p.res.StatusCode, text(p.Find("main")))
		}
	}
	// A cross-site POST with the right token is refused by the origin check.
	form := url.Values{"csrf": {b.csrf}}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/console/signout", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", res.StatusCode)
	}
	// Still signed in after all of it.
	req, _ = http.NewRequest(http.MethodGet, h.srv.URL+"/console/", nil)
	if res, err = b.c.Do(req); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if loc := res.Header.Get("Location"); loc != "/console/overview" {
		t.Errorf("the refused requests ended the session: %q", loc)
	}
}

func TestADisabledOrDemotedAdministratorLosesTheSessionAtOnce(t *testing.T) {
	h := newHarness(t)
	b := h.admin("ada@example.com")
	if _, err := h.svc.SetRoles(context.Background(), system, "ada@example.com", []string{"Sales"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/domains", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "why=revoked") {
		t.Errorf("demoted administrator: %d to %q, want the sign-in page (revoked)", res.StatusCode, loc)
	}
	c := h.admin("bob@example.com")
	if _, err := h.svc.UpdateUser(context.Background(), system, "bob@example.com", api.UpdateUser{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, h.srv.URL+"/console/domains", nil)
	if res, err = c.c.Do(req); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "why=revoked") {
		t.Errorf("disabled administrator: %d to %q, want the sign-in page (revoked)", res.StatusCode, loc)
	}
}

func TestUnknownPagesAndStaticAssets(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	p := b.get("/console/no-such-page")
	if p.res.StatusCode != http.StatusNotFound || !strings.Contains(text(p.Find("h1")), "not found") {
		t.Errorf("unknown page: %d %q", p.res.StatusCode, text(p.Find("h1")))
	}
	for _, asset := range []string{"console.css", "console.js", "htmx.min.js"} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/static/"+asset, nil)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("asset %s: %d", asset, res.StatusCode)
		}
	}
	for _, hidden := range []string{"", "VENDORED.md"} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/console/static/"+hidden, nil)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("static/%s: %d, want 404 (no listings, no notes)", hidden, res.StatusCode)
		}
	}
}

func TestPurgeSessionsRemovesExpiredOnes(t *testing.T) {
	h := newHarness(t)
	h.admin("ada@example.com")
	h.admin("bob@example.com")
	h.clk.Advance(console.DefaultIdleTimeout + time.Minute)
	n, err := h.con.PurgeSessions(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("PurgeSessions = %d, %v; want 2", n, err)
	}
	if n, _ := h.con.PurgeSessions(context.Background()); n != 0 {
		t.Errorf("second purge removed %d", n)
	}
}

func TestUnderTLSTheCookieIsSecureAndHostBound(t *testing.T) {
	h := newHarness(t)
	h.user("ada@example.com", "Administrator")
	con, err := console.New(console.Options{Service: h.svc, Store: h.st, Now: h.clk.Now, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"address": {"ada@example.com"}, "password": {adminPassword}}
	req := httptest.NewRequest(http.MethodPost, "https://console.example/console/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	con.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in under TLS: %d", rec.Code)
	}
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			ck = c
		}
	}
	if ck == nil || ck.Name != "__Host-dirsync_console" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" ||
		ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie under TLS = %+v, want __Host-dirsync_console, Secure, HttpOnly, Path /, no Domain, SameSite=Strict", ck)
	}
}
