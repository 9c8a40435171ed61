package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dirsync/dirsync/api"
)

// UserQuery is the query of GET /v1/users. Every field is optional.
type UserQuery struct {
	Search       string // q: substring of address, alias or display name
	Letter       string // a..z, or # for anything else
	Registration string // registered (the API's default), unregistered, all
	Status       string // enabled, disabled
	Domain       string
	Kind         string // user, group
	Origin       string
	Sort         string // a column (store.SortColumns)
	Order        string // asc, desc
	Limit        int    // 0: the API's default
	Cursor       string // NextCursor of the previous page
}

func (q UserQuery) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", q.Search)
	set("letter", q.Letter)
	set("registration", q.Registration)
	set("status", q.Status)
	set("domain", q.Domain)
	set("kind", q.Kind)
	set("origin", q.Origin)
	set("sort", q.Sort)
	set("order", q.Order)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// Users is GET /v1/users: one page.
func (c *Client) Users(ctx context.Context, q UserQuery) (api.UserList, error) {
	var out api.UserList
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/users", query: q.values()}, &out)
	return out, err
}

// AllUsers follows the cursors of GET /v1/users from q and returns every user.
func (c *Client) AllUsers(ctx context.Context, q UserQuery) ([]api.User, error) {
	var all []api.User
	for {
		page, err := c.Users(ctx, q)
		if err != nil {
			return all, err
		}
		all = append(all, page.Users...)
		if page.NextCursor == "" || page.NextCursor == q.Cursor {
			return all, nil
		}
		q.Cursor = page.NextCursor
	}
}

// User is GET /v1/users/{address} (the primary address or an alias).
func (c *Client) User(ctx context.Context, address string) (api.User, error) {
	var out api.User
	_, err := c.do(ctx, request{method: http.MethodGet, path: userPath(address)}, &out)
	return out, err
}

// CreateUser is POST /v1/users.
func (c *Client) CreateUser(ctx context.Context, u api.CreateUser) (api.User, error) {
	req, err := jsonRequest(http.MethodPost, "/users", u)
	if err != nil {
		return api.User{}, err
	}
	var out api.User
	_, err = c.do(ctx, req, &out)
	return out, err
}

// UpdateUser is PATCH /v1/users/{address}: only the fields set in u change.
func (c *Client) UpdateUser(ctx context.Context, address string, u api.UpdateUser) (*api.User, error) {
	req, err := jsonRequest(http.MethodPatch, userPath(address), u)
	if err != nil {
		return nil, err
	}
	return c.userAnswer(ctx, req)
}

// DisableUser is DELETE /v1/users/{address}: the user is disabled, not deleted.
func (c *Client) DisableUser(ctx context.Context, address string) (*api.User, error) {
	return c.userAnswer(ctx, request{method: http.MethodDelete, path: userPath(address)})
}

// DeleteUser is DELETE /v1/users/{address}?purge=true: the user is deleted.
func (c *Client) DeleteUser(ctx context.Context, address string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: userPath(address),
		query: url.Values{"purge": {"true"}}}, nil)
	return err
}

// UnlockUser is POST /v1/users/{address}/unlock ("Clear Lock").
func (c *Client) UnlockUser(ctx context.Context, address string) (*api.User, error) {
	return c.userAnswer(ctx, request{method: http.MethodPost, path: userPath(address, "unlock")})
}

// RegisterUser is POST /v1/users/{address}/register: the admin registers the
// user's portal login directly.
func (c *Client) RegisterUser(ctx context.Context, address string, r api.Register) (*api.User, error) {
	req, err := jsonRequest(http.MethodPost, userPath(address, "register"), r)
	if err != nil {
		return nil, err
	}
	return c.userAnswer(ctx, req)
}

// UnregisterUser is POST /v1/users/{address}/unregister: portal access is
// removed, the user kept.
func (c *Client) UnregisterUser(ctx context.Context, address string) (*api.User, error) {
	return c.userAnswer(ctx, request{method: http.MethodPost, path: userPath(address, "unregister")})
}

// InviteUser is POST /v1/users/{address}/invite. The answer's token is shown
// this once.
func (c *Client) InviteUser(ctx context.Context, address string, inv api.Invite) (api.Invitation, error) {
	req, err := jsonRequest(http.MethodPost, userPath(address, "invite"), inv)
	if err != nil {
		return api.Invitation{}, err
	}
	var out api.Invitation
	_, err = c.do(ctx, req, &out)
	return out, err
}

// UserStatus is GET /v1/users/{address}/status.
func (c *Client) UserStatus(ctx context.Context, address string) (api.Status, error) {
	var out api.Status
	_, err := c.do(ctx, request{method: http.MethodGet, path: userPath(address, "status")}, &out)
	return out, err
}

// SetRoles is PUT /v1/users/{address}/roles: the user's roles become exactly
// roles (none clears them).
func (c *Client) SetRoles(ctx context.Context, address string, roles []string) (*api.User, error) {
	if roles == nil {
		roles = []string{}
	}
	req, err := jsonRequest(http.MethodPut, userPath(address, "roles"), api.SetRoles{Roles: roles})
	if err != nil {
		return nil, err
	}
	return c.userAnswer(ctx, req)
}

// userAnswer sends req and decodes the user the API answers with; nil when the
// answer has no body (204).
func (c *Client) userAnswer(ctx context.Context, req request) (*api.User, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, req, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var u api.User
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("%s %s: decode answer: %w", req.method, req.path, err)
	}
	if u.Address == "" {
		return nil, nil // an answer that is not a user, e.g. {"status": "ok"}
	}
	return &u, nil
}
