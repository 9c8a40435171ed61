package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Body size limits. An import of 500 rows is far below MaxImportBody; a bigger
// body is refused before it is read into memory.
const (
	maxJSONBody = 1 << 20
	// MaxImportBody is the largest CSV import file, in bytes: the caller of
	// Service.Import checks it while reading.
	MaxImportBody = 8 << 20
)

// writeJSON answers with v as JSON. Answers are never cached: some hold a
// token shown once.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client going away is not worth a log line
}

// readBody reads the body up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("the %s is larger than %d bytes", what, limit)}
	}
	if err != nil {
		// The cause is a network error naming the daemon's own address.
		return nil, &apiError{Status: http.StatusBadRequest, Code: CodeBadRequest, Err: err,
			Message: fmt.Sprintf("the %s did not arrive whole: the client stopped sending it, or took longer than server.timeouts.read", what)}
	}
	return body, nil
}

// mediaType is the request's Content-Type without parameters ("" when absent).
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("Content-Type %q does not parse: %v", ct, err)}
	}
	return mt, nil
}

// decode reads a JSON body into v strictly: unknown fields, a second value and
// a type mismatch are 400 naming the problem. With optional an empty body
// leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := readBody(w, r, maxJSONBody, "JSON body")
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("the request needs a JSON body (Content-Type: application/json)")
	}
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if mt != "application/json" {
		if mt == "" {
			mt = "none"
		}
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("the body must be JSON sent with Content-Type: application/json, not %s", mt)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("malformed JSON: the body holds more than one JSON value")
	}
	return nil
}

// jsonError explains a decoding failure.
func jsonError(err error, v any) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("malformed JSON: the body must be a JSON %s, not %s", jsonKind(te.Type), te.Value)
		}
		return badRequest("field %q must be a JSON %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends in the middle of a value")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return badRequest("unknown field %s: this request's fields are %s", name, strings.Join(fieldNames(v), ", "))
	}
	return badRequest("malformed JSON: %v", err)
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// fieldNames lists the JSON names of the struct v points to.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// query checks that r has only the allowed query parameters, each at most
// once, so a typo ("sortby") is an error rather than silently ignored.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := parseQuery(r)
	if err != nil {
		return nil, err
	}
	if err := checkQuery(q, allowed...); err != nil {
		return nil, err
	}
	return q, nil
}

// parseQuery is r's query string (400 when it does not parse).
func parseQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string does not parse: %v", err)
	}
	return q, nil
}

// checkQuery is query for parsed parameters.
func checkQuery(q url.Values, allowed ...string) error {
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return badRequest("unknown query parameter %q: this request takes none", k)
			}
			return badRequest("unknown query parameter %q: use %s", k, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return badRequest("query parameter %q is given %d times: give it once", k, len(vs))
		}
	}
	return nil
}

// intParam reads an integer query parameter within [lo, hi] (def when absent).
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s=%q: use a whole number from %d to %d (default %d)", name, s, lo, hi, def)
	}
	return n, nil
}

// boolParam reads true/false (def when absent).
func boolParam(q url.Values, name string, def bool) (bool, error) {
	switch s := q.Get(name); s {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	default:
		return false, badRequest("%s=%q: use true or false", name, s)
	}
}
