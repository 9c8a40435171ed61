package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dirsync/dirsync/api"
)

// Domains is GET /v1/domains: the internal domains.
func (c *Client) Domains(ctx context.Context) ([]api.Domain, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/domains"}, &raw); err != nil {
		return nil, err
	}
	ds, err := decodeList[api.Domain](raw, "domains", "GET /domains")
	if err != nil {
		// A list of names is as good.
		names, nerr := decodeList[string](raw, "domains", "GET /domains")
		if nerr != nil {
			return nil, err
		}
		ds = make([]api.Domain, len(names))
		for i, n := range names {
			ds[i] = api.Domain{Name: n}
		}
	}
	return ds, nil
}

// AddDomain is POST /v1/domains.
func (c *Client) AddDomain(ctx context.Context, name string) (api.Domain, error) {
	// Only the name: users is a count the server fills in.
	req, err := jsonRequest(http.MethodPost, "/domains", struct {
		Name string `json:"name"`
	}{name})
	if err != nil {
		return api.Domain{}, err
	}
	out := api.Domain{}
	if _, err := c.do(ctx, req, &out); err != nil {
		return api.Domain{}, err
	}
	if out.Name == "" {
		out.Name = name
	}
	return out, nil
}

// Roles is GET /v1/roles.
func (c *Client) Roles(ctx context.Context) ([]api.Role, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/roles"}, &raw); err != nil {
		return nil, err
	}
	return decodeList[api.Role](raw, "roles", "GET /roles")
}

// AddRole is POST /v1/roles.
func (c *Client) AddRole(ctx context.Context, r api.Role) (api.Role, error) {
	req, err := jsonRequest(http.MethodPost, "/roles", r)
	if err != nil {
		return api.Role{}, err
	}
	out := api.Role{}
	if _, err := c.do(ctx, req, &out); err != nil {
		return api.Role{}, err
	}
	if out.Name == "" {
		out = r
	}
	return out, nil
}

// ImportTemplate is GET /v1/imports/template: the CSV template.
func (c *Client) ImportTemplate(ctx context.Context) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: "/imports/template"}, "text/csv")
}

// Import is POST /v1/imports with the CSV file. A file with row problems is
// refused as a whole: *Error with code import_invalid, whose ImportProblems
// lists every problem.
func (c *Client) Import(ctx context.Context, csv io.Reader) (api.ImportResult, error) {
	var out api.ImportResult
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/imports", body: csv, contentType: "text/csv"}, &out)
	return out, err
}

// Trigger is POST /v1/syncs. With t.Wait the answer holds the runs' reports;
// otherwise only the run ids to poll with Run.
func (c *Client) Trigger(ctx context.Context, t api.TriggerSync) (api.Triggered, error) {
	req, err := jsonRequest(http.MethodPost, "/syncs", t)
	if err != nil {
		return api.Triggered{}, err
	}
	var out api.Triggered
	_, err = c.do(ctx, req, &out)
	return out, err
}

// RunFilter selects runs for Runs; the zero value is every run, up to the
// API's default limit.
type RunFilter struct {
	// Connector "" = all.
	Connector string
	// Status selects runs with that status (api.RunStatuses); "" = every run.
	Status api.RunStatus
	// Cursor continues a listing: the previous page's NextCursor.
	Cursor string
	// Limit 0 = the API's default.
	Limit int
}

// Runs is GET /v1/runs: a page of runs in progress, pending and from the
// history, newest first (NextCursor: the next page).
func (c *Client) Runs(ctx context.Context, f RunFilter) (api.RunList, error) {
	q := url.Values{}
	if f.Connector != "" {
		q.Set("connector", f.Connector)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var out api.RunList
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/runs", query: q}, &out)
	return out, err
}

// Run is GET /v1/runs/{id}.
func (c *Client) Run(ctx context.Context, id string) (api.RunDetail, error) {
	var out api.RunDetail
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/runs/" + url.PathEscape(id)}, &out)
	return out, err
}

// decodeList reads a listing sent either as a bare JSON array or as an object
// holding the array under key (the API's contract names neither for domains
// and roles, so the client takes both).
func decodeList[T any](raw json.RawMessage, key, what string) ([]T, error) {
	var list []T
	if len(raw) == 0 || string(raw) == "null" {
		return list, nil
	}
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("%s: decode answer: %w", what, err)
		}
		return list, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("%s: decode answer: %w", what, err)
	}
	inner, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("%s: decode answer: no %q list in it", what, key)
	}
	if err := json.Unmarshal(inner, &list); err != nil {
		return nil, fmt.Errorf("%s: decode answer: %w", what, err)
	}
	return list, nil
}
