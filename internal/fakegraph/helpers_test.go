package fakegraph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// page is a Graph collection page as a client reads it.
type graphPage struct {
	Context   string           `json:"@odata.context"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
	Value     []map[string]any `json:"value"`
}

// graphErr is Graph's error body.
type graphErr struct {
	Error struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}

func start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// postToken asks the token endpoint with form and returns status and body.
func postToken(t testing.TB, s *Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL()+"/"+s.TenantID()+"/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func secretForm(s *Server, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()},
		"client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}}
}

// token gets an access token with the default secret.
func token(t testing.TB, s *Server) string {
	t.Helper()
	status, body := postToken(t, s, secretForm(s, defaultSecret))
	require.Equal(t, http.StatusOK, status, body)
	tok, _ := body["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// get does an authenticated GET of a Graph URL (absolute, or a path under
// GraphURL) with headers given as name, value pairs.
func get(t testing.TB, s *Server, tok, target string, headers ...string) *http.Response {
	t.Helper()
	if !strings.HasPrefix(target, "https://") {
		target = s.GraphURL() + target
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	return resp
}

// decode reads a response's JSON body into v, requiring the status.
func decode(t testing.TB, resp *http.Response, status int, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, string(b))
	require.NoError(t, json.Unmarshal(b, v), string(b))
}

// getPage GETs a collection page, requiring 200.
func getPage(t testing.TB, s *Server, tok, target string, headers ...string) graphPage {
	t.Helper()
	var p graphPage
	decode(t, get(t, s, tok, target, headers...), http.StatusOK, &p)
	return p
}

// getError GETs, requiring status and a Graph error body.
func getError(t testing.TB, s *Server, tok, target string, status int) graphErr {
	t.Helper()
	resp := get(t, s, tok, target)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e graphErr
	decode(t, resp, status, &e)
	return e
}

// deltaRound follows a delta round from target to its deltaLink, returning
// the pages' entries and the deltaLink.
func deltaRound(t testing.TB, s *Server, tok, target string, headers ...string) ([]map[string]any, int, string) {
	t.Helper()
	var all []map[string]any
	for pages := 1; ; pages++ {
		p := getPage(t, s, tok, target, headers...)
		all = append(all, p.Value...)
		if p.DeltaLink != "" {
			require.Empty(t, p.NextLink, "a page has a nextLink or a deltaLink, not both")
			return all, pages, p.DeltaLink
		}
		require.NotEmpty(t, p.NextLink, "a page without a deltaLink must have a nextLink")
		target = p.NextLink
	}
}

// byID indexes entries by id.
func byID(entries []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, e := range entries {
		m[e["id"].(string)] = e
	}
	return m
}

func ids(entries []map[string]any) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e["id"].(string)
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
