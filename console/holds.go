package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/mailaddr"
)

// The sync console's held operations and explain pages (issue 24). The held
// operations page lists what runs held for a decision, grouped by run,
// connector and domain; approving or rejecting goes through a confirmation
// (a dialog with JavaScript, the page /console/holds/{decision} without) that
// says what the decision does, then shows each operation's result.

// holdRoutes are the held operations and the explain pages: seeing them
// needs only the console, acting on them (approve, reject, apply) PermSync.
func (c *Console) holdRoutes() []route {
	return []route{
		{"GET " + Prefix + "holds", PermConsole, c.holdsPage},
		{"GET " + Prefix + "holds/{decision}", PermSync, c.holdsConfirm},
		{"POST " + Prefix + "holds/{decision}", PermSync, c.holdsDecide},
		{"GET " + Prefix + "explain", PermConsole, c.explainPage},
		{"POST " + Prefix + "explain", PermSync, c.explainApply},
	}
}

// The two decisions, as they appear in the paths.
const (
	decApprove = "approve"
	decReject  = "reject"
)

// holdsView is the data of templates/holds.html in its three modes: "list"
// (the page), "confirm" (the no-JavaScript confirmation) and "result".
type holdsView struct {
	Mode string
	// list
	Connector, Run, Status string
	Connectors             []option
	Statuses               []option
	Groups                 []holdGroup
	Pending                bool // the list shows pending holds: they can be decided
	Total                  int
	// confirm and result
	Decision string // approve or reject
	Summary  string // what the decision does, in a sentence
	Holds    []api.Hold
	IDs      []string
	Results  []holdResultRow
	Applied  int // results without a refusal
	Refused  int
	Back     string // the list to go back to
	Problem  *problem
	// CSRF is the session's form token; MaySync says the administrator may
	// decide, CanDecide that this list offers to (MaySync and pending holds).
	CSRF               string
	MaySync, CanDecide bool
}

// Verb is the decision as a button says it.
func (v holdsView) Verb() string { return holdsTitle(v.Decision) }

func (v holdsView) PageTitle() string {
	switch v.Mode {
	case "confirm":
		return holdsTitle(v.Decision) + " held operations?"
	case "result":
		return "Held operations " + holdsPast(v.Decision)
	}
	return "Held operations"
}

// holdGroup is the holds of one run, connector and domain.
type holdGroup struct {
	Key       string // an id for the page (the group's heading)
	RunID     string
	Connector string
	Domain    string
	Created   time.Time // the earliest hold's
	Reasons   []string  // the distinct reasons the run held them
	Holds     []api.Hold
	// ApproveHref and RejectHref decide every hold of the group (the
	// confirmation page; with JavaScript, the dialog posts to them).
	ApproveHref, RejectHref string
	// ApproveSummary and RejectSummary say what deciding all of them does.
	ApproveSummary, RejectSummary string
}

// holdResultRow is one decided operation: the result and, when the hold is
// known, what it was.
type holdResultRow struct {
	api.HoldResult
	Hold *api.Hold
}

// Refused says whether the decision was refused for this operation.
func (r holdResultRow) Refused() bool { return r.Code != "" }

// holdStatuses are the status filter's choices, pending first (the default).
var holdStatuses = []api.HoldStatus{api.HoldPending, api.HoldApplied, api.HoldRejected, api.HoldExpired}

// holdsPage lists the held operations of a status (pending by default),
// optionally of one connector and one run.
func (c *Console) holdsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	v := holdsView{Mode: "list", Connector: q.Get("connector"), Run: strings.TrimSpace(q.Get("run")), Status: q.Get("status")}
	if v.Status == "" {
		v.Status = string(api.HoldPending)
	}
	v.Pending = v.Status == string(api.HoldPending)
	v.CSRF, v.MaySync, v.Back = s.csrf(), s.can(PermSync), r.URL.RequestURI()
	v.CanDecide = v.MaySync && v.Pending
	v.Connectors = []option{{Value: "", Label: "All connectors", Selected: v.Connector == ""}}
	for _, n := range c.svc.ConnectorNames() {
		v.Connectors = append(v.Connectors, option{Value: n, Label: n, Selected: n == v.Connector})
	}
	for _, st := range holdStatuses {
		v.Statuses = append(v.Statuses, option{Value: string(st), Label: holdsTitle(string(st)), Selected: string(st) == v.Status})
	}
	list, err := c.svc.Holds(r.Context(), v.Connector, api.HoldStatus(v.Status))
	status := http.StatusOK
	if err != nil {
		v.Problem = c.describe(r, err)
		status = v.Problem.Status
	}
	if v.Run != "" {
		list = slices.DeleteFunc(list, func(h api.Hold) bool { return h.RunID != v.Run })
	}
	v.Total = len(list)
	v.Groups = groupHolds(list)
	c.render(w, r, s, status, "holds", v)
	return nil
}

// groupHolds groups holds by run, connector and domain: the newest run first,
// then by connector and domain; within a group, by address.
func groupHolds(list []api.Hold) []holdGroup {
	byKey := map[string]*holdGroup{}
	var groups []*holdGroup
	for _, h := range list {
		dom := mailaddr.Domain(h.Address)
		key := h.RunID + "\x00" + h.Connector + "\x00" + dom
		g := byKey[key]
		if g == nil {
			g = &holdGroup{RunID: h.RunID, Connector: h.Connector, Domain: dom, Created: h.Created}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.Holds = append(g.Holds, h)
		if h.Created.Before(g.Created) {
			g.Created = h.Created
		}
		if h.Reason != "" && !slices.Contains(g.Reasons, h.Reason) {
			g.Reasons = append(g.Reasons, h.Reason)
		}
	}
	slices.SortStableFunc(groups, func(a, b *holdGroup) int {
		return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.RunID, b.RunID),
			cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.Domain, b.Domain))
	})
	out := make([]holdGroup, len(groups))
	for i, g := range groups {
		slices.SortStableFunc(g.Holds, func(a, b api.Hold) int { return cmp.Compare(a.Address, b.Address) })
		ids := make([]string, len(g.Holds))
		for j, h := range g.Holds {
			ids[j] = h.ID
		}
		g.Key = fmt.Sprintf("group-%d", i+1)
		g.ApproveHref = decideHref(decApprove, ids)
		g.RejectHref = decideHref(decReject, ids)
		g.ApproveSummary = decisionSummary(decApprove, g.Holds)
		g.RejectSummary = decisionSummary(decReject, g.Holds)
		out[i] = *g
	}
	return out
}

// decideHref is the confirmation of a decision on ids; the confirmation's
// form (and the dialog's) posts to the same address.
func decideHref(decision string, ids []string) string {
	return Prefix + "holds/" + decision + "?" + url.Values{"id": ids}.Encode()
}

// holdsPasts are the actions of held operations as the summaries say them.
var holdsPasts = map[string]string{"disable": "disabled", "delete": "deleted", "enable": "enabled",
	"update": "updated", "create": "created", decApprove: "approved", decReject: "rejected"}

func holdsPast(verb string) string {
	if p, ok := holdsPasts[verb]; ok {
		return p
	}
	return verb + "d"
}

// holdsTitle is s with its first letter upper case.
func holdsTitle(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// decisionSummary says what deciding holds does, counted by action: approving
// "3 held operations will be applied: 2 users will be disabled and 1 user will
// be deleted." Rejecting changes nobody. console.js says the same for the
// checked boxes of the list (keep the two in step).
func decisionSummary(decision string, holds []api.Hold) string {
	n := len(holds)
	if n == 0 {
		return "No held operations are selected: tick the ones to decide, or use a group's buttons."
	}
	ops := holdsPlural(n, "held operation", "held operations")
	if decision == decReject {
		return fmt.Sprintf("%s will be rejected: no user will be disabled or deleted, and the store is left as it is.", ops)
	}
	counts := map[string]int{}
	var order []string
	for _, h := range holds {
		if counts[h.Action] == 0 {
			order = append(order, h.Action)
		}
		counts[h.Action]++
	}
	rank := func(a string) int {
		switch a {
		case "disable":
			return 0
		case "delete":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })
	parts := make([]string, len(order))
	for i, a := range order {
		parts[i] = holdsPlural(counts[a], "user", "users") + " will be " + holdsPast(a)
	}
	list := strings.Join(parts, ", ")
	if len(parts) > 1 {
		list = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return fmt.Sprintf("%s will be applied: %s.", ops, list)
}

func holdsPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// decision reads the path's decision, or answers 404.
func (c *Console) decision(w http.ResponseWriter, r *http.Request) (string, bool) {
	d := r.PathValue("decision")
	if d != decApprove && d != decReject {
		c.notFound(w, r)
		return "", false
	}
	return d, true
}

// selected are the holds the request names (id, repeated), in the order of
// the pending list, and the ids no pending hold has (decided meanwhile, or
// never held): the service answers those with their refusal.
func (c *Console) selected(r *http.Request) (ids []string, found []api.Hold, err error) {
	if err := r.ParseForm(); err != nil {
		return nil, nil, &formError{status: http.StatusBadRequest, code: api.CodeBadRequest, msg: "The form could not be read: " + err.Error()}
	}
	seen := map[string]bool{}
	for _, id := range r.Form["id"] {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	all, err := c.svc.Holds(r.Context(), "", "")
	if err != nil {
		return nil, nil, err
	}
	for _, h := range all {
		if seen[h.ID] {
			found = append(found, h)
		}
	}
	return ids, found, nil
}

// holdsConfirm is the confirmation of a decision without JavaScript: what the
// decision does, the operations, and the button that posts it.
func (c *Console) holdsConfirm(w http.ResponseWriter, r *http.Request, s *session) error {
	d, ok := c.decision(w, r)
	if !ok {
		return nil
	}
	ids, found, err := c.selected(r)
	if err != nil {
		return err
	}
	pending := slices.DeleteFunc(slices.Clone(found), func(h api.Hold) bool { return h.Status != api.HoldPending })
	v := holdsView{Mode: "confirm", Decision: d, IDs: ids, Holds: found, Back: holdsBack(r),
		Summary: decisionSummary(d, pending), CSRF: s.csrf(), MaySync: true}
	c.render(w, r, s, http.StatusOK, "holds", v)
	return nil
}

// holdsDecide approves or rejects the holds the form names, as the signed-in
// administrator, and shows each operation's result.
func (c *Console) holdsDecide(w http.ResponseWriter, r *http.Request, s *session) error {
	d, ok := c.decision(w, r)
	if !ok {
		return nil
	}
	ids, found, err := c.selected(r)
	if err != nil {
		return err
	}
	v := holdsView{Mode: "result", Decision: d, IDs: ids, Back: holdsBack(r), CSRF: s.csrf(), MaySync: true}
	if len(ids) == 0 {
		v.Mode = "confirm"
		v.Summary = decisionSummary(d, nil)
		v.Problem = &problem{Status: http.StatusBadRequest, Message: "No held operations were selected, so nothing was decided."}
		c.render(w, r, s, http.StatusBadRequest, "holds", v)
		return nil
	}
	res, err := c.svc.DecideHolds(r.Context(), s.actor(), api.DecideHolds{IDs: ids}, d == decApprove)
	if err != nil {
		v.Mode = "confirm"
		v.Holds = found
		v.Problem = c.describe(r, err)
		c.render(w, r, s, v.Problem.Status, "holds", v)
		return nil
	}
	known := map[string]*api.Hold{}
	for i := range found {
		known[found[i].ID] = &found[i]
	}
	for _, x := range res {
		v.Results = append(v.Results, holdResultRow{HoldResult: x, Hold: known[x.ID]})
		if x.Code != "" {
			v.Refused++
		} else {
			v.Applied++
		}
	}
	c.log.Info("held operations decided", zap.String("admin", s.Address), zap.String("decision", d),
		zap.Int("selected", len(ids)), zap.Int("done", v.Applied), zap.Int("refused", v.Refused))
	c.render(w, r, s, http.StatusOK, "holds", v)
	return nil
}

// holdsBack is the list the confirmation and the result link back to: the
// request's back parameter when it is a holds list, else the pending list.
func holdsBack(r *http.Request) string {
	b := r.FormValue("back")
	if b == "" || !strings.HasPrefix(b, Prefix+"holds") || strings.HasPrefix(b, "//") {
		return Prefix + "holds"
	}
	return b
}
