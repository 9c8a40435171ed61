package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// userRoutes are the users list and its row actions; each action has a GET
// page with the same form as the list's dialog, for browsers without
// JavaScript.
func (c *Console) userRoutes() []route {
	rts := []route{{"GET " + Prefix + "users", PermRead, c.usersPage}}
	for _, a := range userActions {
		rts = append(rts,
			route{"GET " + Prefix + "users/{address}/" + a, PermWrite, c.userActionPage},
			route{"POST " + Prefix + "users/{address}/" + a, PermWrite, c.userAction})
	}
	return rts
}

// The row actions, each a path under /console/users/{address}/.
const (
	actRegister   = "register"
	actInvite     = "invite"
	actUnregister = "unregister"
	actRemove     = "remove"
	actUnlock     = "unlock"
	actInvited    = "invited" // the result of an invitation: not a route
)

var userActions = []string{actRegister, actInvite, actUnregister, actRemove, actUnlock}

// usersPageSize is the list's page size unless the URL chooses one (limit).
const usersPageSize = "50"

// listParams are the query parameters the list keeps from one page to the
// next (the service's, but the cursor); cursor and prev are the paging.
var listParams = []string{"registration", "q", "letter", "status", "origin", "domain", "kind", "sort", "order", "limit"}

// prevSep separates the cursors of the prev stack: a cursor is base64url, so
// it never holds a '.'.
const prevSep = "."

// usersView is the data of templates/users.html.
type usersView struct {
	Registration string // registered, unregistered or all
	Q, Letter    string
	Status       string
	Origin       string
	Domain       string
	Sort, Order  string // the effective sort column and "asc" or "desc"
	Kind         string
	Limit        string
	Problem      *problem
	Users        []api.User
	Filters      []filterLink // registered / unregistered / all
	Letters      []filterLink
	Columns      []column
	Statuses     []option
	Origins      []option
	Page         int
	Next, Prev   string // hrefs; "" when there is no such page
	First        string // the first page of this listing
	Self         string // this page, for the actions to come back to
	// Invite: the invite dialog's roles, email and expiry.
	Invite inviteForm
}

func (v usersView) PageTitle() string {
	if v.Domain != "" {
		return "Users in " + v.Domain
	}
	return "Users"
}

// Caption describes the listing for the table's caption.
func (v usersView) Caption() string {
	var b strings.Builder
	switch v.Registration {
	case "unregistered":
		b.WriteString("Unregistered users")
	case "all":
		b.WriteString("All logins")
	default:
		b.WriteString("Registered users")
	}
	for _, col := range v.Columns {
		if col.Sort != "" {
			b.WriteString(", sorted by " + col.Label)
			if col.Sort == "descending" {
				b.WriteString(" Z to A")
			} else {
				b.WriteString(" A to Z")
			}
		}
	}
	b.WriteString(", page " + strconv.Itoa(v.Page))
	return b.String()
}

// filterLink is one link of a group of filters (registration, letters).
type filterLink struct {
	ID, Label, Href string
	Name            string // the accessible name when the label alone says too little
	Current         bool
}

// column is a sortable column header.
type column struct {
	Key, Label string
	Href       string // sorts by this column: A-Z, or Z-A when it already sorts A-Z
	Sort       string // "ascending", "descending" or "" (aria-sort)
	Next       string // what the link does, for its accessible name
}

// option is one <option> of a filter <select>.
type option struct {
	Value, Label string
	Selected     bool
}

// columns are the list's columns: store sort column and header.
var columns = []struct{ key, label string }{
	{"address", "Address"}, {"display_name", "Name"}, {"department", "Department"}, {"title", "Title"},
	{"origin", "Origin"}, {"enabled", "Status"}, {"registered", "Registered"}, {"last_login", "Last login"},
}

// usersPage is the users list: filters, search, letters, sortable columns and
// cursor paging. The query goes to the service as it is (but the paging's
// prev and empty fields a form sends), so an unknown parameter or a bad value
// is the API's own message, shown above the (empty) list.
func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	var prev []string
	if p := q.Get("prev"); p != "" {
		prev = strings.Split(p, prevSep)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	q.Del("prev")
	q.Del("page")
	for k, vs := range q {
		if len(vs) == 1 && strings.TrimSpace(vs[0]) == "" {
			q.Del(k)
		}
	}
	state := url.Values{}
	for _, k := range listParams {
		if v := q.Get(k); v != "" {
			state.Set(k, v)
		}
	}
	v := usersView{Registration: state.Get("registration"), Q: state.Get("q"), Letter: strings.ToLower(state.Get("letter")),
		Status: state.Get("status"), Origin: state.Get("origin"), Domain: state.Get("domain"), Kind: state.Get("kind"),
		Sort: state.Get("sort"), Order: state.Get("order"), Limit: state.Get("limit"), Page: 1}
	if v.Registration == "" {
		v.Registration = "registered"
	}
	if v.Sort == "" {
		v.Sort = "address"
	}
	if v.Order == "" {
		v.Order = "asc"
	}
	cursor := q.Get("cursor")
	if cursor != "" {
		v.Page = max(page, len(prev)+2)
	}
	svcQ := cloneValues(q)
	if !svcQ.Has("limit") {
		svcQ.Set("limit", usersPageSize)
	}
	list, err := c.svc.ListUsers(r.Context(), svcQ)
	status := http.StatusOK
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 {
			return err
		}
		v.Problem, status = p, p.Status
	}
	v.Users = list.Users
	v.Self = usersHref(withCursor(state, cursor, prev, v.Page))
	v.First = usersHref(state)
	if list.NextCursor != "" {
		next := prev
		if cursor != "" {
			next = append(slices.Clone(prev), cursor)
		}
		// The URL keeps the last maxPrev cursors only, so it stays short however
		// deep the administrator pages (200 clicks: a few hundred bytes, not
		// 18 KB that proxies refuse); further back, "First page" remains.
		next = next[max(0, len(next)-maxPrev):]
		v.Next = usersHref(withCursor(state, list.NextCursor, next, v.Page+1))
	}
	switch {
	case cursor == "":
	case v.Page == 2:
		v.Prev = v.First
	case len(prev) > 0:
		v.Prev = usersHref(withCursor(state, prev[len(prev)-1], prev[:len(prev)-1], v.Page-1))
	}
	v.Filters = registrationLinks(state, v.Registration)
	v.Letters = letterLinks(state, v.Letter)
	v.Columns = sortColumns(state, v.Sort, v.Order)
	v.Statuses = options(v.Status, [][2]string{{"", "Any status"}, {"enabled", "Enabled"}, {"disabled", "Disabled"}, {"locked", "Locked"}})
	v.Origins = originOptions(v.Origin, list.Users)
	if s.can(PermWrite) {
		if v.Invite, err = c.inviteForm(r, s, nil, "", nil); err != nil {
			return err
		}
	}
	c.render(w, r, s, status, "users", v)
	return nil
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		out[k] = slices.Clone(vs)
	}
	return out
}

// withCursor is state at the page after cursor, with the cursors of the pages
// before it (the first page has none).
func withCursor(state url.Values, cursor string, prev []string, page int) url.Values {
	q := cloneValues(state)
	if cursor != "" {
		q.Set("cursor", cursor)
		q.Set("page", strconv.Itoa(page))
	}
	if len(prev) > 0 {
		q.Set("prev", strings.Join(prev, prevSep))
	}
	return q
}

// maxPrev is how many earlier pages "Previous page" can go back through.
const maxPrev = 10

func usersHref(q url.Values) string {
	if len(q) == 0 {
		return Prefix + "users"
	}
	return Prefix + "users?" + q.Encode()
}

// set is state with k set to v ("" removes it): a new listing, so no cursor.
func set(state url.Values, kv ...string) url.Values {
	q := cloneValues(state)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}

func registrationLinks(state url.Values, cur string) []filterLink {
	out := make([]filterLink, 0, 3)
	for _, f := range [][2]string{{"registered", "Registered users"}, {"unregistered", "Unregistered users"}, {"all", "All logins"}} {
		out = append(out, filterLink{ID: "show-" + f[0], Label: f[1], Href: usersHref(set(state, "registration", f[0])),
			Current: cur == f[0]})
	}
	return out
}

func letterLinks(state url.Values, cur string) []filterLink {
	out := make([]filterLink, 0, 28)
	for ch := 'a'; ch <= 'z'; ch++ {
		l := string(ch)
		up := strings.ToUpper(l)
		out = append(out, filterLink{ID: "letter-" + l, Label: up,
			Href: usersHref(set(state, "letter", l)), Current: cur == l})
	}
	out = append(out,
		filterLink{ID: "letter-other", Label: "#", Name: "(names not starting with a letter)",
			Href: usersHref(set(state, "letter", "#")), Current: cur == "#"},
		filterLink{ID: "letter-all", Label: "All", Name: "letters",
			Href: usersHref(set(state, "letter", "")), Current: cur == ""})
	return out
}

func sortColumns(state url.Values, sort, order string) []column {
	out := make([]column, 0, len(columns))
	for _, col := range columns {
		c := column{Key: col.key, Label: col.label, Next: "sort A to Z"}
		to := "asc"
		if sort == col.key {
			c.Sort = "ascending"
			if order == "desc" {
				c.Sort = "descending"
			} else {
				to, c.Next = "desc", "sort Z to A"
			}
		}
		if to == "asc" {
			c.Href = usersHref(set(state, "sort", col.key, "order", ""))
		} else {
			c.Href = usersHref(set(state, "sort", col.key, "order", "desc"))
		}
		out = append(out, c)
	}
	return out
}

func options(cur string, vals [][2]string) []option {
	out := make([]option, 0, len(vals))
	for _, v := range vals {
		out = append(out, option{Value: v[0], Label: v[1], Selected: v[0] == cur})
	}
	return out
}

// originOptions are the origins to filter by: the console's own (manual, csv,
// outbound), the connectors that appear on this page, and the current one.
func originOptions(cur string, users []api.User) []option {
	names := []string{store.OriginManual, store.OriginCSV, store.OriginOutbound}
	var more []string
	for _, u := range users {
		if u.Origin != "" && !slices.Contains(names, u.Origin) && !slices.Contains(more, u.Origin) {
			more = append(more, u.Origin)
		}
	}
	if cur != "" && !slices.Contains(names, cur) && !slices.Contains(more, cur) {
		more = append(more, cur)
	}
	slices.Sort(more)
	out := []option{{Value: "", Label: "Any origin", Selected: cur == ""}}
	for _, n := range append(names, more...) {
		out = append(out, option{Value: n, Label: n, Selected: n == cur})
	}
	return out
}

// actionView is the data of templates/user_action.html: one row action's
// page (its form, its refusal, or an invitation's token).
type actionView struct {
	Mode       string
	User       api.User
	Back       string // the list page to return to
	Problem    *problem
	Question   string // the typed security question (never the password or answer)
	Force      bool
	Invitation *api.Invitation
	Invite     inviteForm // the invite form's roles, email and expiry
	// Link is the invitation's link to pass on; LinkFromRequest: it is built
	// on the console's address because server.public_url is not set.
	Link            string
	LinkFromRequest bool
	Resent          bool // the invitation was sent again (a new link)
}

func (v actionView) PageTitle() string {
	return actionTitle(v.Mode) + " " + v.User.Address
}

func actionTitle(mode string) string {
	switch mode {
	case actRegister:
		return "Register"
	case actInvite:
		return "Send invitation to"
	case actInvited:
		return "Invitation for"
	case actUnregister:
		return "Unregister"
	case actRemove:
		return "Remove"
	case actUnlock:
		return "Clear lock of"
	}
	return mode
}

// actionOf is the action a request's path names (its last segment).
func actionOf(r *http.Request) string {
	return r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
}

// userActionPage is the page of one row action: the dialog's form on a page
// of its own.
func (c *Console) userActionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	u, err := c.svc.User(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	back := safeNext(r.URL.Query().Get("back"))
	if back == "" {
		back = localReferer(r)
	}
	if back == "" || !strings.HasPrefix(back, Prefix+"users") {
		back = Prefix + "users"
	}
	v := actionView{Mode: actionOf(r), User: u, Back: back}
	if v.Mode == actInvite {
		if v.Invite, err = c.inviteForm(r, s, nil, "", nil); err != nil {
			return err
		}
	}
	c.render(w, r, s, http.StatusOK, "user_action", v)
	return nil
}

// userAction does one row action and returns to the list (or, for an
// invitation, shows its token this once). A refusal shows the form again
// with the service's messages next to their fields; nothing typed in a
// password or answer field is sent back.
func (c *Console) userAction(w http.ResponseWriter, r *http.Request, s *session) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return c.unreadableForm(w, r, s)
	}
	mode, address := actionOf(r), r.PathValue("address")
	f := r.PostForm
	back := safeNext(f.Get("back"))
	if back == "" {
		back = Prefix + "users"
	}
	v := actionView{Mode: mode, Back: back, Question: f.Get("security_question"), Force: f.Get("force_change_password") != ""}
	var (
		msg string
		err error
	)
	switch mode {
	case actRegister:
		if pw := f.Get("password"); pw != "" && pw != f.Get("confirm_password") {
			err = mismatch()
			break
		}
		_, err = c.svc.Register(r.Context(), s.actor(), address, api.Register{Password: f.Get("password"),
			ForceChangePassword: v.Force, Question: f.Get("security_question"), Answer: f.Get("security_answer")})
		msg = "Registered %s."
	case actInvite:
		if pw := f.Get("password"); pw != "" && pw != f.Get("confirm_password") {
			err = mismatch()
			break
		}
		in := readInvite(f)
		if v.Invite, err = c.inviteForm(r, s, in.Roles, in.ExpiresIn, in.SendEmail); err != nil {
			return err
		}
		if len(in.Roles) > 0 && !s.can(PermRoles) {
			err = errRolesNotAllowed
			break
		}
		var inv api.Invitation
		inv, err = c.svc.Invite(r.Context(), s.actor(), address, in)
		if err == nil {
			u, uerr := c.svc.User(r.Context(), inv.Address)
			if uerr != nil {
				return uerr
			}
			v.User = u
			c.invitedView(r, &v, inv)
			c.render(w, r, s, http.StatusOK, "user_action", v)
			return nil
		}
	case actUnregister:
		_, err = c.svc.Unregister(r.Context(), s.actor(), address)
		msg = "Unregistered %s: the user can no longer sign in to the portal."
	case actRemove:
		_, err = c.svc.DeleteUser(r.Context(), s.actor(), address, false)
		msg = "Removed %s: the user is disabled and kept, and can be enabled again from its page."
	case actUnlock:
		_, err = c.svc.Unlock(r.Context(), s.actor(), address)
		msg = "Cleared the lock of %s."
	}
	if err == nil {
		u, uerr := c.svc.User(r.Context(), address)
		name := address
		if uerr == nil {
			name = u.Address
		}
		return c.done(w, r, s, back, fmt.Sprintf(msg, name))
	}
	p := c.describe(r, err)
	if p.Status >= 500 {
		return err
	}
	if p.Code == api.CodeWeakPassword && p.Fields["password"] == "" {
		p.Fields["password"] = p.Message
	}
	u, uerr := c.svc.User(r.Context(), address)
	if uerr != nil {
		return uerr // the user is gone: the error page says so
	}
	v.User, v.Problem = u, p
	c.render(w, r, s, p.Status, "user_action", v)
	return nil
}

// unreadableForm answers a form too large or malformed to parse.
func (c *Console) unreadableForm(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusBadRequest, "error", errorPage{Title: "Form not read",
		Message: "The form could not be read (too large or malformed), so nothing was changed. Go back and try again."})
	return nil
}

// mismatch is the refusal of a confirmation that differs from the password,
// worded as the API words its field problems.
func mismatch() error {
	return &formError{status: http.StatusUnprocessableEntity, code: api.CodeValidation,
		msg:   "The password and its confirmation differ: type the same password twice. Nothing was changed.",
		field: "confirm_password", fieldMsg: "does not match the password: type the same password twice"}
}

// formError is a refusal the console itself makes before calling the service.
type formError struct {
	status          int
	code, msg       string
	field, fieldMsg string
}

func (e *formError) Error() string { return e.msg }
