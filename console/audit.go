package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dirsync/dirsync/api"
)

// auditRoutes are the audit log's page.
func (c *Console) auditRoutes() []route {
	return []route{{"GET " + Prefix + "audit", PermRead, c.auditPage}}
}

// auditFilters are the query parameters of the page's form, in its order;
// each goes to the service as GET /v1/audit's parameter of the same name.
var auditFilters = []string{"address", "actor", "action", "connector", "run", "since", "until"}

// auditPageSize is the page's size unless the URL chooses one (limit).
const auditPageSize = "50"

// auditView is the data of templates/audit.html.
type auditView struct {
	Address, Actor, Action, Connector, Run, Since, Until string // as typed
	Limit                                                string
	Problem                                              *problem
	Invalid                                              string // the filter the problem is about ("" = none known)
	Entries                                              []auditRow
	Page                                                 int
	Next, First                                          string // hrefs; "" when there is no such page
	Actions                                              []option
}

func (v auditView) PageTitle() string {
	if v.Address != "" {
		return "History of " + v.Address
	}
	if v.Run != "" {
		return "Changes of run " + v.Run
	}
	return "Audit log"
}

// Caption describes the table for its caption.
func (v auditView) Caption() string {
	var parts []string
	for _, f := range [][2]string{{"address", v.Address}, {"actor", v.Actor}, {"action", v.Action},
		{"connector", v.Connector}, {"run", v.Run}, {"since", v.Since}, {"until", v.Until}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" "+f[1])
		}
	}
	s := "Changes, newest first"
	if len(parts) > 0 {
		s += "; " + strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s; page %d", s, v.Page)
}

// auditRow is one entry as the table shows it.
type auditRow struct {
	api.AuditEntry
	Who     string // the actor, for people
	ActorQ  string // the actor filter that selects this actor's changes
	Changes []changeRow
}

// changeRow is one field change with its values as text.
type changeRow struct {
	Field         string
	Before, After string
	NoBefore      bool // the field had no value (a create)
}

// auditPage is the audit log: the filters as a GET form, a page of entries
// newest first, and the next page's link. The filters go to the service as
// typed (but a date or a local date and time, read as UTC), so a bad value is
// the service's own message, shown above the (empty) table.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	in := r.URL.Query()
	v := auditView{Address: strings.TrimSpace(in.Get("address")), Actor: strings.TrimSpace(in.Get("actor")),
		Action: strings.TrimSpace(in.Get("action")), Connector: strings.TrimSpace(in.Get("connector")),
		Run:   strings.TrimSpace(in.Get("run")),
		Since: strings.TrimSpace(in.Get("since")), Until: strings.TrimSpace(in.Get("until")),
		Limit: strings.TrimSpace(in.Get("limit")), Page: 1}
	state := url.Values{}
	for _, k := range append(auditFilters, "limit") {
		if val := strings.TrimSpace(in.Get(k)); val != "" {
			state.Set(k, val)
		}
	}
	q := cloneValues(in)
	for k, vs := range q {
		if k == "page" || len(vs) == 1 && strings.TrimSpace(vs[0]) == "" {
			q.Del(k)
		}
	}
	for _, k := range auditFilters {
		if q.Has(k) {
			q.Set(k, strings.TrimSpace(q.Get(k)))
		}
	}
	if t, ok := auditTime(v.Since, false); ok {
		q.Set("since", t)
	}
	if t, ok := auditTime(v.Until, true); ok {
		q.Set("until", t)
	}
	if !q.Has("limit") {
		q.Set("limit", auditPageSize)
	}
	cursor := q.Get("cursor")
	if cursor != "" {
		fmt.Sscan(in.Get("page"), &v.Page) //nolint:errcheck // a missing or bad page number shows as 2
		v.Page = max(v.Page, 2)
		v.First = auditHref(state)
	}
	list, err := c.svc.Audit(r.Context(), q)
	status := http.StatusOK
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 {
			return err
		}
		v.Problem, status = p, p.Status
		v.Invalid = invalidFilter(p)
	}
	for _, e := range list.Entries {
		v.Entries = append(v.Entries, newAuditRow(e))
	}
	if list.NextCursor != "" && err == nil {
		next := cloneValues(state)
		next.Set("cursor", list.NextCursor)
		next.Set("page", fmt.Sprint(v.Page+1))
		v.Next = auditHref(next)
	}
	v.Actions = auditActionOptions(v.Action)
	c.render(w, r, s, status, "audit", v)
	return nil
}

// auditTime reads a date ("2026-12-07") or a date and time without a zone
// ("2026-12-07T09:30", as a datetime-local field sends it, or with a space) as
// UTC, in RFC 3339; ok is false for anything else, which goes to the service
// as it is. A date alone as the end of a range means the end of that day.
func auditTime(s string, end bool) (string, bool) {
	if s == "" {
		return "", false
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t.Format(time.RFC3339), true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", time.DateTime} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.RFC3339), true
		}
	}
	return "", false
}

// invalidFilter is the filter a refusal is about: the one its details name,
// or the one its message starts with (the service's "since=…: …").
func invalidFilter(p *problem) string {
	for _, k := range append(auditFilters, "limit", "cursor") {
		if p.Fields[k] != "" {
			return k
		}
	}
	for _, k := range append(auditFilters, "limit", "cursor") {
		if strings.HasPrefix(p.Message, k+"=") {
			return k
		}
	}
	return ""
}

func newAuditRow(e api.AuditEntry) auditRow {
	row := auditRow{AuditEntry: e, Who: e.Actor.Kind, ActorQ: e.Actor.Kind}
	if e.Actor.Name != "" {
		row.Who += ": " + e.Actor.Name
		row.ActorQ += ":" + e.Actor.Name
	}
	if e.Actor.RunID != "" {
		row.Who += " (run " + e.Actor.RunID + ")"
	}
	for _, ch := range e.Changes {
		row.Changes = append(row.Changes, changeRow{Field: ch.Field, Before: auditValue(ch.Before),
			After: auditValue(ch.After), NoBefore: ch.Before == nil})
	}
	return row
}

// auditValue is a field's value as text: a string as it is ("(empty)" for
// ""), "(none)" for no value, anything else as JSON. Secrets come redacted
// from the store.
func auditValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, auditValue(e))
		}
		if len(parts) == 0 {
			return "(none)"
		}
		return strings.Join(parts, ", ")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func auditActionOptions(cur string) []option {
	out := []option{{Value: "", Label: "Any action", Selected: cur == ""}}
	known := false
	for _, act := range api.AuditActions {
		a := string(act)
		out = append(out, option{Value: a, Label: strings.ReplaceAll(a, "_", " "), Selected: a == cur})
		known = known || a == cur
	}
	if cur != "" && !known {
		out = append(out, option{Value: cur, Label: cur, Selected: true})
	}
	return out
}

func auditHref(q url.Values) string {
	if len(q) == 0 {
		return Prefix + "audit"
	}
	return Prefix + "audit?" + q.Encode()
}
