package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Explain: one source object through every stage of a sync.

// Errors an Explainer wraps, so the API can answer precisely.
var (
	// ErrNotInSource: the source has no object with that address or anchor.
	ErrNotInSource = errors.New("not in the source")
	// ErrExplainUnsupported: the connector's type cannot read one object.
	ErrExplainUnsupported = errors.New("explain is not supported by this connector")
)

// Explainer explains one object of a connector: the engine in the daemon.
type Explainer interface {
	// Explain returns the explanation; with req.Apply it also applies the
	// planned operations through a one-object run (audited as that
	// connector's sync, like any run).
	Explain(ctx context.Context, req ExplainRequest) (*Explanation, error)
}

// ExplainRequest is POST /v1/explain.
type ExplainRequest struct {
	Connector string `json:"connector"`
	// User is an address, alias or source anchor.
	User  string `json:"user"`
	Apply bool   `json:"apply"`
}

// Explain explains one object of a connector; with in.Apply it also applies
// its plan. 404 not_in_source, 422 explain_unsupported.
func (s *Service) Explain(ctx context.Context, in ExplainRequest) (*Explanation, error) {
	if s.explainer == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process reads no sources: ask the dirsync daemon (dirsync serve)"}
	}
	switch {
	case strings.TrimSpace(in.Connector) == "":
		return nil, invalid("connector", "required: the connector to read the object from")
	case strings.TrimSpace(in.User) == "":
		return nil, invalid("user", "required: an address, alias or source anchor")
	}
	out, err := s.explainer.Explain(ctx, in)
	switch {
	case errors.Is(err, ErrNotInSource):
		return nil, &apiError{Status: http.StatusNotFound, Code: CodeNotInSource, Message: err.Error(), Err: err}
	case errors.Is(err, ErrExplainUnsupported):
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: CodeExplainUnsupported, Message: err.Error(), Err: err}
	case err != nil:
		return nil, err
	}
	return out, nil
}

func (s *server) explain(w http.ResponseWriter, r *http.Request) error {
	if s.explainer == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process reads no sources: ask the dirsync daemon (dirsync serve)"}
	}
	var in ExplainRequest
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	out, err := s.Explain(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
