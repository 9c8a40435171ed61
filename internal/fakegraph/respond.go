package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Graph's content type for OData responses.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// call is one request being answered.
type call struct {
	w               *statusWriter
	r               *http.Request
	requestID       string
	clientRequestID string
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (c *call) write(status int, contentType string, body []byte) {
	c.w.Header().Set("Content-Type", contentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body) // the client went away: nothing to do
}

func (c *call) ok(body []byte) { c.write(http.StatusOK, odataJSON, body) }

func (c *call) writeJSON(status int, v any) {
	c.writeJSONStatus(status, "application/json; charset=utf-8", v)
}

// writeJSONAs answers 200 with v encoded, as contentType.
func (c *call) writeJSONAs(contentType string, v any) {
	c.writeJSONStatus(http.StatusOK, contentType, v)
}

func (c *call) writeJSONStatus(status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		c.graphError(http.StatusInternalServerError, "InternalServerError", "fakegraph: "+err.Error())
		return
	}
	c.write(status, contentType, body)
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

type graphErrorBody struct {
	Error struct {
		Code       string     `json:"code"`
		Message    string     `json:"message"`
		InnerError innerError `json:"innerError"`
	} `json:"error"`
}

// graphError answers Graph's error format.
func (c *call) graphError(status int, code, message string) {
	var e graphErrorBody
	e.Error.Code, e.Error.Message = code, message
	e.Error.InnerError = innerError{Date: time.Now().UTC().Format("2006-01-02T15:04:05"),
		RequestID: c.requestID, ClientRequestID: c.clientRequestID}
	body, err := json.Marshal(e)
	if err != nil {
		panic(err) // strings only
	}
	c.write(status, "application/json", body)
}

func (c *call) badRequest(message string) { c.graphError(http.StatusBadRequest, "BadRequest", message) }

func (c *call) notFound(id string) {
	c.graphError(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

// oauthError answers the Microsoft identity platform's error format.
func (c *call) oauthError(status int, errCode string, aadsts int, description string) {
	now := time.Now().UTC()
	body := map[string]any{
		"error": errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			aadsts, description, c.requestID, c.clientRequestID, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       c.requestID,
		"correlation_id": c.clientRequestID,
		"error_uri":      fmt.Sprintf("%s/error?code=%d", c.baseURL(), aadsts),
	}
	c.w.Header().Set("Cache-Control", "no-store, no-cache")
	c.writeJSON(status, body)
}

func (c *call) baseURL() string { return "https://" + c.r.Host }

// queryValue reads a system query option by name, with or without its $ and
// in any case ($skiptoken, $skipToken, skiptoken).
func queryValue(q url.Values, name string) string {
	for k, v := range q {
		if len(v) > 0 && strings.EqualFold(strings.TrimPrefix(k, "$"), name) {
			return v[0]
		}
	}
	return ""
}

// preferPageSize reads Prefer: odata.maxpagesize=N, clamped to 1..999.
func preferPageSize(h http.Header) (int, bool) {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 1 {
				continue
			}
			return min(n, maxPageSize), true
		}
	}
	return 0, false
}

// encodeToken and decodeToken make the opaque paging tokens: base64url JSON.
func encodeToken(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return fmt.Errorf("token is not base64url: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("token is not ours: %w", err)
	}
	return nil
}

// appendString appends s as a JSON string: directly when nothing in it needs
// escaping (ids, most names), else through encoding/json.
func appendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always encodes
	}
	return append(b, enc...)
}

// appendProp appends ,"name":value with value already JSON.
func appendProp(b []byte, name string, value []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, value...)
}

// pageBody assembles a collection page: context, links, then value.
func pageBody(context string, links [][2]string, value []byte) []byte {
	b := make([]byte, 0, len(value)+512)
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, context)
	for _, l := range links {
		b = append(b, ',')
		b = appendString(b, l[0])
		b = append(b, ':')
		b = appendString(b, l[1])
	}
	b = append(b, `,"value":[`...)
	b = append(b, value...)
	return append(b, ']', '}')
}
