package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// Handler tests of the Domains, Roles and Import pages.

// readOnly is a browser signed in as an administrator who may look but not act.
func (h *harness) catViewer(address string) *browser {
	h.t.Helper()
	if _, err := h.svc.AddRole(context.Background(), system, api.Role{Name: "Viewer",
		Permissions: []string{"console", "users.read"}}); err != nil {
		h.t.Fatalf("add the Viewer role: %v", err)
	}
	h.user(address, "Viewer")
	b := h.browser()
	b.signIn(address, adminPassword)
	return b
}

// exists says whether the store holds address.
func (h *harness) catExists(address string) bool {
	h.t.Helper()
	_, err := h.svc.User(context.Background(), address)
	if err == nil {
		return true
	}
	if status, _, _ := api.Classify(err); status != http.StatusNotFound {
		h.t.Fatalf("look up %s: %v", address, err)
	}
	return false
}

// follow reads the page a 303 points to.
func (b *browser) catFollow(res *http.Response) page {
	b.h.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		b.h.t.Fatalf("status %d, want 303", res.StatusCode)
	}
	return b.get(res.Header.Get("Location"))
}

// upload sends content as the import form's file, the token in the URL as
// the page's form does (csrf false: without it).
func (b *browser) catUpload(name string, content []byte, csrf bool) page {
	b.h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		b.h.t.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		b.h.t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		b.h.t.Fatal(err)
	}
	target := b.h.srv.URL + "/console/import"
	if csrf {
		target += "?csrf=" + url.QueryEscape(b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, target, &body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.h.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func catWantStatus(t *testing.T, p page, want int) {
	t.Helper()
	if p.res.StatusCode != want {
		t.Fatalf("status %d, want %d; page: %s", p.res.StatusCode, want, text(p.Find("main")))
	}
}

// fieldError checks that the input #id is marked invalid and described by
// an error next to it that contains want.
func catFieldError(t *testing.T, p page, id, want string) {
	t.Helper()
	in := p.Find("#" + id)
	if in.Length() != 1 {
		t.Fatalf("no #%s on the page", id)
	}
	if v, _ := in.Attr("aria-invalid"); v != "true" {
		t.Errorf("#%s: aria-invalid %q, want true", id, v)
	}
	desc, _ := in.Attr("aria-describedby")
	if !strings.Contains(desc, id+"-error") {
		t.Fatalf("#%s: aria-describedby %q does not name %s-error", id, desc, id)
	}
	if got := text(p.Find("#" + id + "-error")); !strings.Contains(got, want) {
		t.Errorf("#%s-error: %q, want it to contain %q", id, got, want)
	}
	if p.Find(`[role="alert"]`).Length() == 0 {
		t.Errorf("no role=alert message on the page")
	}
}

func TestDomainsPage(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	for _, a := range []string{"ann@example.net", "bob@example.net"} {
		if _, err := h.svc.CreateUser(context.Background(), system, api.CreateUser{Address: a}); err != nil {
			t.Fatal(err)
		}
	}
	p := b.get("/console/domains")
	catWantStatus(t, p, http.StatusOK)
	if got := text(p.Find("h1")); got != "Domains" {
		t.Errorf("h1 %q", got)
	}
	if v, _ := p.Find(`nav a[href="/console/domains"]`).Attr("aria-current"); v != "page" {
		t.Errorf("Domains navigation entry not current: %q", v)
	}
	counts := map[string]string{}
	p.Find("table.domains tbody tr").Each(func(_ int, tr *goquery.Selection) {
		d := text(tr.Find("th a"))
		counts[d] = text(tr.Find("td.num"))
		href, _ := tr.Find("th a").Attr("href")
		if want := "/console/users?domain=" + d + "&registration=all"; href != want {
			t.Errorf("%s users link %q, want %q", d, href, want)
		}
		na := tr.Find(`a[href="/console/domains/` + d + `/users/new"]`)
		if got := text(na); got != "New address in "+d {
			t.Errorf("%s new-address link named %q", d, got)
		}
	})
	// root@example.com is the one user of example.com.
	if counts["example.com"] != "1" || counts["example.net"] != "2" {
		t.Errorf("user counts %v, want example.com 1, example.net 2", counts)
	}
	if p.Find(`form[action="/console/domains"] input[name="name"]`).Length() != 1 {
		t.Errorf("an administrator with domains.manage sees no add-domain form")
	}
}

func TestAddDomain(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	b.get("/console/domains")

	p := b.catFollow(b.post("/console/domains", url.Values{"name": {" Example.ORG "}}))
	if got := text(p.Find(".flash")); got != "Added the domain example.org." {
		t.Errorf("flash %q", got)
	}
	if p.Find(`table.domains th a:contains("example.org")`).Length() != 1 {
		t.Errorf("example.org not listed after adding it")
	}

	t.Run("invalid", func(t *testing.T) {
		p := b.postPage("/console/domains", url.Values{"name": {"not a domain!"}})
		catWantStatus(t, p, http.StatusUnprocessableEntity)
		catFieldError(t, p, "domain-name", "")
		if v, _ := p.Find("#domain-name").Attr("value"); v != "not a domain!" {
			t.Errorf("typed value not kept: %q", v)
		}
		if p.Find(`table.domains th a:contains("not a domain")`).Length() != 0 {
			t.Errorf("an invalid domain was listed")
		}
	})
	t.Run("empty", func(t *testing.T) {
		p := b.postPage("/console/domains", url.Values{"name": {""}})
		catWantStatus(t, p, http.StatusUnprocessableEntity)
		catFieldError(t, p, "domain-name", "required")
	})
	t.Run("duplicate", func(t *testing.T) {
		p := b.postPage("/console/domains", url.Values{"name": {"example.com"}})
		catWantStatus(t, p, http.StatusConflict)
		catFieldError(t, p, "domain-name", "already an internal domain")
	})
	t.Run("no csrf", func(t *testing.T) {
		res := b.post("/console/domains", url.Values{"name": {"nocsrf.example"}, "csrf": {"wrong"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", res.StatusCode)
		}
		list, err := h.svc.Domains(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list.Domains {
			if d.Name == "nocsrf.example" {
				t.Errorf("a domain was added without the form token")
			}
		}
	})
}

func TestRolesPage(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	p := b.get("/console/roles")
	catWantStatus(t, p, http.StatusOK)
	rows := map[string]*goquery.Selection{}
	p.Find("table.roles tbody tr").Each(func(_ int, tr *goquery.Selection) {
		rows[strings.TrimSuffix(text(tr.Find("th")), " default")] = tr
	})
	if len(rows) != len(store.DefaultRoles) {
		t.Fatalf("%d roles listed, want %d", len(rows), len(store.DefaultRoles))
	}
	admin := rows["Administrator"]
	if admin == nil {
		t.Fatal("no Administrator row")
	}
	if got := text(admin.Find("td").Eq(1)); got != "Support contact" {
		t.Errorf("Administrator support contact cell %q", got)
	}
	if admin.Find(".badge:contains('default')").Length() != 1 {
		t.Errorf("Administrator not marked default")
	}
	if admin.Find("ul.perms li").Length() != len(store.Permissions) {
		t.Errorf("Administrator lists %d permissions, want %d", admin.Find("ul.perms li").Length(), len(store.Permissions))
	}
	if got := text(rows["Invoicing"].Find("td").Eq(0)); got != "billing" {
		t.Errorf("Invoicing permissions %q", got)
	}
	if got := text(rows["Invoicing"].Find("td").Eq(1)); got != "No" {
		t.Errorf("Invoicing support contact cell %q", got)
	}
	if n := p.Find(`form[action="/console/roles"] input[type="checkbox"][name="permissions"]`).Length(); n != len(store.Permissions) {
		t.Errorf("%d permission checkboxes, want %d", n, len(store.Permissions))
	}
	p.Find(`input[type="checkbox"]`).Each(func(_ int, in *goquery.Selection) {
		id, _ := in.Attr("id")
		if p.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("checkbox %s has no label", id)
		}
	})
}

func TestAddRole(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	b.get("/console/roles")

	p := b.catFollow(b.post("/console/roles", url.Values{"name": {"Helpdesk Admin"},
		"permissions": {"users.read", "console", "support"}}))
	if got := text(p.Find(".flash")); got != "Added the role Helpdesk Admin." {
		t.Errorf("flash %q", got)
	}
	var row *goquery.Selection
	p.Find("table.roles tbody tr").Each(func(_ int, tr *goquery.Selection) {
		if text(tr.Find("th")) == "Helpdesk Admin" {
			row = tr
		}
	})
	if row == nil {
		t.Fatal("the new role is not listed")
	}
	if got := catCells(row.Find("td").Eq(0).Find("li")); got != "console support users.read" {
		t.Errorf("permissions %q", got)
	}
	if got := text(row.Find("td").Eq(1)); got != "Support contact" {
		t.Errorf("a role named …Admin is not marked as making a support contact: %q", got)
	}

	t.Run("unknown permission", func(t *testing.T) {
		p := b.postPage("/console/roles", url.Values{"name": {"Flyers"}, "permissions": {"users.read", "fly"}})
		catWantStatus(t, p, http.StatusUnprocessableEntity)
		if got := text(p.Find("#role-permissions-error")); !strings.Contains(got, `unknown permission "fly"`) {
			t.Errorf("permissions error %q", got)
		}
		if d, _ := p.Find("fieldset.perm-choices").Attr("aria-describedby"); d != "role-permissions-error" {
			t.Errorf("fieldset aria-describedby %q", d)
		}
		if v, _ := p.Find("#role-name").Attr("value"); v != "Flyers" {
			t.Errorf("typed name not kept: %q", v)
		}
		if _, ok := p.Find(`input[value="users.read"]`).Attr("checked"); !ok {
			t.Errorf("checked permission not kept")
		}
		if _, ok := p.Find(`input[value="sync"]`).Attr("checked"); ok {
			t.Errorf("an unchecked permission came back checked")
		}
		if p.Find(`table.roles th:contains("Flyers")`).Length() != 0 {
			t.Errorf("the refused role was added")
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		p := b.postPage("/console/roles", url.Values{"name": {"administrator"}, "permissions": {"users.read"}})
		catWantStatus(t, p, http.StatusConflict)
		catFieldError(t, p, "role-name", "already exists")
	})
	t.Run("no name", func(t *testing.T) {
		p := b.postPage("/console/roles", url.Values{"name": {"  "}})
		catWantStatus(t, p, http.StatusUnprocessableEntity)
		catFieldError(t, p, "role-name", "required")
	})
	t.Run("html payload inert", func(t *testing.T) {
		name := `<script>alert(1)</script><b>x</b>`
		p := b.catFollow(b.post("/console/roles", url.Values{"name": {name}, "permissions": {"training"}}))
		if p.Find("main script:not([src])").Length() != 0 || p.Find("main b:contains('x')").Length() != 0 {
			t.Errorf("the role name was rendered as markup")
		}
		if p.Find("table.roles th:contains('<script>alert(1)</script>')").Length() != 1 {
			t.Errorf("the role name is not shown as text")
		}
	})
}

// catCells is the texts of the selected elements, joined by spaces.
func catCells(s *goquery.Selection) string {
	return strings.Join(s.Map(func(_ int, c *goquery.Selection) string { return text(c) }), " ")
}

// catCSV joins lines into a CRLF file.
func catCSV(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

const catHeader = "Email,Name,Password,Force Change Password"

func TestImportPage(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	p := b.get("/console/import")
	catWantStatus(t, p, http.StatusOK)
	form := p.Find("form#import-form")
	if enc, _ := form.Attr("enctype"); enc != "multipart/form-data" {
		t.Errorf("enctype %q", enc)
	}
	action, _ := form.Attr("action")
	if action != "/console/import?csrf="+url.QueryEscape(b.csrf) {
		t.Errorf("form action %q does not carry the session's token", action)
	}
	if form.Find(`input[type="file"][name="file"]#import-file`).Length() != 1 || p.Find(`label[for="import-file"]`).Length() != 1 {
		t.Errorf("no labelled file input")
	}
	if form.Find("[data-dropzone]").Length() != 1 || p.Find(`script[src="/console/static/import.js"]`).Length() != 1 {
		t.Errorf("no drop zone or no import.js")
	}
	if href, _ := p.Find("a#import-template").Attr("href"); href != "/console/import/template" {
		t.Errorf("template link %q", href)
	}

	res, err := b.c.Get(h.srv.URL + "/console/import/template")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("template: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if !bytes.Equal(body, h.svc.ImportTemplate()) {
		t.Errorf("template body %q", body)
	}

	js, err := b.c.Get(h.srv.URL + "/console/static/import.js")
	if err != nil {
		t.Fatal(err)
	}
	js.Body.Close()
	if js.StatusCode != http.StatusOK {
		t.Errorf("import.js: %d", js.StatusCode)
	}
}

func TestImportGoodFile(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	if _, err := h.svc.CreateUser(context.Background(), system, api.CreateUser{Address: "old@example.com", DisplayName: "Old Name"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateUser(context.Background(), system, api.CreateUser{Address: "same@example.com", DisplayName: "Same"}); err != nil {
		t.Fatal(err)
	}
	b.get("/console/import")
	p := b.catUpload("staff.csv", catCSV(catHeader,
		"new.one@example.com,New One,Temporary-Passw0rd-77,TRUE",
		"hr@example.net,HR <b>team</b>,,",
		"old@example.com,New Name,,",
		"same@example.com,Same,,"), true)
	catWantStatus(t, p, http.StatusOK)
	if got := text(p.Find("#import-summary")); got != "Imported 4 addresses: 2 added, 1 updated, 1 unchanged." {
		t.Errorf("summary %q", got)
	}
	if got := text(p.Find("#import-result-title")); got != "Import complete: staff.csv" {
		t.Errorf("title %q", got)
	}
	var outcomes []string
	p.Find("table.import-rows tbody tr").Each(func(_ int, tr *goquery.Selection) {
		outcomes = append(outcomes, catCells(tr.Find("td")))
	})
	want := []string{"2 new.one@example.com added", "3 hr@example.net added", "4 old@example.com updated", "5 same@example.com unchanged"}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("rows %q, want %q", outcomes, want)
	}
	if p.Find("[role=alert]").Length() != 0 {
		t.Errorf("a problem shown after a good import: %s", text(p.Find("[role=alert]")))
	}
	u, err := h.svc.User(context.Background(), "new.one@example.com")
	if err != nil {
		t.Fatalf("the imported user: %v", err)
	}
	if u.Origin != store.OriginCSV || u.DisplayName != "New One" || !u.HasPassword || !u.ForceChangePassword {
		t.Errorf("imported user %+v", u)
	}
	if u, _ := h.svc.User(context.Background(), "old@example.com"); u.DisplayName != "New Name" {
		t.Errorf("old@example.com not updated: %q", u.DisplayName)
	}
	if u, _ := h.svc.User(context.Background(), "hr@example.net"); u.DisplayName != "HR <b>team</b>" {
		t.Errorf("hr@example.net name %q", u.DisplayName)
	}
}

func TestImportRefusals(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	b.get("/console/import")

	// refused checks that the import was refused with status and a message
	// containing msg next to the file input, and that none of the addresses
	// was written.
	refused := func(t *testing.T, p page, status int, msg string, addresses ...string) {
		t.Helper()
		catWantStatus(t, p, status)
		if got := text(p.Find("#import-problem")); !strings.Contains(got, msg) {
			t.Errorf("message %q, want it to contain %q", got, msg)
		}
		if v, _ := p.Find("#import-file").Attr("aria-invalid"); v != "true" {
			t.Errorf("the file input is not marked invalid")
		}
		if d, _ := p.Find("#import-file").Attr("aria-describedby"); !strings.Contains(d, "import-problem") {
			t.Errorf("the file input is not described by the problem: %q", d)
		}
		if p.Find("#import-summary").Length() != 0 {
			t.Errorf("a summary shown for a refused import")
		}
		for _, a := range addresses {
			if h.catExists(a) {
				t.Errorf("%s was imported from a refused file", a)
			}
		}
	}

	t.Run("bad rows", func(t *testing.T) {
		p := b.catUpload("bad.csv", catCSV(catHeader,
			"good@example.com,Good,,",
			"not-an-address,Bad,,",
			"good2@example.com,Good Two,,MAYBE",
			"stranger@unknown.example,Stranger,,"), true)
		refused(t, p, http.StatusUnprocessableEntity, "Nothing was imported: the file has 3 problems",
			"good@example.com", "good2@example.com", "stranger@unknown.example")
		type row struct{ row, col string }
		var got []row
		msgs := map[string]string{}
		p.Find("table.import-errors tbody tr").Each(func(_ int, tr *goquery.Selection) {
			r := row{text(tr.Find("td").Eq(0)), text(tr.Find("td").Eq(1))}
			got = append(got, r)
			msgs[r.row] = text(tr.Find("td").Eq(2))
		})
		want := []row{{"3", "Email"}, {"4", "Force Change Password"}, {"5", "Email"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("problem rows %v, want %v", got, want)
		}
		if !strings.Contains(msgs["5"], "unknown.example") {
			t.Errorf("unknown domain row message %q", msgs["5"])
		}
		if p.Find("table.import-errors caption").Length() != 1 {
			t.Errorf("the problems table has no caption")
		}
		if got := text(p.Find("#import-problems-title")); got != "Nothing was imported from bad.csv" {
			t.Errorf("title %q", got)
		}
	})
	t.Run("unknown domain", func(t *testing.T) {
		p := b.catUpload("x.csv", catCSV(catHeader, "ok@example.com,,,", "far@elsewhere.example,,,"), true)
		refused(t, p, http.StatusUnprocessableEntity, "elsewhere.example", "ok@example.com", "far@elsewhere.example")
		if got := text(p.Find("table.import-errors tbody tr td").Eq(0)); got != "3" {
			t.Errorf("problem row %q, want 3", got)
		}
	})
	t.Run("not utf-8", func(t *testing.T) {
		p := b.catUpload("latin1.csv", catCSV(catHeader, "pound@example.com,\xa3 Pound,,"), true)
		refused(t, p, http.StatusUnprocessableEntity, "not UTF-8", "pound@example.com")
		if !strings.Contains(text(p.Find("#import-problem")), "CSV UTF-8") {
			t.Errorf("the message does not say how to fix it: %q", text(p.Find("#import-problem")))
		}
	})
	t.Run("501 addresses", func(t *testing.T) {
		lines := []string{catHeader}
		for i := range 501 {
			lines = append(lines, fmt.Sprintf("u%03d@example.com,,,", i))
		}
		p := b.catUpload("big.csv", catCSV(lines...), true)
		refused(t, p, http.StatusRequestEntityTooLarge, "lists 501 addresses; an import takes at most 500", "u000@example.com", "u500@example.com")
		if p.Find("table.import-errors").Length() != 0 {
			t.Errorf("a row table for a whole-file refusal")
		}
	})
	t.Run("over 1 MiB", func(t *testing.T) {
		content := append(catCSV(catHeader, "huge@example.com,,,"), bytes.Repeat([]byte("#"), 1<<20)...)
		p := b.catUpload("huge.csv", content, true)
		refused(t, p, http.StatusRequestEntityTooLarge, "larger than 1 MiB", "huge@example.com")
	})
	t.Run("no file", func(t *testing.T) {
		p := b.catUpload("", nil, true)
		refused(t, p, http.StatusBadRequest, "No file was chosen")
	})
	t.Run("missing csrf", func(t *testing.T) {
		p := b.catUpload("ok.csv", catCSV(catHeader, "nocsrf@example.com,,,"), false)
		catWantStatus(t, p, http.StatusForbidden)
		if h.catExists("nocsrf@example.com") {
			t.Errorf("imported without the form token")
		}
	})
	t.Run("not multipart", func(t *testing.T) {
		p := b.postPage("/console/import?csrf="+url.QueryEscape(b.csrf), url.Values{"file": {catHeader + "\r\nplain@example.com,,,\r\n"}})
		refused(t, p, http.StatusBadRequest, "could not be read", "plain@example.com")
	})
}

func TestCatalogReadOnly(t *testing.T) {
	h := newHarness(t)
	b := h.catViewer("viewer@example.com")

	p := b.get("/console/domains")
	catWantStatus(t, p, http.StatusOK)
	if p.Find("table.domains tbody tr").Length() != 2 {
		t.Errorf("the domains are not listed to a read-only administrator")
	}
	if p.Find(`form[action="/console/domains"]`).Length() != 0 || p.Find(`a[href$="/users/new"]`).Length() != 0 {
		t.Errorf("a read-only administrator sees the add-domain form or New address links")
	}
	if p.Find(`nav a[href="/console/import"]`).Length() != 0 {
		t.Errorf("a read-only administrator sees the import page in the navigation")
	}
	p = b.get("/console/roles")
	catWantStatus(t, p, http.StatusOK)
	if p.Find(`form[action="/console/roles"]`).Length() != 0 {
		t.Errorf("a read-only administrator sees the add-role form")
	}
	catWantStatus(t, b.get("/console/import"), http.StatusForbidden)
	catWantStatus(t, b.get("/console/import/template"), http.StatusForbidden)

	if res := b.post("/console/domains", url.Values{"name": {"ro.example"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("add domain: %d, want 403", res.StatusCode)
	}
	if res := b.post("/console/roles", url.Values{"name": {"RO"}, "permissions": {"users.read"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("add role: %d, want 403", res.StatusCode)
	}
	catWantStatus(t, b.catUpload("ok.csv", catCSV(catHeader, "ro@example.com,,,"), true), http.StatusForbidden)

	if h.catExists("ro@example.com") {
		t.Errorf("a read-only administrator imported a user")
	}
	list, _ := h.svc.Domains(context.Background())
	roles, _ := h.svc.Roles(context.Background())
	for _, d := range list.Domains {
		if d.Name == "ro.example" {
			t.Errorf("a read-only administrator added a domain")
		}
	}
	for _, r := range roles.Roles {
		if r.Name == "RO" {
			t.Errorf("a read-only administrator added a role")
		}
	}
}
