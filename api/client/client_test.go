package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
)

const token = "dst_secret-token"

// seen is what the fake API received.
type seen struct {
	method, path, rawPath, query, contentType, body string
}

// fakeAPI answers every request with status and body, after checking the
// bearer token as the real API does (401 with the error shape otherwise).
func fakeAPI(t *testing.T, status int, body string) (*client.Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		*got = seen{method: r.Method, path: r.URL.Path, rawPath: r.URL.EscapedPath(), query: r.URL.RawQuery,
			contentType: r.Header.Get("Content-Type"), body: string(raw)}
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorInfo{
				Code: api.CodeUnauthorized, Message: "no valid bearer token"}})
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", token, srv.Client())
	require.NoError(t, err)
	return c, got
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://x", "http://", "http://x/?a=b", "://"} {
		_, err := client.New(u, token, nil)
		require.Error(t, err, u)
	}
	c, err := client.New("https://dirsync.example.com/prefix/", token, nil)
	require.NoError(t, err)
	require.Equal(t, "https://dirsync.example.com/prefix", c.BaseURL())
}

func TestUsersQueryAndPaths(t *testing.T) {
	page := api.UserList{Users: []api.User{{Address: "alice@example.com", Enabled: true}}, NextCursor: "abc"}
	c, got := fakeAPI(t, http.StatusOK, mustJSON(t, page))
	list, err := c.Users(t.Context(), client.UserQuery{Search: "ali ce", Letter: "a", Registration: "all",
		Status: "enabled", Domain: "example.com", Sort: "display_name", Order: "desc", Limit: 5, Cursor: "x"})
	require.NoError(t, err)
	require.Equal(t, page, list)
	require.Equal(t, "GET", got.method)
	require.Equal(t, "/v1/users", got.path)
	require.Equal(t, "cursor=x&domain=example.com&letter=a&limit=5&order=desc&q=ali+ce&registration=all&sort=display_name&status=enabled", got.query)

	_, err = c.User(t.Context(), "a+b/c@example.com")
	require.NoError(t, err)
	require.Equal(t, "/v1/users/a+b%2Fc@example.com", got.rawPath)
}

func TestAllUsersFollowsCursors(t *testing.T) {
	var cursors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		cursors = append(cursors, cur)
		next := map[string]string{"": "p2", "p2": "p3", "p3": ""}[cur]
		writeJSON(w, http.StatusOK, api.UserList{Users: []api.User{{Address: "u" + cur + "@example.com"}}, NextCursor: next})
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, token, nil)
	require.NoError(t, err)
	all, err := c.AllUsers(t.Context(), client.UserQuery{Limit: 1})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, []string{"", "p2", "p3"}, cursors)
}

func TestJSONBodies(t *testing.T) {
	ctx := t.Context()
	user := api.User{Address: "alice@example.com", Enabled: true, Roles: []string{}}
	tests := []struct {
		name       string
		call       func(c *client.Client) error
		method     string
		path       string
		query      string
		body       string
		answerCode int
		answer     string
	}{
		{"create", func(c *client.Client) error {
			_, err := c.CreateUser(ctx, api.CreateUser{Address: "alice@example.com", DisplayName: "Alice"})
			return err
		}, "POST", "/v1/users", "", `{"address":"alice@example.com","display_name":"Alice"}`, 201, mustJSON(t, user)},
		{"update", func(c *client.Client) error {
			name := "Alice B"
			_, err := c.UpdateUser(ctx, "alice@example.com", api.UpdateUser{DisplayName: &name})
			return err
		}, "PATCH", "/v1/users/alice@example.com", "", `{"display_name":"Alice B"}`, 200, mustJSON(t, user)},
		{"disable", func(c *client.Client) error {
			_, err := c.DisableUser(ctx, "alice@example.com")
			return err
		}, "DELETE", "/v1/users/alice@example.com", "", "", 200, mustJSON(t, user)},
		{"purge", func(c *client.Client) error {
			return c.DeleteUser(ctx, "alice@example.com")
		}, "DELETE", "/v1/users/alice@example.com", "purge=true", "", 204, ""},
		{"register", func(c *client.Client) error {
			_, err := c.RegisterUser(ctx, "alice@example.com", api.Register{Password: "pw", Question: "q", Answer: "a"})
			return err
		}, "POST", "/v1/users/alice@example.com/register", "", `{"password":"pw","security_question":"q","security_answer":"a"}`, 200, mustJSON(t, user)},
		{"roles none", func(c *client.Client) error {
			_, err := c.SetRoles(ctx, "alice@example.com", nil)
			return err
		}, "PUT", "/v1/users/alice@example.com/roles", "", `{"roles":[]}`, 200, mustJSON(t, user)},
		{"add domain", func(c *client.Client) error {
			d, err := c.AddDomain(ctx, "example.org")
			require.Equal(t, "example.org", d.Name)
			return err
		}, "POST", "/v1/domains", "", `{"name":"example.org"}`, 204, ""},
		{"trigger", func(c *client.Client) error {
			_, err := c.Trigger(ctx, api.TriggerSync{Connectors: []string{"ad"}, DryRun: true, Wait: true})
			return err
		}, "POST", "/v1/syncs", "", `{"connectors":["ad"],"dry_run":true,"wait":true}`, 200, `{"runs":[]}`},
		{"runs", func(c *client.Client) error {
			_, err := c.Runs(ctx, client.RunFilter{Connector: "ad", Limit: 3})
			return err
		}, "GET", "/v1/runs", "connector=ad&limit=3", "", 200, `{"runs":[]}`},
		{"pending runs", func(c *client.Client) error {
			_, err := c.Runs(ctx, client.RunFilter{Status: api.RunPending})
			return err
		}, "GET", "/v1/runs", "status=pending", "", 200, `{"runs":[]}`},
		{"the next page of failed runs", func(c *client.Client) error {
			_, err := c.Runs(ctx, client.RunFilter{Status: api.RunFailed, Cursor: "eyJzIjoiIn0"})
			return err
		}, "GET", "/v1/runs", "cursor=eyJzIjoiIn0&status=failed", "", 200, `{"runs":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fakeAPI(t, tt.answerCode, tt.answer)
			require.NoError(t, tt.call(c))
			require.Equal(t, tt.method, got.method)
			require.Equal(t, tt.path, got.path)
			require.Equal(t, tt.query, got.query)
			if tt.body != "" {
				require.JSONEq(t, tt.body, got.body)
				require.Equal(t, "application/json", got.contentType)
			}
		})
	}
}

func TestActionWithoutBodyReturnsNil(t *testing.T) {
	c, _ := fakeAPI(t, http.StatusNoContent, "")
	u, err := c.UnlockUser(t.Context(), "alice@example.com")
	require.NoError(t, err)
	require.Nil(t, u)
}

func TestListsBareOrWrapped(t *testing.T) {
	for _, body := range []string{
		`[{"name":"example.com"},{"name":"example.net"}]`,
		`{"domains":[{"name":"example.com"},{"name":"example.net"}]}`,
		`["example.com","example.net"]`,
		`{"domains":["example.com","example.net"]}`,
	} {
		c, _ := fakeAPI(t, http.StatusOK, body)
		ds, err := c.Domains(t.Context())
		require.NoError(t, err, body)
		require.Equal(t, []api.Domain{{Name: "example.com"}, {Name: "example.net"}}, ds, body)
	}
	c, _ := fakeAPI(t, http.StatusOK, `{"roles":[{"name":"Sales","permissions":["sales"],"support_contact":false,"default":true}]}`)
	rs, err := c.Roles(t.Context())
	require.NoError(t, err)
	require.Equal(t, []api.Role{{Name: "Sales", Permissions: []string{"sales"}, Default: true}}, rs)
}

func TestImportSendsCSVAndListsProblems(t *testing.T) {
	problems := []api.ImportProblem{
		{Row: 2, Column: "Email", Message: "not an email address"},
		{Row: 4, Column: "Force Change Password", Message: `use TRUE or FALSE, not "maybe"`},
	}
	c, got := fakeAPI(t, http.StatusUnprocessableEntity, mustJSON(t, api.ErrorBody{Error: api.ErrorInfo{
		Code: api.CodeImportInvalid, Message: "2 rows have problems; nothing was imported", Details: problems}}))
	_, err := c.Import(t.Context(), strings.NewReader("Email,Name\nnope,X\n"))
	require.Equal(t, "text/csv", got.contentType)
	require.Equal(t, "Email,Name\nnope,X\n", got.body)
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnprocessableEntity, ae.Status)
	require.Equal(t, api.CodeImportInvalid, ae.Code)
	require.Equal(t, problems, ae.ImportProblems())
	require.Equal(t, "2 rows have problems; nothing was imported\n"+
		"  row 2, column Email: not an email address\n"+
		`  row 4, column Force Change Password: use TRUE or FALSE, not "maybe"`, ae.Error())
}

func TestErrorShapes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   string
		text   string
	}{
		{"plain", 409, `{"error":{"code":"duplicate_address","message":"alice@example.com already exists"}}`,
			api.CodeDuplicateAddress, "alice@example.com already exists"},
		{"field details", 422, `{"error":{"code":"validation_failed","message":"the user is not valid","details":[{"field":"phone","message":"too long"}]}}`,
			api.CodeValidation, "the user is not valid\n  phone: too long"},
		{"object details", 409, `{"error":{"code":"alias_clash","message":"clash","details":{"owner":"bob@example.com"}}}`,
			api.CodeAliasClash, "clash\n  owner: bob@example.com"},
		{"not the API", 502, `<html>Bad Gateway</html>`, "", "HTTP 502 Bad Gateway from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, token, nil)
			require.NoError(t, err)
			_, err = c.User(t.Context(), "alice@example.com")
			var ae *client.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.status, ae.Status)
			require.Equal(t, tt.code, ae.Code)
			require.Contains(t, ae.Error(), tt.text)
		})
	}
}

func TestUnauthorizedNeverEchoesToken(t *testing.T) {
	c, _ := fakeAPI(t, 200, "{}")
	bad, err := client.New(c.BaseURL(), "wrong-"+token, nil)
	require.NoError(t, err)
	_, err = bad.Roles(t.Context())
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeUnauthorized, ae.Code)
	require.NotContains(t, err.Error(), token)
}

func TestUnreachableIsADialError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := client.New("http://"+addr, token, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = c.Domains(ctx)
	var op *net.OpError
	require.True(t, errors.As(err, &op), "%v", err)
	require.Equal(t, "dial", op.Op)
	require.NotContains(t, err.Error(), token)
}

func TestTemplateIsRaw(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/imports/template", r.URL.Path)
		w.Header().Set("Content-Type", "text/csv")
		_, _ = io.WriteString(w, "Email,Name,Password,Force Change Password\n")
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, token, nil)
	require.NoError(t, err)
	raw, err := c.ImportTemplate(t.Context())
	require.NoError(t, err)
	require.Equal(t, "Email,Name,Password,Force Change Password\n", string(raw))
}
