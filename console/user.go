package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// userPageRoutes are one user's pages: New address in a domain, the user's
// page (view, edit, roles) and the User status check.
func (c *Console) userPageRoutes() []route {
	return []route{
		{"GET " + Prefix + "domains/{domain}/users/new", PermWrite, c.newAddressPage},
		{"POST " + Prefix + "domains/{domain}/users/new", PermWrite, c.newAddress},
		{"GET " + Prefix + "users/{address}", PermRead, c.userDetail},
		{"POST " + Prefix + "users/{address}", PermWrite, c.saveUser},
		{"POST " + Prefix + "users/{address}/roles", PermRoles, c.saveUserRoles},
		{"GET " + Prefix + "users/{address}/status", PermRead, c.statusCheck},
	}
}

// formField is one input of a user form, ready for the template: its value,
// its help, the refusal next to it, and, for a field a connector owns, the
// connector (the field is then shown read-only and never sent).
type formField struct {
	Name, Label, Type, Value, Help, Error, Autocomplete string
	Checked                                             bool
	Owner                                               string
}

// Described is the ids the input's aria-describedby names: its help, then
// its error.
func (f formField) Described() string {
	var ids []string
	if f.Help != "" || f.Owner != "" {
		ids = append(ids, f.Name+"-help")
	}
	if f.Error != "" {
		ids = append(ids, f.Name+"-error")
	}
	return strings.Join(ids, " ")
}

// userValues are the editable fields of a user as a form holds them.
type userValues struct {
	DisplayName, GivenName, Surname, Phone, Department, Title string
	Aliases                                                   []string
	Enabled, DefaultLead                                      bool
}

func valuesOf(u api.User) userValues {
	return userValues{DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname, Phone: u.Phone,
		Department: u.Department, Title: u.Title, Aliases: u.Aliases, Enabled: u.Enabled,
		DefaultLead: u.DefaultImplementationLead}
}

// readValues reads the fields from a posted form (a checkbox left out is off).
func readValues(f url.Values) userValues {
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	return userValues{DisplayName: get("display_name"), GivenName: get("given_name"), Surname: get("surname"),
		Phone: get("phone"), Department: get("department"), Title: get("title"), Aliases: aliasLines(f.Get("aliases")),
		Enabled: f.Get("enabled") == "on", DefaultLead: f.Get("default_implementation_lead") == "on"}
}

// aliasLines splits the aliases box: one per line (commas and spaces also
// separate), empty lines dropped.
func aliasLines(s string) []string {
	out := []string{}
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' || r == ';' }) {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// fields lays v out as the form's inputs; owners maps a field to the connector
// that owns it, p holds the refusals to show.
func (v userValues) fields(owners map[string]string, p *problem) []formField {
	owner := func(field string) string {
		if o := owners[field]; o != "" && o != "admin" {
			return o
		}
		return ""
	}
	mk := func(name, label, typ, value, help, auto string) formField {
		return formField{Name: name, Label: label, Type: typ, Value: value, Help: help, Autocomplete: auto,
			Error: p.For(name), Owner: owner(name)}
	}
	out := []formField{
		mk(store.FieldDisplayName, "Display name", "text", v.DisplayName, "", "off"),
		mk(store.FieldGivenName, "Given name", "text", v.GivenName, "", "off"),
		mk(store.FieldSurname, "Surname", "text", v.Surname, "", "off"),
		mk(store.FieldPhone, "Phone", "tel", v.Phone, "", "off"),
		mk(store.FieldDepartment, "Department", "text", v.Department, "", "off"),
		mk(store.FieldTitle, "Title", "text", v.Title, "", "off"),
		mk(store.FieldAliases, "Aliases", "textarea", strings.Join(v.Aliases, "\n"),
			"Other addresses of this user, one per line, each in an internal domain.", ""),
		mk(store.FieldEnabled, "Enabled", "checkbox", "", "A disabled user receives no mail and cannot sign in.", ""),
		mk("default_implementation_lead", "Default implementation lead", "checkbox", "",
			"The contact the support team works with on implementation questions.", ""),
	}
	out[7].Checked, out[8].Checked = v.Enabled, v.DefaultLead
	return out
}

// placeProblem puts a refusal that names no field next to the field it is
// about: the address, an alias or the password. The message is the API's.
func placeProblem(err error, p *problem, address string, aliases []string) {
	if len(p.Fields) > 0 {
		return
	}
	var (
		ce  *store.ConflictError
		nie *store.NotInternalError
	)
	isAlias := func(a string) bool {
		return slices.ContainsFunc(aliases, func(x string) bool { return strings.EqualFold(x, a) || normalized(x) == normalized(a) })
	}
	switch {
	case p.Code == api.CodeWeakPassword:
		p.Fields["password"] = p.Message
	case errors.As(err, &ce):
		if isAlias(ce.Address) {
			p.Fields[store.FieldAliases] = p.Message
		} else {
			p.Fields["address"] = p.Message
		}
	case errors.As(err, &nie):
		if address != "" && strings.EqualFold(mailaddr.Domain(normalized(address)), nie.Domain) {
			p.Fields["address"] = p.Message
		} else {
			p.Fields[store.FieldAliases] = p.Message
		}
	case p.Code == api.CodeValidation:
		msg := strings.ToLower(p.Message)
		for _, a := range aliases {
			if strings.Contains(msg, strings.ToLower(a)) || strings.Contains(msg, normalized(a)) {
				p.Fields[store.FieldAliases] = p.Message
				return
			}
		}
		if strings.Contains(msg, "alias") {
			p.Fields[store.FieldAliases] = p.Message
		} else if address != "" && strings.Contains(msg, strings.ToLower(address)) {
			p.Fields["address"] = p.Message
		}
	}
}

// normalized is an address as the store keeps it ("" when it is not one).
func normalized(a string) string {
	n, err := mailaddr.Normalize(a)
	if err != nil {
		return ""
	}
	return n
}

// --- New address ---

// newAddressForm is the data of templates/user_new.html.
type newAddressForm struct {
	Domain      string
	Address     string // as typed: a local part or a full address
	Fields      []formField
	ForceChange bool
	Question    string // the security question typed (the answer is never shown again)
	Problem     *problem
}

func (f newAddressForm) PageTitle() string { return "New address in " + f.Domain }

// knownDomain says whether domain is one of the internal domains.
func (c *Console) knownDomain(r *http.Request, domain string) (bool, error) {
	ds, err := c.svc.Domains(r.Context())
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ds.Domains, func(d api.Domain) bool { return strings.EqualFold(d.Name, domain) }), nil
}

func (c *Console) newAddressPage(w http.ResponseWriter, r *http.Request, s *session) error {
	domain := strings.ToLower(r.PathValue("domain"))
	if ok, err := c.knownDomain(r, domain); err != nil {
		return err
	} else if !ok {
		c.render(w, r, s, http.StatusNotFound, "error", errorPage{Title: "No such domain",
			Message: "domain " + domain + " is not an internal domain of this directory: add it on the Domains page first.",
			Back:    Prefix + "domains"})
		return nil
	}
	v := userValues{Enabled: true}
	c.render(w, r, s, http.StatusOK, "user_new", newAddressForm{Domain: domain, Fields: v.fields(nil, nil), ForceChange: true})
	return nil
}

// newAddress creates the user, with the temporary password if one was typed,
// then opens the user's page, where its roles can be chosen.
func (c *Console) newAddress(w http.ResponseWriter, r *http.Request, s *session) error {
	domain := strings.ToLower(r.PathValue("domain"))
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read the new address form: %w", err)
	}
	f := r.PostForm
	v := readValues(f)
	form := newAddressForm{Domain: domain, Address: strings.TrimSpace(f.Get("address")), ForceChange: f.Get("force_change_password") == "on"}
	address := form.Address
	if address != "" && !strings.Contains(address, "@") {
		address += "@" + domain
	}
	pw := f.Get("password")
	refuse := func(p *problem) error {
		form.Problem, form.Fields = p, v.fields(nil, p)
		c.render(w, r, s, p.Status, "user_new", form)
		return nil
	}
	question, answer := strings.TrimSpace(f.Get("security_question")), f.Get("security_answer")
	form.Question = question
	if pw != f.Get("confirm_password") {
		return refuse(&problem{Status: http.StatusUnprocessableEntity, Code: api.CodeValidation,
			Message: "The temporary password and its confirmation differ: nothing was saved.",
			Fields:  map[string]string{"confirm_password": "does not match the temporary password: type the same password twice"}})
	}
	if pw != "" && (question == "" || strings.TrimSpace(answer) == "") {
		p := &problem{Status: http.StatusUnprocessableEntity, Code: api.CodeValidation, Fields: map[string]string{},
			Message: "A login with a temporary password needs a security question and answer: nothing was saved."}
		for k, v := range map[string]string{"security_question": question, "security_answer": strings.TrimSpace(answer)} {
			if v == "" {
				p.Fields[k] = "required with a temporary password: the user answers it to reset a forgotten password"
			}
		}
		return refuse(p)
	}
	in := api.CreateUser{Address: address, DisplayName: v.DisplayName, GivenName: v.GivenName, Surname: v.Surname,
		Phone: v.Phone, Department: v.Department, Title: v.Title, Aliases: v.Aliases, Enabled: &v.Enabled,
		DefaultImplementationLead: v.DefaultLead, Password: pw}
	if pw != "" {
		force := form.ForceChange
		in.ForceChangePassword = &force
	}
	u, err := c.svc.CreateUser(r.Context(), s.actor(), in)
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 {
			return err
		}
		placeProblem(err, p, address, v.Aliases)
		return refuse(p)
	}
	msg := "Created " + u.Address + "."
	if pw != "" {
		// The login is registered with the temporary password, so the user
		// can sign in with it (and, with Force Change at Logon, must change it).
		if _, err := c.svc.Register(r.Context(), s.actor(), u.Address, api.Register{Password: pw,
			ForceChangePassword: form.ForceChange, Question: question, Answer: answer}); err != nil {
			p := c.describe(r, err)
			if p.Status >= 500 {
				return err
			}
			return c.done(w, r, s, Prefix+"users/"+url.PathEscape(u.Address),
				"Created "+u.Address+", but its login was not registered: "+p.Message)
		}
		msg = "Created " + u.Address + " with a registered login and a temporary password."
		if form.ForceChange {
			msg = "Created " + u.Address + " with a temporary password, to be changed at first sign-in."
		}
	}
	return c.done(w, r, s, Prefix+"users/"+url.PathEscape(u.Address), msg+" You can now choose its roles.")
}

// --- The user's page ---

// roleChoice is one role of the roles form.
type roleChoice struct {
	Name           string
	Held           bool
	SupportContact bool
}

// userDetailPage is the data of templates/user.html.
type userDetailPage struct {
	User         api.User
	Fields       []formField
	Owned        bool // some field is owned by a connector
	Problem      *problem
	Roles        []roleChoice
	RolesProblem *problem
	// Entra: the user comes from an Entra connector, which synchronises its
	// Microsoft 365 licence and administrator role.
	Entra bool
	// Invitation is the user's open invitation (nil: none); Mail: a mail
	// server is configured, so it can be sent again.
	Invitation *api.OpenInvitation
	Mail       bool
}

func (p userDetailPage) PageTitle() string { return p.User.Address }

// loadUserPage reads the user, its field owners and the roles.
func (c *Console) loadUserPage(r *http.Request) (userDetailPage, api.Status, error) {
	u, err := c.svc.User(r.Context(), r.PathValue("address"))
	if err != nil {
		return userDetailPage{}, api.Status{}, err
	}
	st, err := c.svc.UserStatus(r.Context(), u.Address)
	if err != nil {
		return userDetailPage{}, api.Status{}, err
	}
	roles, err := c.svc.Roles(r.Context())
	if err != nil {
		return userDetailPage{}, api.Status{}, err
	}
	pg := userDetailPage{User: u, Entra: c.entraUser(u)}
	for _, ro := range roles.Roles {
		pg.Roles = append(pg.Roles, roleChoice{Name: ro.Name, SupportContact: ro.SupportContact,
			Held: slices.ContainsFunc(u.Roles, func(n string) bool { return strings.EqualFold(n, ro.Name) })})
	}
	for _, o := range st.FieldOwners {
		if o != "admin" {
			pg.Owned = true
		}
	}
	if err := c.loadInvitation(r, &pg); err != nil {
		return userDetailPage{}, api.Status{}, err
	}
	return pg, st, nil
}

func (c *Console) userDetail(w http.ResponseWriter, r *http.Request, s *session) error {
	pg, st, err := c.loadUserPage(r)
	if err != nil {
		return err
	}
	pg.Fields = valuesOf(pg.User).fields(st.FieldOwners, nil)
	c.render(w, r, s, http.StatusOK, "user", pg)
	return nil
}

// saveUser saves the fields that changed; a field a connector owns is never
// changed here (the form does not send it, and it is ignored if sent).
func (c *Console) saveUser(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read the user form: %w", err)
	}
	pg, st, err := c.loadUserPage(r)
	if err != nil {
		return err
	}
	u := pg.User
	cur, typed := valuesOf(u), readValues(r.PostForm)
	owned := func(field string) bool { o := st.FieldOwners[field]; return o != "" && o != "admin" }
	var in api.UpdateUser
	changed := false
	str := func(field string, before, after string, dst **string) {
		if !owned(field) && before != after {
			a := after
			*dst, changed = &a, true
		}
	}
	str(store.FieldDisplayName, cur.DisplayName, typed.DisplayName, &in.DisplayName)
	str(store.FieldGivenName, cur.GivenName, typed.GivenName, &in.GivenName)
	str(store.FieldSurname, cur.Surname, typed.Surname, &in.Surname)
	str(store.FieldPhone, cur.Phone, typed.Phone, &in.Phone)
	str(store.FieldDepartment, cur.Department, typed.Department, &in.Department)
	str(store.FieldTitle, cur.Title, typed.Title, &in.Title)
	if !owned(store.FieldAliases) && !sameAliases(cur.Aliases, typed.Aliases) {
		a := typed.Aliases
		in.Aliases, changed = &a, true
	}
	if !owned(store.FieldEnabled) && cur.Enabled != typed.Enabled {
		e := typed.Enabled
		in.Enabled, changed = &e, true
	}
	if cur.DefaultLead != typed.DefaultLead {
		d := typed.DefaultLead
		in.DefaultImplementationLead, changed = &d, true
	}
	to := Prefix + "users/" + url.PathEscape(u.Address)
	if !changed {
		return c.done(w, r, s, to, "Nothing changed: "+u.Address+" was not saved again.")
	}
	if _, err := c.svc.UpdateUser(r.Context(), s.actor(), u.Address, in); err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 {
			return err
		}
		placeProblem(err, p, "", typed.Aliases)
		// Show what was typed, and what a connector owns as it is.
		shown := typed
		for _, f := range []struct {
			field string
			dst   *string
			v     string
		}{{store.FieldDisplayName, &shown.DisplayName, cur.DisplayName}, {store.FieldGivenName, &shown.GivenName, cur.GivenName},
			{store.FieldSurname, &shown.Surname, cur.Surname}, {store.FieldPhone, &shown.Phone, cur.Phone},
			{store.FieldDepartment, &shown.Department, cur.Department}, {store.FieldTitle, &shown.Title, cur.Title}} {
			if owned(f.field) {
				*f.dst = f.v
			}
		}
		if owned(store.FieldAliases) {
			shown.Aliases = cur.Aliases
		}
		if owned(store.FieldEnabled) {
			shown.Enabled = cur.Enabled
		}
		pg.Problem, pg.Fields = p, shown.fields(st.FieldOwners, p)
		c.render(w, r, s, p.Status, "user", pg)
		return nil
	}
	return c.done(w, r, s, to, "Saved "+u.Address+".")
}

// sameAliases compares two alias lists as the store would keep them.
func sameAliases(a, b []string) bool {
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, x := range l {
			if n := normalized(x); n != "" {
				out = append(out, n)
			} else {
				out = append(out, x)
			}
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// saveUserRoles replaces the user's roles with the ones ticked.
func (c *Console) saveUserRoles(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read the roles form: %w", err)
	}
	u, err := c.svc.User(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	roles := r.PostForm["role"]
	p := onlineProblem(u, r.PostForm) // an online user's roles change only when confirmed
	if p == nil {
		if _, err := c.svc.SetRoles(r.Context(), s.actor(), u.Address, roles); err != nil {
			if p = c.describe(r, err); p.Status >= 500 {
				return err
			}
		}
	}
	if p != nil {
		pg, st, lerr := c.loadUserPage(r)
		if lerr != nil {
			return lerr
		}
		for i := range pg.Roles {
			pg.Roles[i].Held = slices.Contains(roles, pg.Roles[i].Name)
		}
		pg.Fields = valuesOf(pg.User).fields(st.FieldOwners, nil)
		pg.RolesProblem = p
		c.render(w, r, s, p.Status, "user", pg)
		return nil
	}
	msg := "Saved the roles of " + u.Address + ": none."
	if len(roles) > 0 {
		msg = "Saved the roles of " + u.Address + ": " + strings.Join(roles, ", ") + "."
	}
	return c.done(w, r, s, Prefix+"users/"+url.PathEscape(u.Address), msg)
}

// --- User status check ---

// ownedField is one row of the status check's field owners.
type ownedField struct {
	Field, Owner string
}

// statusCheckPage is the data of templates/user_status.html.
type statusCheckPage struct {
	User   api.User
	Status api.Status
	Owners []ownedField
	Entra  bool // see userDetailPage.Entra
}

// entraUser says whether u is a user from an Entra connector: only those have
// Microsoft 365 facts to show.
func (c *Console) entraUser(u api.User) bool {
	return u.Kind == store.KindUser && c.svc.EntraOrigin(u.Origin)
}

func (p statusCheckPage) PageTitle() string { return "Status check of " + p.Status.Address }

// fieldLabels name the store's fields for people.
var fieldLabels = map[string]string{
	store.FieldAddress: "Address", store.FieldAliases: "Aliases", store.FieldDisplayName: "Display name",
	store.FieldGivenName: "Given name", store.FieldSurname: "Surname", store.FieldPhone: "Phone",
	store.FieldDepartment: "Department", store.FieldTitle: "Title", store.FieldEnabled: "Enabled",
	store.FieldMembers: "Members", "password": "Password", "registration": "Registration", "lock": "Lock",
	"roles": "Roles", store.FieldDefaultLead: "Default implementation lead",
}

func (c *Console) statusCheck(w http.ResponseWriter, r *http.Request, s *session) error {
	u, err := c.svc.User(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	st, err := c.svc.UserStatus(r.Context(), u.Address)
	if err != nil {
		return err
	}
	pg := statusCheckPage{User: u, Status: st, Entra: c.entraUser(u)}
	for f, o := range st.FieldOwners {
		label := fieldLabels[f]
		if label == "" {
			label = f
		}
		pg.Owners = append(pg.Owners, ownedField{Field: label, Owner: o})
	}
	// Connector-owned fields first, then by name.
	sort.Slice(pg.Owners, func(i, j int) bool {
		a, b := pg.Owners[i], pg.Owners[j]
		if (a.Owner == "admin") != (b.Owner == "admin") {
			return b.Owner == "admin"
		}
		return a.Field < b.Field
	})
	c.render(w, r, s, http.StatusOK, "user_status", pg)
	return nil
}

// Domain is the domain of the user's address, for the way back to its list.
func (p userDetailPage) Domain() string { return mailaddr.Domain(p.User.Address) }

// Blockers say why the user cannot sign in.
func (p statusCheckPage) Blockers() []string {
	st := p.Status
	var why []string
	if !st.Enabled {
		why = append(why, "the user is disabled")
	}
	if !st.Registered {
		why = append(why, "the user is not registered (register it directly, or send an invitation)")
	}
	if st.Registered && !p.User.HasPassword {
		why = append(why, "the user has no password")
	}
	if st.Locked {
		why = append(why, "the login is locked after too many failed attempts (clear the lock)")
	}
	if len(why) == 0 {
		why = append(why, "the login is not usable")
	}
	return why
}

// FromConnector says whether the user's origin is a connector.
func (p statusCheckPage) FromConnector() bool {
	switch p.Status.Origin {
	case store.OriginManual, store.OriginCSV, store.OriginOutbound, "":
		return false
	}
	return true
}
