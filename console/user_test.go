package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// Handler tests of New address, the user's page and the User status check.

// upSyncer is the sync side of a daemon with one connector, hr, which owns
// the fields in owned, and whose latest run quarantined the records in q.
type upSyncer struct {
	owned map[string]bool
	q     []api.QuarantinedRecord
}

func (upSyncer) Connectors() []string { return []string{"hr"} }
func (upSyncer) Trigger(context.Context, api.TriggerSync) ([]api.TriggeredRun, error) {
	return nil, nil
}
func (upSyncer) Runs(context.Context, string, int) ([]api.Run, error) { return nil, nil }
func (upSyncer) Run(context.Context, string) (api.RunDetail, error) {
	return api.RunDetail{}, api.ErrRunNotFound
}
func (s upSyncer) FieldOwner(connector, field string) bool {
	return connector == "hr" && s.owned[field]
}
func (s upSyncer) Quarantined(_ context.Context, who api.QuarantineQuery) ([]api.QuarantinedRecord, error) {
	var out []api.QuarantinedRecord
	for _, q := range s.q {
		if slices.ContainsFunc(append(who.Names, who.Anchor), func(n string) bool { return strings.EqualFold(n, q.Record) }) {
			out = append(out, q)
		}
	}
	return out, nil
}

// upViewer is a browser of an administrator with console and users.read only.
func (h *harness) upViewer(address string) *browser {
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

func upGet(t *testing.T, h *harness, address string) api.User {
	t.Helper()
	u, err := h.svc.User(context.Background(), address)
	if err != nil {
		t.Fatalf("user %s: %v", address, err)
	}
	return u
}

func upExists(t *testing.T, h *harness, address string) bool {
	t.Helper()
	_, err := h.svc.User(context.Background(), address)
	if err == nil {
		return true
	}
	if status, _, _ := api.Classify(err); status != http.StatusNotFound {
		t.Fatalf("look up %s: %v", address, err)
	}
	return false
}

func upStatus(t *testing.T, p page, want int) {
	t.Helper()
	if p.res.StatusCode != want {
		html, _ := p.Html()
		t.Fatalf("status %d, want %d:\n%s", p.res.StatusCode, want, html)
	}
}

// upFieldError checks that the input id is marked invalid, described by its
// error, and that the error says want.
func upFieldError(t *testing.T, p page, id, want string) {
	t.Helper()
	in := p.Find("#" + id)
	if in.Length() != 1 {
		t.Fatalf("no input #%s", id)
	}
	if v, _ := in.Attr("aria-invalid"); v != "true" {
		t.Errorf("#%s: aria-invalid=%q, want true", id, v)
	}
	if d, _ := in.Attr("aria-describedby"); !slices.Contains(strings.Fields(d), id+"-error") {
		t.Errorf("#%s: aria-describedby=%q, want it to name %s-error", id, d, id+"-error")
	}
	if got := text(p.Find("#" + id + "-error")); !strings.Contains(got, want) {
		t.Errorf("#%s-error = %q, want it to contain %q", id, got, want)
	}
	if p.Find(`[role="alert"]`).Length() == 0 {
		t.Errorf("no role=alert message")
	}
}

// upFact is the value of the fact labelled label (a dt) on the page.
func upFact(p page, label string) string {
	var out string
	p.Find("dl.facts dt").EachWithBreak(func(_ int, s *goquery.Selection) bool {
		if text(s) == label {
			out = text(s.Next())
			return false
		}
		return true
	})
	return out
}

// upFollow reads the page a 303 points to.
func upFollow(t *testing.T, b *browser, res *http.Response) page {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", res.StatusCode)
	}
	return b.get(res.Header.Get("Location"))
}

const tempPassword = "Tempor4ry-Start!"

func newAddressForm(address string) url.Values {
	return url.Values{"address": {address}, "display_name": {"Alice Liddell"}, "given_name": {"Alice"},
		"surname": {"Liddell"}, "phone": {"+1 555 0101"}, "department": {"Research"}, "title": {"Analyst"},
		"aliases": {"al@example.com\r\nalice.l@example.net"}, "enabled": {"on"},
		"default_implementation_lead": {"on"}, "password": {tempPassword}, "confirm_password": {tempPassword},
		"force_change_password": {"on"}, "security_question": {"First pet?"}, "security_answer": {"Dinah"}}
}

func TestNewAddressPage(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	p := b.get("/console/domains/example.com/users/new")
	upStatus(t, p, http.StatusOK)
	form := p.Find(`form[action="/console/domains/example.com/users/new"]`)
	if form.Length() != 1 {
		t.Fatal("no New address form")
	}
	for _, name := range []string{"address", "display_name", "given_name", "surname", "phone", "department", "title",
		"aliases", "enabled", "default_implementation_lead", "password", "confirm_password", "force_change_password", "security_question", "security_answer", "csrf"} {
		if form.Find(`[name="`+name+`"]`).Length() != 1 {
			t.Errorf("no %s field", name)
		}
	}
	for _, id := range []string{"enabled", "force_change_password"} {
		if _, ok := form.Find("#" + id).Attr("checked"); !ok {
			t.Errorf("%s is not ticked by default", id)
		}
	}
	if !strings.Contains(text(p.Find("#roles-later")), "Roles can be assigned once the user is saved") {
		t.Errorf("the page does not say why roles cannot be chosen yet: %q", text(p.Find("#roles-later")))
	}
	if form.Find(`[name="role"]`).Length() != 0 {
		t.Error("roles can be chosen before the user is saved")
	}
	if got := text(p.Find("label[for=force_change_password]")); got != "Force Change at Logon" {
		t.Errorf("force change label %q", got)
	}

	p = b.get("/console/domains/nowhere.test/users/new")
	upStatus(t, p, http.StatusNotFound)
	if !strings.Contains(text(p.Find("main")), "nowhere.test is not an internal domain") {
		t.Errorf("unknown domain page: %q", text(p.Find("main")))
	}
}

func TestNewAddressCreatesWithTemporaryPassword(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	b.get("/console/domains/example.com/users/new")
	res := b.post("/console/domains/example.com/users/new", newAddressForm("Alice"))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/users/alice@example.com" {
		t.Fatalf("create: %d to %q, want 303 to the user's page", res.StatusCode, res.Header.Get("Location"))
	}
	u := upGet(t, h, "alice@example.com")
	if u.DisplayName != "Alice Liddell" || u.GivenName != "Alice" || u.Surname != "Liddell" || u.Phone != "+1 555 0101" ||
		u.Department != "Research" || u.Title != "Analyst" || !u.Enabled || !u.DefaultImplementationLead || u.Origin != "manual" {
		t.Errorf("created %+v", u)
	}
	if !slices.Equal(u.Aliases, []string{"al@example.com", "alice.l@example.net"}) {
		t.Errorf("aliases %v", u.Aliases)
	}
	if !u.HasPassword || !u.ForceChangePassword || !u.Registered {
		t.Errorf("password %v, force change %v, registered %v", u.HasPassword, u.ForceChangePassword, u.Registered)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
	got, err := h.svc.SignIn(req, "alice@example.com", tempPassword)
	if err != nil {
		t.Fatalf("sign in with the temporary password: %v", err)
	}
	if !got.MustChangePassword {
		t.Error("the temporary password need not be changed")
	}

	// The user's page, where the roles can now be chosen.
	p := upFollow(t, b, res)
	upStatus(t, p, http.StatusOK)
	if flash := text(p.Find(".flash")); !strings.Contains(flash, "Created alice@example.com") || !strings.Contains(flash, "roles") {
		t.Errorf("flash %q", flash)
	}
	if p.Find(`form[action="/console/users/alice@example.com/roles"] input[name="role"]`).Length() == 0 {
		t.Error("no roles form on the new user's page")
	}
	if html, _ := p.Html(); strings.Contains(html, tempPassword) {
		t.Error("the temporary password is in the page")
	}

	// Without a password: the user is created without a login.
	f := newAddressForm("bob@example.net")
	f.Del("password")
	f.Del("confirm_password")
	f.Del("security_answer")
	f.Del("aliases")
	f.Del("enabled")
	res = b.post("/console/domains/example.com/users/new", f)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/users/bob@example.net" {
		t.Fatalf("create bob: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	bob := upGet(t, h, "bob@example.net")
	if bob.HasPassword || bob.Registered || bob.Enabled {
		t.Errorf("bob: password %v registered %v enabled %v", bob.HasPassword, bob.Registered, bob.Enabled)
	}
}

func TestNewAddressRefusals(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	h.user("taken@example.com")
	cases := []struct {
		name   string
		edit   func(url.Values)
		status int
		field  string
		want   string
	}{
		{"unknown domain", func(f url.Values) { f.Set("address", "carol@nowhere.test") }, http.StatusUnprocessableEntity,
			"address", "domain nowhere.test is not an internal domain"},
		{"duplicate address", func(f url.Values) { f.Set("address", "taken") }, http.StatusConflict,
			"address", "address taken@example.com is already the primary address of taken@example.com"},
		{"alias clash", func(f url.Values) { f.Set("aliases", "taken@example.com") }, http.StatusConflict,
			"aliases", "taken@example.com"},
		{"alias in an unknown domain", func(f url.Values) { f.Set("aliases", "c@elsewhere.test") }, http.StatusUnprocessableEntity,
			"aliases", "elsewhere.test"},
		{"weak password", func(f url.Values) { f.Set("password", "short"); f.Set("confirm_password", "short") },
			http.StatusUnprocessableEntity, "password", "weak password"},
		{"confirmation differs", func(f url.Values) { f.Set("confirm_password", tempPassword+"x") },
			http.StatusUnprocessableEntity, "confirm_password", "does not match"},
		{"not an address", func(f url.Values) { f.Set("address", "a b@example.com") }, http.StatusUnprocessableEntity,
			"address", ""},
		{"no address", func(f url.Values) { f.Set("address", "") }, http.StatusUnprocessableEntity, "address", "required"},
		{"no security answer", func(f url.Values) { f.Set("security_answer", " ") }, http.StatusUnprocessableEntity,
			"security_answer", "required with a temporary password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.get("/console/domains/example.com/users/new")
			f := newAddressForm("carol")
			c.edit(f)
			p := b.postPage("/console/domains/example.com/users/new", f)
			upStatus(t, p, c.status)
			upFieldError(t, p, c.field, c.want)
			if v, _ := p.Find("#display_name").Attr("value"); v != "Alice Liddell" {
				t.Errorf("the typed display name was not kept: %q", v)
			}
			if v, _ := p.Find("#password").Attr("value"); v != "" {
				t.Error("the password is echoed into the page")
			}
			if v, _ := p.Find("#security_answer").Attr("value"); v != "" {
				t.Error("the security answer is echoed into the page")
			}
			if html, _ := p.Html(); strings.Contains(html, tempPassword) || strings.Contains(html, "Dinah") {
				t.Error("a secret is in the page")
			}
			if upExists(t, h, "carol@example.com") {
				t.Error("carol was created")
			}
		})
	}
}

// upConnectorUser creates dana@example.com as connector hr's run run-1 did.
func upConnectorUser(t *testing.T, h *harness) {
	t.Helper()
	_, err := h.st.Apply(context.Background(), store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "hr", RunID: "run-1"},
		Changes: []store.Change{{Action: store.ActionCreate, Kind: store.KindUser, Address: "dana@example.com", Origin: "hr",
			Anchor: "E042", Reason: "in the source", Changes: []store.FieldChange{
				{Field: store.FieldDisplayName, After: "Dana Scully"}, {Field: store.FieldTitle, After: "Agent"},
				{Field: store.FieldEnabled, After: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUserPageEdit(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	ctx := context.Background()
	if _, err := h.svc.CreateUser(ctx, system, api.CreateUser{Address: "erin@example.com", DisplayName: "Erin",
		Title: "Clerk", Department: "Ops", Aliases: []string{"e@example.com"}}); err != nil {
		t.Fatal(err)
	}
	p := b.get("/console/users/erin@example.com")
	upStatus(t, p, http.StatusOK)
	form := p.Find(`form[action="/console/users/erin@example.com"]`)
	if v, _ := form.Find("#title").Attr("value"); v != "Clerk" {
		t.Errorf("title %q", v)
	}
	if got := form.Find("#aliases").Text(); got != "e@example.com" {
		t.Errorf("aliases %q", got)
	}
	for _, want := range []string{"Created", "Last logged in", "Online", "Locked out"} {
		if !strings.Contains(text(p.Find("dl.facts")), want) {
			t.Errorf("no %q fact", want)
		}
	}
	if p.Find(`a[href="/console/users/erin@example.com/status"]`).Length() != 1 {
		t.Error("no link to the status check")
	}

	f := url.Values{"display_name": {"Erin"}, "given_name": {""}, "surname": {""}, "phone": {"+44 20 7946 0000"},
		"department": {"Ops"}, "title": {"Head clerk"}, "aliases": {"e@example.com\nerin.x@example.net"}}
	res := b.post("/console/users/erin@example.com", f)
	p = upFollow(t, b, res)
	if !strings.Contains(text(p.Find(".flash")), "Saved erin@example.com") {
		t.Errorf("flash %q", text(p.Find(".flash")))
	}
	u := upGet(t, h, "erin@example.com")
	if u.Title != "Head clerk" || u.Phone != "+44 20 7946 0000" || u.Enabled || u.DisplayName != "Erin" ||
		!slices.Equal(u.Aliases, []string{"e@example.com", "erin.x@example.net"}) {
		t.Errorf("saved %+v", u)
	}
	// Only the changed fields were sent: the audit's update names them alone.
	entries, err := h.st.Audit(ctx, store.AuditQuery{Address: "erin@example.com", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range entries {
		if e.Action == store.ActionUpdate && e.Actor.Name == "console:root@example.com" {
			for _, c := range e.Changes {
				fields = append(fields, c.Field)
			}
		}
	}
	slices.Sort(fields)
	if !slices.Equal(fields, []string{"aliases", "phone", "title"}) {
		t.Errorf("updated fields %v, want aliases, phone, title", fields)
	}

	// Nothing changed: nothing saved.
	before := len(entries)
	f.Set("enabled", "")
	f.Del("enabled")
	b.get("/console/users/erin@example.com")
	res = b.post("/console/users/erin@example.com", f)
	p = upFollow(t, b, res)
	if !strings.Contains(text(p.Find(".flash")), "Nothing changed") {
		t.Errorf("flash %q", text(p.Find(".flash")))
	}
	if entries, _ = h.st.Audit(ctx, store.AuditQuery{Address: "erin@example.com", Limit: 10}); len(entries) != before {
		t.Errorf("%d audit entries, want %d", len(entries), before)
	}
}

func TestUserPageEditRefusals(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	h.user("taken@example.com")
	if _, err := h.svc.CreateUser(context.Background(), system, api.CreateUser{Address: "erin@example.com", Title: "Clerk"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		aliases, want string
		status        int
	}{
		{"taken@example.com", "already the primary address of taken@example.com", http.StatusConflict},
		{"erin@elsewhere.test", "elsewhere.test is not an internal domain", http.StatusUnprocessableEntity},
		{"erin@example.com", "alias erin@example.com is the primary address", http.StatusUnprocessableEntity},
	} {
		b.get("/console/users/erin@example.com")
		p := b.postPage("/console/users/erin@example.com", url.Values{"title": {"Typed title"}, "aliases": {c.aliases}, "enabled": {"on"}})
		upStatus(t, p, c.status)
		upFieldError(t, p, "aliases", c.want)
		if v, _ := p.Find("#title").Attr("value"); v != "Typed title" {
			t.Errorf("the typed title was not kept: %q", v)
		}
		if u := upGet(t, h, "erin@example.com"); u.Title != "Clerk" || len(u.Aliases) != 0 {
			t.Errorf("saved despite the refusal: %+v", u)
		}
	}
}

func TestUserRoles(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	h.user("finn@example.com")
	p := b.get("/console/users/finn@example.com")
	form := p.Find(`form[action="/console/users/finn@example.com/roles"]`)
	var names []string
	form.Find(`input[name="role"]`).Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("value"); names = append(names, v) })
	if !slices.Contains(names, "Administrator") || !slices.Contains(names, "Training") {
		t.Fatalf("roles offered: %v", names)
	}
	// The roles that make a support contact are marked.
	adminRow := form.Find(`input[value="Administrator"]`).Parent()
	if !strings.Contains(text(adminRow), "support contact") {
		t.Errorf("Administrator not marked as support contact: %q", text(adminRow))
	}
	if strings.Contains(text(form.Find(`input[value="Training"]`).Parent()), "support contact") {
		t.Error("Training marked as support contact")
	}

	res := b.post("/console/users/finn@example.com/roles", url.Values{"role": {"Administrator", "Training"}})
	p = upFollow(t, b, res)
	if u := upGet(t, h, "finn@example.com"); !slices.Equal(u.Roles, []string{"Administrator", "Training"}) || !u.SupportContact {
		t.Errorf("roles %v support %v", u.Roles, u.SupportContact)
	}
	if _, ok := p.Find(`input[value="Training"]`).Attr("checked"); !ok {
		t.Error("Training not ticked after saving")
	}
	if !strings.Contains(text(p.Find(".badges")), "support contact") {
		t.Error("the user is not shown as a support contact")
	}

	// An unknown role: the API's message in the roles form, nothing changed.
	p = b.postPage("/console/users/finn@example.com/roles", url.Values{"role": {"Training", "Wizard"}})
	upStatus(t, p, http.StatusUnprocessableEntity)
	if got := text(p.Find("#roles-problem")); !strings.Contains(got, "Wizard") {
		t.Errorf("roles problem %q", got)
	}
	if u := upGet(t, h, "finn@example.com"); !slices.Equal(u.Roles, []string{"Administrator", "Training"}) {
		t.Errorf("roles changed to %v", u.Roles)
	}

	// None: every role removed.
	b.get("/console/users/finn@example.com")
	upFollow(t, b, b.post("/console/users/finn@example.com/roles", url.Values{}))
	if u := upGet(t, h, "finn@example.com"); len(u.Roles) != 0 {
		t.Errorf("roles %v, want none", u.Roles)
	}
}

func TestUserPageConnectorOwnedFields(t *testing.T) {
	h := newHarnessWith(t, upSyncer{owned: map[string]bool{store.FieldDisplayName: true, store.FieldTitle: true, store.FieldEnabled: true}})
	b := h.admin("root@example.com")
	upConnectorUser(t, h)
	p := b.get("/console/users/dana@example.com")
	upStatus(t, p, http.StatusOK)
	for _, id := range []string{"display_name", "title"} {
		in := p.Find("#" + id)
		if _, ok := in.Attr("readonly"); !ok {
			t.Errorf("#%s is not read-only", id)
		}
		if _, ok := in.Attr("name"); ok {
			t.Errorf("#%s is sent with the form", id)
		}
		note := text(p.Find("#" + id + "-help"))
		if !strings.Contains(note, "Synchronised from connector hr") || !strings.Contains(note, "the next sync would overwrite") {
			t.Errorf("#%s note %q", id, note)
		}
		if d, _ := in.Attr("aria-describedby"); d != id+"-help" {
			t.Errorf("#%s described by %q", id, d)
		}
	}
	if _, ok := p.Find("#enabled").Attr("disabled"); !ok {
		t.Error("the connector's enabled flag can be changed")
	}
	if _, ok := p.Find("#phone").Attr("readonly"); ok {
		t.Error("phone is read-only, but hr does not own it")
	}

	// A forged value for an owned field is ignored; the others are saved.
	res := b.post("/console/users/dana@example.com", url.Values{"display_name": {"Forged"}, "title": {"Forged"},
		"phone": {"+1 202 555 0142"}})
	upFollow(t, b, res)
	u := upGet(t, h, "dana@example.com")
	if u.DisplayName != "Dana Scully" || u.Title != "Agent" || !u.Enabled || u.Phone != "+1 202 555 0142" {
		t.Errorf("saved %+v", u)
	}
}

func TestStatusCheck(t *testing.T) {
	sy := upSyncer{owned: map[string]bool{store.FieldDisplayName: true, store.FieldTitle: true},
		q: []api.QuarantinedRecord{{Connector: "hr", RunID: "run-7", Time: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC),
			Record: "E042", Field: "Disabled", Reason: `row 4: "maybe" is not TRUE or FALSE`, Fix: "correct the value in the source"}}}
	h := newHarnessWith(t, sy)
	b := h.admin("root@example.com")
	upConnectorUser(t, h)

	p := b.get("/console/users/dana@example.com/status")
	upStatus(t, p, http.StatusOK)
	main := text(p.Find("main"))
	for _, want := range []string{"User status check: dana@example.com", "cannot sign in", "not registered",
		"create by connector hr", `row 4: "maybe" is not TRUE or FALSE`, "correct the value in the source", "is quarantined"} {
		if !strings.Contains(main, want) {
			t.Errorf("the status check lacks %q:\n%s", want, main)
		}
	}
	for label, want := range map[string]string{"Source anchor": "E042", "Failed logins": "0", "Last login": "never",
		"Enabled": "yes", "Registered": "no", "Locked out": "no", "Can log in": "no", "Origin": "hr (connector)"} {
		if got := upFact(p, label); got != want {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
	if p.Find(`a[href="/console/runs/run-7"]`).Length() != 1 || p.Find(`a[href="/console/runs/run-1"]`).Length() != 1 {
		t.Error("no links to the quarantining run and the last sync's run")
	}
	owners := map[string]string{}
	p.Find("table.owners tbody tr").Each(func(_ int, s *goquery.Selection) {
		owners[text(s.Find("td").First())] = text(s.Find("td").Last())
	})
	if owners["Display name"] != "connector hr" || owners["Title"] != "connector hr" ||
		!strings.HasPrefix(owners["Phone"], "administrators") || !strings.HasPrefix(owners["Roles"], "administrators") {
		t.Errorf("owners %v", owners)
	}

	// A user who can sign in, then is locked out: the Clear lock button posts
	// to the unlock action.
	h.user("gina@example.com")
	p = b.get("/console/users/gina@example.com/status")
	if !strings.Contains(text(p.Find(".verdict")), "gina@example.com can sign in") {
		t.Errorf("verdict %q", text(p.Find(".verdict")))
	}
	if !strings.Contains(text(p.Find("main")), "No source record of gina@example.com is quarantined") {
		t.Error("no quarantine line")
	}
	for range store.LockAfter {
		req := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
		_, _ = h.svc.SignIn(req, "gina@example.com", "wrong-Password-1")
	}
	p = b.get("/console/users/gina@example.com/status")
	if !strings.Contains(text(p.Find("main")), "locked after too many failed attempts") {
		t.Errorf("no lock reason: %s", text(p.Find("main")))
	}
	btn := p.Find(`form[action="/console/users/gina@example.com/unlock"] button`)
	if name, _ := btn.Attr("aria-label"); name != "Clear lock of gina@example.com" {
		t.Errorf("clear lock button %q", name)
	}
	if btn.Parent().Find(`input[name="csrf"]`).Length() != 1 {
		t.Error("the Clear lock form has no token")
	}
	p = b.get("/console/users/gina@example.com")
	if p.Find(`form[action="/console/users/gina@example.com/unlock"] button`).Length() != 1 {
		t.Error("no Clear lock button on the user's page")
	}

	p = b.get("/console/users/nobody@example.com/status")
	upStatus(t, p, http.StatusNotFound)
}

func TestUserPagesHTMLInert(t *testing.T) {
	h := newHarness(t)
	b := h.admin("root@example.com")
	payload := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	b.get("/console/domains/example.com/users/new")
	f := newAddressForm("mallory")
	f.Set("display_name", payload)
	f.Set("title", `"><svg onload=alert(3)>`)
	upFollow(t, b, b.post("/console/domains/example.com/users/new", f))
	for _, path := range []string{"/console/users/mallory@example.com", "/console/users/mallory@example.com/status"} {
		p := b.get(path)
		upStatus(t, p, http.StatusOK)
		if n := p.Find("main script, main img, main svg").Length(); n != 0 {
			t.Errorf("%s: %d live elements from the payload", path, n)
		}
		p.Find("script").Each(func(_ int, s *goquery.Selection) {
			if src, _ := s.Attr("src"); src == "" {
				t.Errorf("%s: an inline script", path)
			}
		})
	}
	p := b.get("/console/users/mallory@example.com")
	if !strings.Contains(text(p.Find("h1")), payload) {
		t.Errorf("the payload is not shown as text: %q", text(p.Find("h1")))
	}
	if v, _ := p.Find("#title").Attr("value"); v != `"><svg onload=alert(3)>` {
		t.Errorf("title value %q", v)
	}
	// A refusal with the payload typed in: shown inert too.
	p = b.postPage("/console/domains/example.com/users/new", url.Values{"address": {payload}, "display_name": {payload}})
	upStatus(t, p, http.StatusUnprocessableEntity)
	if n := p.Find("main script, main img").Length(); n != 0 {
		t.Errorf("refusal: %d live elements from the payload", n)
	}
}

func TestUserPagesReadOnlyAdmin(t *testing.T) {
	h := newHarness(t)
	v := h.upViewer("viewer@example.com")
	h.user("hank@example.com", "Training")
	lockOutUP(t, h, "hank@example.com")

	p := v.get("/console/users/hank@example.com")
	upStatus(t, p, http.StatusOK)
	if n := p.Find(`main form`).Length(); n != 0 {
		t.Errorf("a read-only administrator sees %d forms", n)
	}
	if !strings.Contains(text(p.Find("main")), "Training") {
		t.Error("the roles are not shown")
	}
	p = v.get("/console/users/hank@example.com/status")
	upStatus(t, p, http.StatusOK)
	if n := p.Find(`main form, main button`).Length(); n != 0 {
		t.Errorf("a read-only administrator sees %d forms or buttons on the status check", n)
	}
	upStatus(t, v.get("/console/domains/example.com/users/new"), http.StatusForbidden)

	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/console/users/hank@example.com", url.Values{"title": {"Changed"}}},
		{"/console/users/hank@example.com/roles", url.Values{"role": {"Administrator"}}},
		{"/console/domains/example.com/users/new", newAddressForm("ivy")},
	} {
		if res := v.post(c.path, c.form); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", c.path, res.StatusCode)
		}
	}
	u := upGet(t, h, "hank@example.com")
	if u.Title != "" || !slices.Equal(u.Roles, []string{"Training"}) || upExists(t, h, "ivy@example.com") {
		t.Errorf("a read-only administrator changed something: %+v", u)
	}

	// Without a form token: refused, nothing written.
	b := h.admin("root@example.com")
	b.csrf = ""
	if res := b.post("/console/users/hank@example.com", url.Values{"title": {"Changed"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", res.StatusCode)
	}
	if u := upGet(t, h, "hank@example.com"); u.Title != "" {
		t.Error("saved without a token")
	}
}

// lockOutUP fails address's sign-in until it is locked.
func lockOutUP(t *testing.T, h *harness, address string) {
	t.Helper()
	for range store.LockAfter {
		req := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
		_, _ = h.svc.SignIn(req, address, "wrong-Password-1")
	}
	if u := upGet(t, h, address); !u.Locked {
		t.Fatalf("%s is not locked", address)
	}
}
