package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/dirsync/dirsync/api"
)

// Audit is GET /v1/audit: one page of the audit log, newest first. q holds
// the API's filters as they are (address, actor, action, connector, run,
// since, until, limit, cursor); nil lists everything.
func (c *Client) Audit(ctx context.Context, q url.Values) (api.AuditList, error) {
	var out api.AuditList
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: q}, &out)
	return out, err
}
