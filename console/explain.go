package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
)

// Explain one user (issue 24): pick a connector, type an address or anchor,
// and see every stage of a sync for that one source object — read, scope,
// normalise, join, plan and check — with what decided it. The form is a GET,
// so an explanation's address can be shared; applying the object's plan is a
// POST that needs PermSync.

// explainView is the data of templates/explain.html.
type explainView struct {
	Connector, User string
	Connectors      []option
	Problem         *problem
	X               *api.Explanation
	// Self is this explanation's shareable address.
	Self string
}

func (v explainView) PageTitle() string {
	if v.X != nil {
		return "Explain " + v.User + " in " + v.Connector
	}
	return "Explain one user"
}

// Checks are the plan's operations that something would stop (a pending
// hold, a protected account) and the objects the plan refused: the check
// stage.
func (v explainView) Checks() []api.PlannedOp {
	if v.X == nil {
		return nil
	}
	var out []api.PlannedOp
	for _, op := range v.X.Plan.Operations {
		if op.Note != "" {
			out = append(out, op)
		}
	}
	return out
}

// Value renders a field value of a planned change.
func (explainView) Value(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(x, ", ")
	}
	return fmt.Sprint(v)
}

// explainForm reads the connector and the user, with the connectors to pick
// from (the only one preselected on a first visit, when none was submitted).
func (c *Console) explainForm(connector, user string, first bool) explainView {
	v := explainView{Connector: strings.TrimSpace(connector), User: strings.TrimSpace(user)}
	names := c.svc.ConnectorNames()
	if first && v.Connector == "" && len(names) == 1 {
		v.Connector = names[0]
	}
	v.Connectors = []option{{Value: "", Label: "Choose a connector", Selected: v.Connector == ""}}
	for _, n := range names {
		v.Connectors = append(v.Connectors, option{Value: n, Label: n, Selected: n == v.Connector})
	}
	v.Self = Prefix + "explain?" + url.Values{"connector": {v.Connector}, "user": {v.User}}.Encode()
	return v
}

// explainPage is the form and, once a user is given, its explanation.
func (c *Console) explainPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	v := c.explainForm(q.Get("connector"), q.Get("user"), !q.Has("connector"))
	status := http.StatusOK
	if q.Has("user") {
		x, err := c.svc.Explain(r.Context(), api.ExplainRequest{Connector: v.Connector, User: v.User})
		if err != nil {
			v.Problem = c.describe(r, err)
			status = v.Problem.Status
		}
		v.X = x
	}
	c.render(w, r, s, status, "explain", v)
	return nil
}

// explainApply explains the object again and applies its plan through a
// one-object run (audited as that connector's sync), then shows the run's
// report under the explanation.
func (c *Console) explainApply(w http.ResponseWriter, r *http.Request, s *session) error {
	v := c.explainForm(r.FormValue("connector"), r.FormValue("user"), false)
	c.log.Info("explain apply", zap.String("admin", s.Address), zap.String("connector", v.Connector), zap.String("user", v.User))
	x, err := c.svc.Explain(r.Context(), api.ExplainRequest{Connector: v.Connector, User: v.User, Apply: true})
	status := http.StatusOK
	if err != nil {
		v.Problem = c.describe(r, err)
		status = v.Problem.Status
	}
	v.X = x
	c.render(w, r, s, status, "explain", v)
	return nil
}
