// Package client is a typed Go client of dirsync's admin HTTP API (package api):
// one method per route, the wire types of package api, and API errors decoded
// into *Error. The dirsync CLI's admin commands are built on it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxErrorBody bounds how much of a non-JSON error response is kept for the
// message (a proxy's HTML page, say).
const maxErrorBody = 512

// Client talks to one dirsync daemon. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the daemon at baseURL (e.g. "http://127.0.0.1:8080";
// a path prefix is kept, "/v1" is added by the client) authenticating with the
// bearer token. httpClient nil means http.DefaultClient.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: use http:// or https://", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: no query or fragment, please", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// BaseURL is the daemon's address as given to New, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one API call.
type request struct {
	method      string
	path        string // under /v1, already escaped
	query       url.Values
	body        io.Reader
	contentType string
}

// jsonRequest builds a request whose body is v as JSON.
func jsonRequest(method, path string, v any) (request, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return request{}, fmt.Errorf("%s %s: encode body: %w", method, path, err)
	}
	return request{method: method, path: path, body: bytes.NewReader(raw), contentType: "application/json"}, nil
}

// do sends req and decodes a successful JSON answer into out (nil: discard
// it). An answer with status 400 or more is returned as *Error. It returns the
// status code.
func (c *Client) do(ctx context.Context, req request, out any) (int, error) {
	resp, err := c.send(ctx, req, "application/json")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return resp.StatusCode, nil // an empty body: nothing to decode
		}
		return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", req.method, req.path, err)
	}
	return resp.StatusCode, nil
}

// doRaw sends req and returns the successful answer's body as is.
func (c *Client) doRaw(ctx context.Context, req request, accept string) ([]byte, error) {
	resp, err := c.send(ctx, req, accept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", req.method, req.path, err)
	}
	return raw, nil
}

// send performs the request and turns an error status into *Error; on success
// the caller closes the body.
func (c *Client) send(ctx context.Context, req request, accept string) (*http.Response, error) {
	u := *c.base
	target, err := url.Parse(c.base.Path + "/v1" + req.path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	u.Path, u.RawPath = target.Path, target.RawPath
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), req.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	hr.Header.Set("Accept", accept)
	hr.Header.Set("User-Agent", "dirsync-cli")
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		// *url.Error names the method and URL (never the token, which travels
		// in a header).
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// decodeError reads an error answer: the API's {"error": {...}} shape, or, from
// something that is not the API (a proxy), the status and the start of the body.
func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e := &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
		if len(body.Error.Details) > 0 && string(body.Error.Details) != "null" {
			e.Details = body.Error.Details
		}
		return e
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > maxErrorBody {
		text = text[:maxErrorBody] + "…"
	}
	msg := fmt.Sprintf("HTTP %d %s from %s (not an answer of the dirsync API)", resp.StatusCode,
		http.StatusText(resp.StatusCode), resp.Request.URL.Redacted())
	if text != "" {
		msg += ": " + text
	}
	return &Error{Status: resp.StatusCode, Message: msg}
}

// userPath is the path of one user; the address is escaped as a path segment.
func userPath(address string, rest ...string) string {
	p := "/users/" + url.PathEscape(address)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
