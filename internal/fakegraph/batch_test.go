package fakegraph

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// batchReply is a $batch response as a client reads it.
type batchReply struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// postBatch POSTs body to $batch with the token and returns status and body.
func postBatch(t *testing.T, s *Server, tok, contentType string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.GraphURL()+"/$batch", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func batchOf(reqs ...map[string]any) map[string]any { return map[string]any{"requests": reqs} }

func getItem(id, url string) map[string]any {
	return map[string]any{"id": id, "method": "GET", "url": url, "headers": map[string]string{"Accept": "application/json"}}
}

// statuses POSTs a batch that must be answered 200 and returns its
// requests' statuses in the order of the answer.
func statuses(t *testing.T, s *Server, tok string, body any) []int {
	t.Helper()
	status, raw := postBatch(t, s, tok, "application/json", body)
	require.Equal(t, http.StatusOK, status, string(raw))
	var r batchReply
	require.NoError(t, json.Unmarshal(raw, &r))
	var out []int
	for _, resp := range r.Responses {
		out = append(out, resp.Status)
	}
	return out
}

func TestBatchAnswersEachRequestAsAlone(t *testing.T) {
	s := start(t, Options{})
	s.PutUser(userN(1))
	tok := token(t, s)
	missing := userN(2).ID
	var single map[string]any
	decode(t, get(t, s, tok, "/users/"+userN(1).ID+"?$select=id,mail,department"), http.StatusOK, &single)
	s.ResetRequestCounts()

	status, raw := postBatch(t, s, tok, "application/json", batchOf(
		getItem("a", "/users/"+userN(1).ID+"?$select=id,mail,department"),
		getItem("b", "users/"+missing), // Graph takes the url with or without its leading slash
		getItem("c", "/applications"),
	))
	require.Equal(t, http.StatusOK, status, string(raw))
	var r batchReply
	require.NoError(t, json.Unmarshal(raw, &r))
	require.Len(t, r.Responses, 3)
	got := map[string]int{}
	for i, resp := range r.Responses {
		got[resp.ID] = i
	}

	a := r.Responses[got["a"]]
	require.Equal(t, http.StatusOK, a.Status)
	require.Contains(t, a.Headers["Content-Type"], "application/json")
	var body map[string]any
	require.NoError(t, json.Unmarshal(a.Body, &body), "a JSON answer is inline, not base64")
	require.Equal(t, single, body)

	b := r.Responses[got["b"]]
	require.Equal(t, http.StatusNotFound, b.Status)
	var e graphErr
	require.NoError(t, json.Unmarshal(b.Body, &e))
	require.Equal(t, "Request_ResourceNotFound", e.Error.Code)
	require.Contains(t, e.Error.Message, missing)
	require.Equal(t, http.StatusNotFound, r.Responses[got["c"]].Status)

	require.Equal(t, 1, s.Requests("/v1.0/"), "one HTTP request")
	require.Equal(t, 1, s.Requests("/v1.0/$batch"))
	require.Equal(t, 2, s.BatchItems("/v1.0/users/"))
	require.Equal(t, 3, s.BatchItems("/v1.0/"))
}

func TestBatchRefusals(t *testing.T) {
	s := start(t, Options{})
	tok := token(t, s)
	var many []map[string]any
	for i := range 21 {
		many = append(many, getItem(fmt.Sprint(i), "/users"))
	}
	for name, body := range map[string]any{
		"21 requests":   batchOf(many...),
		"none":          batchOf(),
		"duplicate id":  batchOf(getItem("1", "/users"), getItem("1", "/groups")),
		"absolute url":  batchOf(getItem("1", s.GraphURL()+"/users")),
		"unknown dep":   batchOf(map[string]any{"id": "1", "method": "GET", "url": "/users", "dependsOn": []string{"2"}}),
		"not an object": []int{1},
	} {
		t.Run(name, func(t *testing.T) {
			status, raw := postBatch(t, s, tok, "application/json", body)
			if name == "absolute url" {
				// Refused as that request, not as the batch.
				require.Equal(t, http.StatusOK, status, string(raw))
				var r batchReply
				require.NoError(t, json.Unmarshal(raw, &r))
				require.Equal(t, http.StatusBadRequest, r.Responses[0].Status)
				return
			}
			require.Equal(t, http.StatusBadRequest, status, string(raw))
			var e graphErr
			require.NoError(t, json.Unmarshal(raw, &e))
			require.Equal(t, "BadRequest", e.Error.Code)
		})
	}
	// A gzip body (what the SDK's compression middleware sends) is read.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	require.NoError(t, json.NewEncoder(zw).Encode(batchOf(getItem("1", "/users"))))
	require.NoError(t, zw.Close())
	req, err := http.NewRequest(http.MethodPost, s.GraphURL()+"/$batch", &zb)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	var r batchReply
	decode(t, resp, http.StatusOK, &r)
	require.Equal(t, http.StatusOK, r.Responses[0].Status)

	status, _ := postBatch(t, s, tok, "text/plain", batchOf(getItem("1", "/users")))
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	status, _ = postBatch(t, s, "", "application/json", batchOf(getItem("1", "/users")))
	require.Equal(t, http.StatusUnauthorized, status)
	resp = get(t, s, tok, "/$batch")
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	// A batch inside a batch is not a route.
	require.Equal(t, []int{http.StatusNotFound}, statuses(t, s, tok, batchOf(getItem("1", "/$batch"))))
}

func TestBatchDependsOn(t *testing.T) {
	s := start(t, Options{})
	s.PutUser(userN(1))
	tok := token(t, s)
	require.Equal(t, []int{404, 424, 200}, statuses(t, s, tok, batchOf(
		getItem("1", "/users/"+userN(2).ID),
		map[string]any{"id": "2", "method": "GET", "url": "/users/" + userN(1).ID, "dependsOn": []string{"1"}},
		map[string]any{"id": "3", "method": "GET", "url": "/users/" + userN(1).ID, "dependsOn": []string{}},
	)))
}

// InBatch faults fail chosen requests of a batch, not the batch; ordinary
// faults fail HTTP requests (the batch itself), not the requests in it.
func TestBatchFaults(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 3; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	s.InjectFault(Fault{Path: "/v1.0/users/" + userN(2).ID, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond,
		InBatch: true, Count: 2})
	body := batchOf(getItem("1", "/users/"+userN(1).ID), getItem("2", "/users/"+userN(2).ID), getItem("3", "/users/"+userN(3).ID))

	// Alone, the request is not throttled: the fault is for batches.
	getPage(t, s, tok, "/users/"+userN(2).ID)
	for range 2 {
		status, raw := postBatch(t, s, tok, "application/json", body)
		require.Equal(t, http.StatusOK, status, string(raw))
		var r batchReply
		require.NoError(t, json.Unmarshal(raw, &r))
		require.Equal(t, []int{200, 429, 200}, []int{r.Responses[0].Status, r.Responses[1].Status, r.Responses[2].Status})
		require.Equal(t, "2", r.Responses[1].Headers["Retry-After"], "whole seconds, rounded up")
		var e graphErr
		require.NoError(t, json.Unmarshal(r.Responses[1].Body, &e))
		require.Equal(t, "TooManyRequests", e.Error.Code)
	}
	require.Equal(t, []int{200, 200, 200}, statuses(t, s, tok, body), "Count used up")

	// An ordinary fault on a user path does not reach batched requests;
	// one on $batch fails the whole batch.
	s.InjectFault(Fault{Path: "/v1.0/users/", Status: http.StatusServiceUnavailable, Count: -1})
	require.Equal(t, []int{200, 200, 200}, statuses(t, s, tok, body))
	s.ClearFaults()
	s.InjectFault(Fault{Path: "/v1.0/$batch", Status: http.StatusServiceUnavailable})
	status, _ := postBatch(t, s, tok, "application/json", body)
	require.Equal(t, http.StatusServiceUnavailable, status)
}
