package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/api"
)

// mkUser creates a manual user; registered gives it a portal login.
func (h *harness) mkUser(in api.CreateUser, registered bool) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.svc.CreateUser(ctx, system, in); err != nil {
		h.t.Fatalf("create %s: %v", in.Address, err)
	}
	if registered {
		if _, err := h.svc.Register(ctx, system, in.Address, api.Register{Password: adminPassword,
			Question: "First pet?", Answer: "Rex"}); err != nil {
			h.t.Fatalf("register %s: %v", in.Address, err)
		}
	}
}

func (h *harness) apiUser(address string) api.User {
	h.t.Helper()
	u, err := h.svc.User(context.Background(), address)
	if err != nil {
		h.t.Fatalf("user %s: %v", address, err)
	}
	return u
}

func off() *bool { f := false; return &f }

// rowAddresses are the addresses of the users table's rows, in order.
func rowAddresses(p page) []string {
	var out []string
	p.Find("table.users tbody tr").Each(func(_ int, tr *goquery.Selection) {
		if a := tr.Find("td").First().Find("a").First(); a.Length() > 0 {
			out = append(out, text(a))
		}
	})
	return out
}

func wantStatus(t *testing.T, p page, want int) {
	t.Helper()
	if p.res.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; page: %s", p.res.Request.URL, p.res.StatusCode, want, text(p.Find("main")))
	}
}

// seedDirectory is a small directory: registered, unregistered, disabled,
// another domain, a name that does not start with a letter.
func seedDirectory(h *harness) {
	h.mkUser(api.CreateUser{Address: "alice@example.com", DisplayName: "Alice Archer", Department: "Sales", Title: "Rep"}, true)
	h.mkUser(api.CreateUser{Address: "bob@example.com", DisplayName: "Bob Baker", Department: "Ops"}, false)
	h.mkUser(api.CreateUser{Address: "carol@example.com", DisplayName: "Carol Cole", Department: "Legal", Enabled: off()}, true)
	h.mkUser(api.CreateUser{Address: "dave@example.net", DisplayName: "Dave Dune", Department: "Sales"}, true)
	h.mkUser(api.CreateUser{Address: "zed@example.com", DisplayName: "9 Zed", Department: "Ops"}, false)
}

func TestUsersPageFilters(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")

	cases := []struct {
		path string
		want []string
	}{
		{"/console/users", []string{"alice@example.com", "carol@example.com", "dave@example.net", "root@example.com"}},
		{"/console/users?registration=unregistered", []string{"bob@example.com", "zed@example.com"}},
		{"/console/users?registration=all", []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.net", "root@example.com", "zed@example.com"}},
		{"/console/users?registration=all&status=disabled", []string{"carol@example.com"}},
		{"/console/users?registration=all&status=enabled&domain=example.net", []string{"dave@example.net"}},
		{"/console/users?registration=all&origin=manual&q=ba", []string{"bob@example.com"}},
		{"/console/users?registration=all&origin=csv", nil},
		{"/console/users?registration=all&q=SALES", nil}, // search is address, alias, name; not department
		{"/console/users?registration=all&q=archer", []string{"alice@example.com"}},
		{"/console/users?registration=all&letter=c", []string{"carol@example.com"}},
		{"/console/users?registration=all&letter=%23", []string{"zed@example.com"}},
		// a form sends every field, empty ones too
		{"/console/users?registration=all&q=&status=&origin=&domain=example.net&letter=", []string{"dave@example.net"}},
	}
	for _, c := range cases {
		p := b.get(c.path)
		wantStatus(t, p, http.StatusOK)
		if got := rowAddresses(p); !slices.Equal(got, c.want) {
			t.Errorf("%s: rows %v, want %v", c.path, got, c.want)
		}
	}

	// The current filter and letter are marked, the others not.
	p := b.get("/console/users?registration=unregistered&letter=b")
	if cur := p.Find(`nav[aria-label="Registration"] a[aria-current="true"]`); cur.Length() != 1 || text(cur) != "Unregistered users" {
		t.Errorf("current registration filter: %q", text(cur))
	}
	if cur := p.Find(`ul.letters a[aria-current="true"]`); cur.Length() != 1 || text(cur) != "B" {
		t.Errorf("current letter: %q", text(cur))
	}
	if n := p.Find("ul.letters a").Length(); n != 28 {
		t.Errorf("%d letter links, want A-Z, # and All", n)
	}
	// Default: registered is current, and All letters.
	p = b.get("/console/users")
	if cur := p.Find(`nav[aria-label="Registration"] a[aria-current="true"]`); text(cur) != "Registered users" {
		t.Errorf("default registration filter: %q", text(cur))
	}
	if cur := p.Find(`ul.letters a[aria-current="true"]`); text(cur) != "All letters" {
		t.Errorf("default letter: %q", text(cur))
	}
	// A letter link keeps the other filters; a registration link keeps the letter.
	p = b.get("/console/users?registration=all&status=enabled&q=a")
	href, _ := p.Find("#letter-b").Attr("href")
	if q := mustQuery(t, href); q.Get("status") != "enabled" || q.Get("q") != "a" || q.Get("letter") != "b" || q.Get("registration") != "all" {
		t.Errorf("letter link %s loses the filters", href)
	}
	// The search form keeps the registration filter and the selected values.
	if v, _ := p.Find(`form[role=search] input[name=registration]`).Attr("value"); v != "all" {
		t.Errorf("search form registration %q", v)
	}
	if v, _ := p.Find(`#users-status option[selected]`).Attr("value"); v != "enabled" {
		t.Errorf("status select shows %q", v)
	}
	// The origin filter offers the console's origins.
	var origins []string
	p.Find("#users-origin option").Each(func(_ int, o *goquery.Selection) { v, _ := o.Attr("value"); origins = append(origins, v) })
	for _, o := range []string{"", "manual", "csv", "outbound"} {
		if !slices.Contains(origins, o) {
			t.Errorf("origin options %v lack %q", origins, o)
		}
	}
}

func mustQuery(t *testing.T, href string) url.Values {
	t.Helper()
	u, err := url.Parse(href)
	if err != nil {
		t.Fatalf("href %q: %v", href, err)
	}
	return u.Query()
}

func TestUsersPageLockedFilter(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	lockOut(t, h, "alice@example.com")
	p := b.get("/console/users?registration=all&status=locked")
	wantStatus(t, p, http.StatusOK)
	if got := rowAddresses(p); !slices.Equal(got, []string{"alice@example.com"}) {
		t.Errorf("locked users: %v", got)
	}
	if v, _ := p.Find(`#users-status option[selected]`).Attr("value"); v != "locked" {
		t.Errorf("status select shows %q", v)
	}
}

// lockOut fails LockAfter (3) sign-ins of address on the console's sign-in form.
func lockOut(t *testing.T, h *harness, address string) {
	t.Helper()
	other := h.browser()
	for range 3 {
		res := other.post("/console/signin", url.Values{"address": {address}, "password": {"Wrong-Password-123"}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed sign-in of %s: %d, want 401", address, res.StatusCode)
		}
	}
	if !h.apiUser(address).Locked {
		t.Fatalf("%s is not locked after three failed sign-ins", address)
	}
}

func TestUsersPageSort(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	all := "/console/users?registration=all"

	// Default: sorted by address A-Z, and the header says so.
	p := b.get(all)
	if s, _ := p.Find(`th[aria-sort]`).Attr("aria-sort"); p.Find(`th[aria-sort]`).Length() != 1 || s != "ascending" ||
		!strings.HasPrefix(text(p.Find(`th[aria-sort]`)), "Address") {
		t.Fatalf("default aria-sort: %q on %q", s, text(p.Find(`th[aria-sort]`)))
	}
	// Clicking Department sorts A-Z ...
	href, _ := p.Find("#sort-department").Attr("href")
	p = b.get(href)
	wantStatus(t, p, http.StatusOK)
	th := p.Find(`th[aria-sort]`)
	if s, _ := th.Attr("aria-sort"); th.Length() != 1 || s != "ascending" || !strings.HasPrefix(text(th), "Department") {
		t.Fatalf("after one click: aria-sort %q on %q", s, text(th))
	}
	depts := func(p page) []string {
		var out []string
		p.Find("table.users tbody tr").Each(func(_ int, tr *goquery.Selection) { out = append(out, text(tr.Find("td").Eq(2))) })
		return out
	}
	if got := depts(p); !slices.IsSorted(got) || got[0] != "" {
		t.Errorf("department A-Z: %v", got)
	}
	if got := rowAddresses(p); !slices.Equal(got, []string{"root@example.com", "carol@example.com", "bob@example.com",
		"zed@example.com", "alice@example.com", "dave@example.net"}) {
		t.Errorf("department A-Z rows: %v", got)
	}
	// ... and again Z-A.
	href, _ = p.Find("#sort-department").Attr("href")
	p = b.get(href)
	th = p.Find(`th[aria-sort]`)
	if s, _ := th.Attr("aria-sort"); s != "descending" || !strings.HasPrefix(text(th), "Department") {
		t.Fatalf("after two clicks: aria-sort %q on %q", s, text(th))
	}
	got := depts(p)
	if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) || got[0] != "Sales" {
		t.Errorf("department Z-A: %v", got)
	}
	// A third click sorts A-Z again; the caption says how the list is sorted.
	if !strings.Contains(text(p.Find("caption")), "sorted by Department Z to A") {
		t.Errorf("caption %q", text(p.Find("caption")))
	}
	href, _ = p.Find("#sort-department").Attr("href")
	if q := mustQuery(t, href); q.Get("order") != "" || q.Get("sort") != "department" || q.Get("registration") != "all" {
		t.Errorf("third click goes to %s", href)
	}
	// Every column header is a sort link.
	for _, col := range []string{"address", "display_name", "department", "title", "origin", "enabled", "registered", "last_login"} {
		href, ok := p.Find("#sort-" + col).Attr("href")
		if !ok {
			t.Errorf("no sort link for %s", col)
			continue
		}
		if p := b.get(href); p.res.StatusCode != http.StatusOK {
			t.Errorf("sort by %s: %d %s", col, p.res.StatusCode, text(p.Find(".problem")))
		}
	}
}

func TestUsersPagePaging(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	ctx := context.Background()
	for i := range 120 {
		if _, err := h.svc.CreateUser(ctx, system, api.CreateUser{Address: fmt.Sprintf("u%03d@example.com", i),
			DisplayName: fmt.Sprintf("User %03d", i), Department: fmt.Sprintf("D%d", i%7)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, start := range []string{"/console/users?registration=all", "/console/users?registration=all&sort=department&order=desc"} {
		var pages [][]string
		var hrefs []string
		seen := map[string]bool{}
		p := b.get(start)
		if p.Find(`a[rel="prev"]`).Length() != 0 {
			t.Errorf("%s: the first page has a previous page", start)
		}
		for {
			wantStatus(t, p, http.StatusOK)
			rows := rowAddresses(p)
			for _, a := range rows {
				if seen[a] {
					t.Fatalf("%s: %s on two pages", start, a)
				}
				seen[a] = true
			}
			pages = append(pages, rows)
			if !strings.Contains(text(p.Find(".pager")), fmt.Sprintf("Page %d", len(pages))) {
				t.Errorf("page %d says %q", len(pages), text(p.Find(".pager")))
			}
			next, ok := p.Find(`a[rel="next"]`).Attr("href")
			if !ok {
				break
			}
			hrefs = append(hrefs, next)
			p = b.get(next)
		}
		if len(pages) != 3 || len(pages[0]) != 50 || len(pages[1]) != 50 || len(pages[2]) != 21 || len(seen) != 121 {
			t.Fatalf("%s: pages of %d, %d, %d rows (%d pages, %d users), want 50, 50, 21", start,
				len(pages[0]), len(pages[1]), len(pages[len(pages)-1]), len(pages), len(seen))
		}
		// Previous from the last page is the second page, and from there the first.
		prev, ok := p.Find(`a[rel="prev"]`).Attr("href")
		if !ok {
			t.Fatalf("%s: the last page has no previous page", start)
		}
		p = b.get(prev)
		if got := rowAddresses(p); !slices.Equal(got, pages[1]) {
			t.Errorf("%s: previous of page 3 is not page 2", start)
		}
		if n, _ := p.Find(`a[rel="next"]`).Attr("href"); n != hrefs[1] {
			t.Errorf("%s: next of page 2 reached back: %s, want %s", start, n, hrefs[1])
		}
		prev, _ = p.Find(`a[rel="prev"]`).Attr("href")
		p = b.get(prev)
		if got := rowAddresses(p); !slices.Equal(got, pages[0]) {
			t.Errorf("%s: previous of page 2 is not page 1", start)
		}
		if p.Find(`a[rel="prev"]`).Length() != 0 {
			t.Errorf("%s: page 1 reached back has a previous page", start)
		}
	}
}

func TestUsersPageBadParameters(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	for path, want := range map[string]string{
		"/console/users?sort=shoe_size":                           `cannot sort by "shoe_size"`,
		"/console/users?colour=red":                               `unknown query parameter "colour"`,
		"/console/users?registration=maybe":                       `registration="maybe"`,
		"/console/users?status=asleep":                            `status="asleep"`,
		"/console/users?letter=abc":                               `letter "abc"`,
		"/console/users?order=sideways":                           `order="sideways"`,
		"/console/users?cursor=garbage":                           `cursor "garbage" is not one this listing returned`,
		"/console/users?q=a&q=b":                                  `"q" is given 2 times`,
		"/console/users?domain=" + url.QueryEscape("bad domain!"): `domain="bad domain!"`,
	} {
		p := b.get(path)
		if p.res.StatusCode == http.StatusOK || p.res.StatusCode >= 500 {
			t.Errorf("%s: status %d, want a 4xx", path, p.res.StatusCode)
			continue
		}
		alert := p.Find(`.problem[role="alert"]`)
		if !strings.Contains(text(alert), want) {
			t.Errorf("%s: message %q, want it to contain %q", path, text(alert), want)
		}
		// The page is still the users page, with its filters and a way out.
		if p.Find(`form[role="search"]`).Length() != 1 || p.Find(`a[href="/console/users"]`).Length() == 0 {
			t.Errorf("%s: not the users page with a way out", path)
		}
	}
}

func TestUsersPageHTMLInert(t *testing.T) {
	h := newHarness(t)
	payload := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	h.mkUser(api.CreateUser{Address: "evil@example.com", DisplayName: payload, Department: `"><b>dept</b>`, Title: "{{.CSRF}}"}, false)
	b := h.admin("root@example.com")
	p := b.get("/console/users?registration=all&q=" + url.QueryEscape("<script>"))
	wantStatus(t, p, http.StatusOK)
	if p.Find("main script, main img, main b").Length() != 0 {
		t.Fatal("a display name became markup")
	}
	row := p.Find("table.users tbody tr").First()
	if got := text(row.Find("td").Eq(1)); got != payload {
		t.Errorf("name cell %q, want the payload as text", got)
	}
	if got := text(row.Find("td").Eq(3)); got != "{{.CSRF}}" {
		t.Errorf("title cell %q", got)
	}
	if v, _ := p.Find("#users-q").Attr("value"); v != "<script>" {
		t.Errorf("search box holds %q", v)
	}
}

// actionForm posts the action of address with the form's fields.
func (b *browser) action(address, action string, form url.Values) page {
	b.h.t.Helper()
	return b.postPage("/console/users/"+url.PathEscape(address)+"/"+action, form)
}

func TestUserRegister(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")

	// The list offers Register and Send invitation to the unregistered, named.
	p := b.get("/console/users?registration=unregistered")
	reg := p.Find(`a[aria-label="Register bob@example.com"]`)
	if href, _ := reg.Attr("href"); href != "/console/users/bob@example.com/register" {
		t.Fatalf("register link %q", href)
	}
	if d, _ := reg.Attr("data-dialog"); d != "register-dialog" || p.Find("dialog#register-dialog form input[name=csrf]").Length() != 1 {
		t.Errorf("register link opens %q; the dialog must hold a form with the token", d)
	}
	if p.Find(`a[aria-label="Send invitation to bob@example.com"]`).Length() != 1 {
		t.Error("no Send invitation for bob")
	}
	if p.Find(`a[aria-label="Unregister bob@example.com"]`).Length() != 0 {
		t.Error("Unregister offered for an unregistered user")
	}

	// The page of the action (no JavaScript) has the same form.
	p = b.get("/console/users/bob@example.com/register")
	wantStatus(t, p, http.StatusOK)
	for _, f := range []string{"password", "confirm_password", "security_question", "security_answer", "force_change_password"} {
		if p.Find(`form input[name="`+f+`"]`).Length() != 1 {
			t.Errorf("register page lacks %s", f)
		}
		if id, _ := p.Find(`form input[name="` + f + `"]`).Attr("id"); p.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("field %s has no label", f)
		}
	}
	back := "/console/users?registration=unregistered"
	good := url.Values{"password": {"Sturdy-Pass-42"}, "confirm_password": {"Sturdy-Pass-42"},
		"security_question": {"Town of birth?"}, "security_answer": {"Leeds"}, "back": {back}}

	// Refusals: each next to its field, nothing written.
	for _, c := range []struct {
		name, field, want string
		status            int
		change            func(url.Values)
	}{
		{"weak", "password", "weak password", http.StatusUnprocessableEntity, func(f url.Values) {
			f.Set("password", "short")
			f.Set("confirm_password", "short")
		}},
		{"mismatch", "confirm_password", "does not match", http.StatusUnprocessableEntity, func(f url.Values) { f.Set("confirm_password", "Sturdy-Pass-43") }},
		{"no question", "security_question", "required", http.StatusUnprocessableEntity, func(f url.Values) { f.Del("security_question") }},
		{"no answer", "security_answer", "required", http.StatusUnprocessableEntity, func(f url.Values) { f.Set("security_answer", " ") }},
	} {
		f := cloneForm(good)
		c.change(f)
		p := b.action("bob@example.com", "register", f)
		if p.res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, p.res.StatusCode, c.status)
		}
		in := p.Find(`form [name="` + c.field + `"]`)
		if v, _ := in.Attr("aria-invalid"); v != "true" {
			t.Errorf("%s: %s not marked invalid", c.name, c.field)
		}
		if got := text(p.Find("#" + c.field + "-error")); !strings.Contains(got, c.want) {
			t.Errorf("%s: field message %q, want %q", c.name, got, c.want)
		}
		if d, _ := in.Attr("aria-describedby"); !strings.Contains(d, c.field+"-error") {
			t.Errorf("%s: %s not described by its error (%q)", c.name, c.field, d)
		}
		if p.Find(`[role="alert"]`).Length() != 1 {
			t.Errorf("%s: no alert", c.name)
		}
		// Typed secrets are not sent back; the question is.
		p.Find(`input[type=password]`).Each(func(_ int, s *goquery.Selection) {
			if v, ok := s.Attr("value"); ok && v != "" {
				t.Errorf("%s: a password field came back filled", c.name)
			}
		})
		if v, _ := p.Find(`input[name=back]`).Attr("value"); v != back {
			t.Errorf("%s: back %q", c.name, v)
		}
		if h.apiUser("bob@example.com").Registered {
			t.Fatalf("%s: bob was registered", c.name)
		}
	}
	if v, _ := b.action("bob@example.com", "register", func() url.Values {
		f := cloneForm(good)
		f.Set("confirm_password", "x")
		return f
	}()).Find("#security_question").Attr("value"); v != "Town of birth?" {
		t.Errorf("the question typed is not kept: %q", v)
	}

	// Success: back to the list with a confirmation.
	f := cloneForm(good)
	f.Set("force_change_password", "true")
	res := b.post("/console/users/bob@example.com/register", f)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != back {
		t.Fatalf("register: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	u := h.apiUser("bob@example.com")
	if !u.Registered || !u.ForceChangePassword {
		t.Fatalf("bob after registering: registered %v, force change %v", u.Registered, u.ForceChangePassword)
	}
	p = b.get(back)
	if !strings.Contains(text(p.Find(`.flash[role=status]`)), "Registered bob@example.com.") {
		t.Errorf("flash %q", text(p.Find(".flash")))
	}
	// Registering again: the API's message.
	p = b.action("bob@example.com", "register", cloneForm(good))
	if p.res.StatusCode != http.StatusConflict || !strings.Contains(text(p.Find(".problem")), "already registered") {
		t.Errorf("register twice: %d %q", p.res.StatusCode, text(p.Find(".problem")))
	}
	// An unknown user: the error page, not a form.
	p = b.get("/console/users/nobody@example.com/register")
	if p.res.StatusCode != http.StatusNotFound || !strings.Contains(text(p.Find("main")), "no user, group or alias nobody@example.com") {
		t.Errorf("unknown user: %d %q", p.res.StatusCode, text(p.Find("main")))
	}
	// A foreign back is ignored.
	f = cloneForm(good)
	f.Set("back", "https://evil.example/")
	res = b.post("/console/users/zed@example.com/register", f)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/users" {
		t.Errorf("foreign back: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestUserInvite(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	b.get("/console/users?registration=unregistered")

	// Without a preset: the token is shown once, on the result page.
	p := b.action("bob@example.com", "invite", url.Values{"back": {"/console/users?registration=unregistered"}})
	wantStatus(t, p, http.StatusOK)
	tok, _ := p.Find("#invite-token").Attr("value")
	if len(tok) < 20 {
		t.Fatalf("invitation token %q", tok)
	}
	if h.apiUser("bob@example.com").Registered {
		t.Fatal("an invitation registered bob")
	}
	// The token works, once: the user registers with it through the API.
	// (The redemption itself is the API's; here: it is a real invitation.)
	if strings.Contains(text(p.Find("main")), "preset") {
		t.Errorf("a plain invitation says preset: %q", text(p.Find("main")))
	}

	// With a preset password: a weak one is refused next to its field.
	p = b.action("zed@example.com", "invite", url.Values{"password": {"weakling"}, "confirm_password": {"weakling"},
		"security_question": {"Q?"}, "security_answer": {"A"}})
	if p.res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(text(p.Find("#password-error")), "weak password") {
		t.Errorf("weak preset: %d %q", p.res.StatusCode, text(p.Find("#password-error")))
	}
	if p.Find("#invite-token").Length() != 0 {
		t.Error("a refused invitation shows a token")
	}
	p = b.action("zed@example.com", "invite", url.Values{"password": {"Sturdy-Pass-42"}, "confirm_password": {"Sturdy-Pass-4"},
		"security_question": {"Q?"}, "security_answer": {"A"}})
	if p.res.StatusCode != http.StatusUnprocessableEntity || text(p.Find("#confirm_password-error")) == "" {
		t.Errorf("mismatched preset: %d", p.res.StatusCode)
	}
	p = b.action("zed@example.com", "invite", url.Values{"password": {"Sturdy-Pass-42"}, "confirm_password": {"Sturdy-Pass-42"},
		"security_question": {"Q?"}, "security_answer": {"A"}})
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(text(p.Find("main")), "preset") || p.Find("#invite-token").Length() != 1 {
		t.Errorf("preset invitation page: %q", text(p.Find("main")))
	}
	// A registered user cannot be invited: the API's message.
	p = b.action("alice@example.com", "invite", url.Values{})
	if p.res.StatusCode != http.StatusConflict || !strings.Contains(text(p.Find(".problem")), "already registered") {
		t.Errorf("invite a registered user: %d %q", p.res.StatusCode, text(p.Find(".problem")))
	}
	// The token is in no log.
	for _, e := range h.logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), tok) {
			t.Fatalf("the invitation token is in the log: %v", e.Message)
		}
	}
}

func TestUserUnregisterRemoveUnlock(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	lockOut(t, h, "alice@example.com")

	p := b.get("/console/users")
	for _, name := range []string{"Unregister alice@example.com", "Remove alice@example.com", "Edit alice@example.com",
		"Status check alice@example.com"} {
		if p.Find(`[aria-label="`+name+`"]`).Length() != 1 {
			t.Errorf("no %q", name)
		}
	}
	if d, _ := p.Find(`a[aria-label="Unregister alice@example.com"]`).Attr("data-dialog"); d != "unregister-dialog" ||
		p.Find("dialog#unregister-dialog").Length() != 1 {
		t.Errorf("unregister opens %q", d)
	}
	if p.Find(`a[aria-label="Remove carol@example.com"]`).Length() != 0 {
		t.Error("Remove offered for a disabled user")
	}
	// Clear lock: a POST button on the locked user's row only.
	btn := p.Find(`button[aria-label="Clear lock alice@example.com"]`)
	if btn.Length() != 1 || p.Find(`button[aria-label^="Clear lock"]`).Length() != 1 {
		t.Fatalf("clear lock buttons: %d", p.Find(`button[aria-label^="Clear lock"]`).Length())
	}
	form := btn.Closest("form")
	if a, _ := form.Attr("action"); a != "/console/users/alice@example.com/unlock" {
		t.Errorf("clear lock posts to %q", a)
	}
	if tok, _ := form.Find(`input[name=csrf]`).Attr("value"); tok == "" {
		t.Error("the clear lock form has no token")
	}
	res := b.post("/console/users/alice@example.com/unlock", url.Values{"back": {"/console/users"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	if h.apiUser("alice@example.com").Locked {
		t.Fatal("alice still locked")
	}
	p = b.get("/console/users")
	if !strings.Contains(text(p.Find(".flash")), "Cleared the lock of alice@example.com.") {
		t.Errorf("flash %q", text(p.Find(".flash")))
	}
	if p.Find(`button[aria-label^="Clear lock"]`).Length() != 0 {
		t.Error("clear lock still offered")
	}

	// The confirmation pages (no JavaScript).
	for _, a := range []string{"unregister", "remove", "unlock"} {
		p := b.get("/console/users/alice@example.com/" + a)
		wantStatus(t, p, http.StatusOK)
		if p.Find(`section.user-action form[method=post] button[type=submit]`).Length() != 1 {
			t.Errorf("%s page has no confirm button", a)
		}
	}
	// Unregister.
	res = b.post("/console/users/alice@example.com/unregister", url.Values{"back": {"/console/users?registration=all"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/users?registration=all" {
		t.Fatalf("unregister: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if h.apiUser("alice@example.com").Registered {
		t.Fatal("alice still registered")
	}
	// Remove: disabled, kept.
	res = b.post("/console/users/bob@example.com/remove", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", res.StatusCode)
	}
	if u := h.apiUser("bob@example.com"); u.Enabled {
		t.Fatal("bob still enabled")
	}
	// Remove an unknown user: the error page with the API's message.
	p = b.action("nobody@example.com", "remove", nil)
	if p.res.StatusCode != http.StatusNotFound || !strings.Contains(text(p.Find("main")), "nobody@example.com") {
		t.Errorf("remove unknown: %d %q", p.res.StatusCode, text(p.Find("main")))
	}
}

func TestUserActionsNeedCSRF(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	b := h.admin("root@example.com")
	lockOut(t, h, "alice@example.com")
	b.get("/console/users")
	for _, a := range []struct{ address, action string }{
		{"bob@example.com", "register"}, {"bob@example.com", "invite"}, {"carol@example.com", "unregister"},
		{"dave@example.net", "remove"}, {"alice@example.com", "unlock"},
	} {
		for _, tok := range []string{"", "forged"} {
			p := b.action(a.address, a.action, url.Values{"csrf": {tok}, "password": {"Sturdy-Pass-42"},
				"confirm_password": {"Sturdy-Pass-42"}, "security_question": {"Q?"}, "security_answer": {"A"}})
			if p.res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with token %q: %d, want 403", a.action, a.address, tok, p.res.StatusCode)
			}
		}
	}
	if u := h.apiUser("bob@example.com"); u.Registered {
		t.Error("bob registered without a token")
	}
	if u := h.apiUser("carol@example.com"); !u.Registered {
		t.Error("carol unregistered without a token")
	}
	if u := h.apiUser("dave@example.net"); !u.Enabled {
		t.Error("dave removed without a token")
	}
	if u := h.apiUser("alice@example.com"); !u.Locked {
		t.Error("alice unlocked without a token")
	}
}

func TestUsersReadOnlyAdmin(t *testing.T) {
	h := newHarness(t)
	seedDirectory(h)
	lockOut(t, h, "alice@example.com")
	if _, err := h.svc.AddRole(context.Background(), system, api.Role{Name: "Viewer", Permissions: []string{"console", "users.read"}}); err != nil {
		t.Fatal(err)
	}
	h.user("viewer@example.com", "Viewer")
	b := h.browser()
	b.signIn("viewer@example.com", adminPassword)

	p := b.get("/console/users?registration=all")
	wantStatus(t, p, http.StatusOK)
	if n := len(rowAddresses(p)); n != 6 {
		t.Errorf("%d rows", n)
	}
	if n := p.Find("[data-dialog], dialog, table.users form, table.users button").Length(); n != 0 {
		t.Errorf("a read-only administrator sees %d action controls", n)
	}
	for _, label := range []string{"Edit", "Register", "Unregister", "Remove", "Send invitation", "Clear lock"} {
		if p.Find(`table.users [aria-label^="`+label+` "]`).Length() != 0 {
			t.Errorf("read-only sees %s", label)
		}
	}
	if p.Find(`a[aria-label="Status check alice@example.com"]`).Length() != 1 ||
		p.Find(`table.users a[href="/console/users/alice@example.com"]`).Length() != 1 {
		t.Error("read-only lacks the links to view alice")
	}
	for _, a := range userActionNames {
		if p := b.get("/console/users/bob@example.com/" + a); p.res.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", a, p.res.StatusCode)
		}
		p := b.action("bob@example.com", a, url.Values{"password": {"Sturdy-Pass-42"}, "confirm_password": {"Sturdy-Pass-42"},
			"security_question": {"Q?"}, "security_answer": {"A"}})
		if p.res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", a, p.res.StatusCode)
		}
	}
	if b.post("/console/users/alice@example.com/unlock", nil).StatusCode != http.StatusForbidden || !h.apiUser("alice@example.com").Locked {
		t.Error("a read-only administrator cleared a lock")
	}
	if u := h.apiUser("bob@example.com"); u.Registered || !u.Enabled {
		t.Error("a read-only administrator changed bob")
	}
}

var userActionNames = []string{"register", "invite", "unregister", "remove", "unlock"}
