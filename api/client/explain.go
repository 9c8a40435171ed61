package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/dirsync/dirsync/api"
)

// Explain is POST /v1/explain: the explanation's JSON (engine.Explanation).
func (c *Client) Explain(ctx context.Context, in api.ExplainRequest) (json.RawMessage, error) {
	req, err := jsonRequest(http.MethodPost, "/explain", in)
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	_, err = c.do(ctx, req, &out)
	return out, err
}
