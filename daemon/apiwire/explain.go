package apiwire

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/sync/engine"
	"github.com/dirsync/dirsync/sync/plan"
)

// NewExplainer serves POST /v1/explain from the engine; jobs returns the
// daemon's current connector jobs (they change on reload).
func NewExplainer(eng *engine.Engine, jobs func() []engine.Job) Explainer {
	return Explainer{eng: eng, jobs: jobs}
}

// Explainer serves POST /v1/explain from the engine and the daemon's jobs.
type Explainer struct {
	eng  *engine.Engine
	jobs func() []engine.Job
}

// Explain explains req.User as the connector req.Connector reads it.
func (x Explainer) Explain(ctx context.Context, req api.ExplainRequest) (*api.Explanation, error) {
	var names []string
	for _, j := range x.jobs() {
		if j.Name != req.Connector {
			names = append(names, j.Name)
			continue
		}
		ex, err := x.eng.Explain(ctx, j, req.User, req.Apply)
		switch {
		case errors.Is(err, connectors.ErrNotInSource):
			return nil, fmt.Errorf("%w: %w", api.ErrNotInSource, err)
		case errors.Is(err, engine.ErrCannotExplain):
			return nil, fmt.Errorf("%w: %w", api.ErrExplainUnsupported, err)
		case err != nil:
			return nil, err
		}
		return Explanation(ex), nil
	}
	return nil, fmt.Errorf("%w %q: configured connectors are %v", api.ErrUnknownConnector, req.Connector, names)
}

var _ api.Explainer = Explainer{}

// Explanation converts the engine's explanation of one object into the API's.
func Explanation(ex *engine.Explanation) *api.Explanation {
	if ex == nil {
		return nil
	}
	out := &api.Explanation{Connector: ex.Connector, Key: ex.Key,
		Read:  api.ExplainRead{Query: ex.Read.Query, Attributes: ex.Read.Attributes},
		Scope: api.ExplainScope{InScope: ex.Scope.InScope},
		Normalise: api.ExplainNormalise{OK: ex.Normalise.OK, Record: record(ex.Normalise.Record),
			Quarantined: quarantine(ex.Normalise.Quarantined), Warnings: quarantine(ex.Normalise.Warnings)},
		Join:  api.ExplainJoin{By: api.JoinBy(ex.Join.By), Detail: ex.Join.Detail, Changed: ex.Join.Changed},
		Plan:  api.ExplainPlan{Summary: ex.Plan.Summary, Refused: quarantine(ex.Plan.Refused)},
		Apply: Report(ex.Apply)}
	if ex.Scope.Checks != nil {
		out.Scope.Checks = make([]api.ScopeCheck, len(ex.Scope.Checks))
		for i, c := range ex.Scope.Checks {
			out.Scope.Checks[i] = api.ScopeCheck{Rule: c.Rule, Admitted: c.Admitted, Detail: c.Detail}
		}
	}
	if u := ex.Join.User; u != nil {
		out.Join.User = &api.JoinedUser{Address: u.Address, Kind: u.Kind, Origin: u.Origin, Anchor: u.Anchor,
			Enabled: u.Enabled, Protected: u.Protected}
	}
	if c := ex.Join.Cached; c != nil {
		out.Join.Cached = &api.CachedEntry{Fingerprint: c.Fingerprint, Kind: c.Kind, Address: c.Address, Ref: c.Ref,
			Missing: c.Missing, Gone: c.Gone}
	}
	if ex.Plan.Operations != nil {
		out.Plan.Operations = make([]api.PlannedOp, len(ex.Plan.Operations))
		for i, op := range ex.Plan.Operations {
			out.Plan.Operations[i] = api.PlannedOp{Change: change(op.Change), Note: op.Note}
		}
	}
	return out
}

func record(r *plan.Record) *api.ExplainRecord {
	if r == nil {
		return nil
	}
	return &api.ExplainRecord{Kind: r.Kind, Ref: r.Ref, Anchor: r.Anchor, Address: r.Address, Aliases: r.Aliases,
		DisplayName: r.DisplayName, GivenName: r.GivenName, Surname: r.Surname, Phone: r.Phone,
		Department: r.Department, Title: r.Title, Enabled: r.Enabled, Members: r.Members,
		JoinAnchor: r.JoinAnchor, Deleted: r.Deleted}
}
