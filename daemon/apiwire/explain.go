package apiwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/sync/engine"
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

func (x Explainer) Explain(ctx context.Context, req api.ExplainRequest) (json.RawMessage, error) {
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
		return json.Marshal(ex)
	}
	return nil, fmt.Errorf("%w %q: configured connectors are %v", api.ErrUnknownConnector, req.Connector, names)
}
