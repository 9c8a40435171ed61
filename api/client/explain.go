package client

import (
	"context"
	"net/http"

	"github.com/dirsync/dirsync/api"
)

// Explain is POST /v1/explain: one object through every stage of a sync.
func (c *Client) Explain(ctx context.Context, in api.ExplainRequest) (*api.Explanation, error) {
	req, err := jsonRequest(http.MethodPost, "/explain", in)
	if err != nil {
		return nil, err
	}
	var out api.Explanation
	if _, err = c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
