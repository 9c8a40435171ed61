package fakegraph

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// maxBatchRequests is how many requests Graph takes in one $batch.
const maxBatchRequests = 20

// batchRequest is one request of a $batch body, as Graph's JSON has it.
type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// batchResponse is one answer of a $batch response: a JSON body inline, any
// other body as base64.
type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// serveBatch answers POST /v1.0/$batch (JSON batching): up to 20 requests,
// each answered as if sent alone (same routes, same errors) except that a
// request is not an HTTP request of its own: it is not counted by Requests
// (BatchItems counts it) and only InBatch faults apply to it. The batch itself
// answers 200 whatever its requests answer; requests are run in order, and one
// whose dependsOn names a failed request answers 424.
func (s *Server) serveBatch(c *call) {
	if c.r.Method != http.MethodPost {
		c.w.Header().Set("Allow", http.MethodPost)
		c.graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		return
	}
	if mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		c.graphError(http.StatusUnsupportedMediaType, "BadRequest", "A $batch request's Content-Type must be application/json.")
		return
	}
	var in io.Reader = c.r.Body
	// The SDK's compression middleware gzips request bodies; Graph takes them.
	if strings.EqualFold(strings.TrimSpace(c.r.Header.Get("Content-Encoding")), "gzip") {
		zr, err := gzip.NewReader(c.r.Body)
		if err != nil {
			c.badRequest("The $batch body is not gzip: " + err.Error())
			return
		}
		defer func() { _ = zr.Close() }() // a gzip reader's Close only reports what ReadAll already did
		in = zr
	}
	raw, err := io.ReadAll(io.LimitReader(in, 4<<20))
	if err != nil {
		c.badRequest("Could not read the $batch body: " + err.Error())
		return
	}
	var body struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		c.badRequest("Invalid batch payload format: " + err.Error())
		return
	}
	if msg := checkBatch(body.Requests); msg != "" {
		c.badRequest(msg)
		return
	}
	status := map[string]int{}
	out := make([]batchResponse, 0, len(body.Requests))
	for _, br := range body.Requests {
		resp := s.serveBatchItem(c, br, status)
		status[br.ID] = resp.Status
		out = append(out, resp)
	}
	c.writeJSON(http.StatusOK, map[string]any{"responses": out})
}

// checkBatch returns why Graph would refuse a batch as a whole, or "".
func checkBatch(reqs []batchRequest) string {
	switch {
	case len(reqs) == 0:
		return "Invalid batch payload format: the requests collection is empty."
	case len(reqs) > maxBatchRequests:
		return fmt.Sprintf("Invalid batch payload format: %d requests; a batch holds at most %d.", len(reqs), maxBatchRequests)
	}
	seen := map[string]bool{}
	for i, r := range reqs {
		switch {
		case r.ID == "":
			return fmt.Sprintf("Invalid batch payload format: request %d has no id.", i)
		case seen[r.ID]:
			return fmt.Sprintf("Invalid batch payload format: the request id %q is used more than once.", r.ID)
		case r.Method == "" || r.URL == "":
			return fmt.Sprintf("Invalid batch payload format: request %q needs a method and a url.", r.ID)
		}
		for _, d := range r.DependsOn {
			if !seen[d] {
				return fmt.Sprintf("Invalid batch payload format: request %q depends on %q, which does not come before it.", r.ID, d)
			}
		}
		seen[r.ID] = true
	}
	return ""
}

// serveBatchItem answers one request of a batch through the ordinary routes.
func (s *Server) serveBatchItem(outer *call, br batchRequest, status map[string]int) batchResponse {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c := &call{w: &statusWriter{ResponseWriter: rec, status: http.StatusOK}, requestID: uuid.NewString(),
		clientRequestID: outer.clientRequestID}
	rec.header.Set("request-id", c.requestID)
	rec.header.Set("client-request-id", c.clientRequestID)
	r, bad := itemRequest(outer.r, br)
	switch {
	case bad != "":
		c.r = outer.r
		c.badRequest(bad)
	case failedDependency(br.DependsOn, status):
		c.r = r
		c.graphError(http.StatusFailedDependency, "FailedDependency", "A request this one depends on failed.")
	default:
		c.r = r
		s.countBatchItem(r.URL.Path)
		if f := s.takeFault(r.URL.Path, true, true); f != nil {
			s.writeFault(c, *f, true)
		} else {
			s.routeGraph(c)
		}
	}
	if s.opts.Logf != nil {
		s.opts.Logf("fakegraph: $batch item %s %s -> %d", br.Method, c.r.URL.Path, rec.status)
	}
	return rec.response(br.ID)
}

func failedDependency(deps []string, status map[string]int) bool {
	for _, d := range deps {
		if status[d] >= 400 {
			return true
		}
	}
	return false
}

// itemRequest makes the HTTP request a batch request stands for: its url is
// relative to the version (/users/{id} or users/{id}), its headers its own,
// and the batch's Authorization applies to it. A request Graph would refuse
// comes back nil with Graph's message.
func itemRequest(outer *http.Request, br batchRequest) (*http.Request, string) {
	u, err := url.Parse(br.URL)
	if err != nil || u.IsAbs() || u.Host != "" {
		return nil, fmt.Sprintf("Invalid request URL %q: give a URL relative to the version, such as /users/{id}.", br.URL)
	}
	var body io.Reader = http.NoBody
	if len(br.Body) > 0 && string(br.Body) != "null" {
		body = bytes.NewReader(br.Body)
	}
	r, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(br.Method), "/v1.0/"+strings.TrimPrefix(br.URL, "/"), body)
	if err != nil {
		return nil, fmt.Sprintf("Invalid request %q: %v.", br.ID, err)
	}
	r.Host = outer.Host
	for k, v := range br.Headers {
		r.Header.Set(k, v)
	}
	r.Header.Set("Authorization", outer.Header.Get("Authorization"))
	return r, ""
}

// recorder collects one batch request's answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) response(id string) batchResponse {
	out := batchResponse{ID: id, Status: r.status, Headers: map[string]string{}}
	for k, v := range r.header {
		if k != "Content-Length" {
			out.Headers[k] = strings.Join(v, ", ")
		}
	}
	if r.body.Len() == 0 {
		return out
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt == "application/json" && json.Valid(r.body.Bytes()) {
		out.Body = json.RawMessage(r.body.Bytes())
		return out
	}
	b, err := json.Marshal(base64.StdEncoding.EncodeToString(r.body.Bytes()))
	if err != nil {
		panic(err) // a string always encodes
	}
	out.Body = b
	return out
}
