package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

func TestNewToken(t *testing.T) {
	tok, hash, err := api.NewToken()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok, "dst_"))
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "dst_"))
	require.NoError(t, err)
	require.Len(t, raw, 32)
	sum := sha256.Sum256([]byte(tok))
	require.Equal(t, hex.EncodeToString(sum[:]), hash)
	require.Equal(t, hash, api.HashToken(tok))
	tok2, _, err := api.NewToken()
	require.NoError(t, err)
	require.NotEqual(t, tok, tok2)
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, nil, nil)

	r := h.call("GET", "/v1/users", "", nil)
	r.apiErr(401, api.CodeUnauthorized)
	require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	h.call("GET", "/v1/users", "dst_not-a-real-token", nil).apiErr(401, api.CodeUnauthorized)
	req, err := http.NewRequest("GET", h.srv.URL+"/v1/users", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+h.admin)
	resp, err := h.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	// The scheme is case-insensitive.
	req.Header.Set("Authorization", "bearer "+h.admin)
	resp, err = h.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	// Failures are logged with where they came from, never with the token
	// (the harness checks every log line for the tokens).
	logged := h.logs.FilterMessage("API authentication failed").All()
	require.Len(t, logged, 3)
	fields := logged[1].ContextMap()
	require.Equal(t, "/v1/users", fields["path"])
	require.Equal(t, "unknown or revoked token", fields["reason"])
	require.NotEmpty(t, fields["remote"])
}

func TestScopes(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})
	type check struct {
		method, path string
		body         any
	}
	gets := []check{{"GET", "/v1/users", nil}, {"GET", "/v1/users/ann@example.com", nil},
		{"GET", "/v1/users/ann@example.com/status", nil}, {"GET", "/v1/domains", nil}, {"GET", "/v1/roles", nil},
		{"GET", "/v1/imports/template", nil}}
	writes := []check{{"POST", "/v1/domains", api.Domain{Name: "x.example"}}, {"POST", "/v1/users", api.CreateUser{Address: "b@example.com"}},
		{"PATCH", "/v1/users/ann@example.com", api.UpdateUser{}}, {"DELETE", "/v1/users/ann@example.com", nil},
		{"POST", "/v1/users/ann@example.com/unlock", nil}, {"PUT", "/v1/users/ann@example.com/roles", api.SetRoles{Roles: []string{}}},
		{"POST", "/v1/roles", api.Role{Name: "X"}}}

	for _, c := range gets {
		require.Equal(t, 200, h.call(c.method, c.path, h.read, c.body).Status, c.path)
		h.call(c.method, c.path, h.sync, c.body).apiErr(403, api.CodeForbidden)
		h.call(c.method, c.path, h.senders, c.body).apiErr(403, api.CodeForbidden)
	}
	for _, c := range writes {
		e := h.call(c.method, c.path, h.read, c.body).apiErr(403, api.CodeForbidden)
		require.Contains(t, e.Message, "admin", "the message names the scope needed")
		h.call(c.method, c.path, h.sync, c.body).apiErr(403, api.CodeForbidden)
		h.call(c.method, c.path, h.senders, c.body).apiErr(403, api.CodeForbidden)
		h.call(c.method, c.path, "", c.body).apiErr(401, api.CodeUnauthorized)
	}
	// The admin token may do all of it.
	for _, c := range append(gets, writes...) {
		require.Less(t, h.call(c.method, c.path, h.admin, c.body).Status, 300, c.path)
	}
	e := h.call("POST", "/v1/syncs", h.read, nil).apiErr(403, api.CodeForbidden)
	require.Contains(t, e.Message, "admin or sync")
	// End users need no token.
	h.login("ann@example.com", goodPass).apiErr(401, api.CodeInvalidCredentials)
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})
	post := func(body, contentType string) *response {
		return h.raw("POST", "/v1/users", h.admin, contentType, []byte(body))
	}
	e := post(`{"address": "x@example.com",`, "application/json").apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "malformed JSON")
	e = post(`{"address": "x@example.com"} {}`, "application/json").apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "more than one")
	e = post(`{"adress": "x@example.com"}`, "application/json").apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, `"adress"`, "the unknown field is named")
	require.Contains(t, e.Message, "address", "and the known ones listed")
	e = post(`{"address": 42}`, "application/json").apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, `"address" must be a JSON string`)
	e = post(`[1, 2]`, "application/json").apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "object")
	post(`{"address": "x@example.com"}`, "text/plain").apiErr(415, api.CodeUnsupportedMedia)
	post(`{"address": "x@example.com"}`, "").apiErr(415, api.CodeUnsupportedMedia)
	post(``, "application/json").apiErr(400, api.CodeBadRequest)
	post(`{"address": "x@example.com"}`, "application/json; charset=utf-8").ok(201, nil)
	big := `{"display_name": "` + strings.Repeat("x", 2<<20) + `", "address": "y@example.com"}`
	post(big, "application/json").apiErr(413, api.CodeTooLarge)
	e = h.raw("PUT", "/v1/users/ann@example.com/roles", h.admin, "application/json", []byte(`{"roles": "Sales"}`)).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "roles")
	h.raw("POST", "/v1/auth/login", "", "application/json", []byte(`{"address": "ann@example.com", "password": "x", "remember": true}`)).
		apiErr(400, api.CodeBadRequest)

	// Routing errors have the same JSON shape.
	h.call("GET", "/v1/nothing", h.admin, nil).apiErr(404, api.CodeNotFound)
	h.call("GET", "/elsewhere", h.admin, nil).apiErr(404, api.CodeNotFound)
	r := h.call("PUT", "/v1/domains", h.admin, nil)
	r.apiErr(405, api.CodeMethodNotAllowed)
	require.Contains(t, r.Header.Get("Allow"), "POST")
}

// TestUnexpectedErrorIs500 closes the store under the API: the client gets
// a generic message, the log the real error.
func TestUnexpectedErrorIs500(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com"})
	var list api.UserList
	h.call("GET", "/v1/users?registration=all", h.admin, nil).ok(200, &list)
	require.NoError(t, h.st.Close())
	// The token lookup itself fails now.
	e := h.call("GET", "/v1/users", h.admin, nil).apiErr(500, api.CodeInternal)
	require.NotContains(t, e.Message, "sql")
	logged := h.logs.FilterMessage("request failed").All()
	require.NotEmpty(t, logged)
	require.Contains(t, logged[0].ContextMap()["error"], "closed")
	h.storeClosed = true
	require.True(t, bytes.Contains(h.call("POST", "/v1/auth/login", "", api.Login{Address: "a@example.com", Password: "x"}).Body, []byte(api.CodeInternal)))
}
