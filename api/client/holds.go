package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/dirsync/dirsync/api"
)

// Holds is GET /v1/holds; connector and status "" = all.
func (c *Client) Holds(ctx context.Context, connector, status string) (api.HoldList, error) {
	q := url.Values{}
	if connector != "" {
		q.Set("connector", connector)
	}
	if status != "" {
		q.Set("status", status)
	}
	var out api.HoldList
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/holds", query: q}, &out)
	return out, err
}

// DecideHolds approves (or rejects) held operations in bulk: POST
// /v1/holds/approve or /v1/holds/reject. Refused operations are results with
// a Code, not an error.
func (c *Client) DecideHolds(ctx context.Context, d api.DecideHolds, approve bool) (api.HoldResults, error) {
	path := "/holds/reject"
	if approve {
		path = "/holds/approve"
	}
	req, err := jsonRequest(http.MethodPost, path, d)
	if err != nil {
		return api.HoldResults{}, err
	}
	var out api.HoldResults
	_, err = c.do(ctx, req, &out)
	return out, err
}
