package client

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
)

// Error is an error answer of the API: the HTTP status and the body's code,
// message and details (api.ErrorBody). Code is one of the api.Code* constants
// ("" when the answer did not come from the API).
type Error struct {
	Status  int
	Code    string
	Message string
	// Details is the error's details as sent, or nil; see ImportProblems and
	// DetailLines for the shapes the API uses.
	Details json.RawMessage
}

// Error is the message, then each detail on its own line (for import_invalid
// every "row N, column C: problem"), so a human reads it as is.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.summary())
	for _, line := range e.DetailLines() {
		b.WriteString("\n  ")
		b.WriteString(line)
	}
	return b.String()
}

func (e *Error) summary() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Code)
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Summary is the message alone, without the details (never empty).
func (e *Error) Summary() string { return e.summary() }

// ImportProblems decodes the details of an import_invalid error: every row
// problem, in the order the API sent them. Nil for any other error.
func (e *Error) ImportProblems() []api.ImportProblem {
	if e.Code != api.CodeImportInvalid || len(e.Details) == 0 {
		return nil
	}
	var ps []api.ImportProblem
	if err := json.Unmarshal(e.Details, &ps); err != nil {
		// Tolerate {"problems": [...]} too.
		var wrapped struct {
			Problems []api.ImportProblem `json:"problems"`
		}
		if json.Unmarshal(e.Details, &wrapped) != nil {
			return nil
		}
		ps = wrapped.Problems
	}
	return ps
}

// FormatProblem is one import problem as the CLI prints it.
func FormatProblem(p api.ImportProblem) string {
	switch {
	case p.Row > 0 && p.Column != "":
		return fmt.Sprintf("row %d, column %s: %s", p.Row, p.Column, p.Message)
	case p.Row > 0:
		return fmt.Sprintf("row %d: %s", p.Row, p.Message)
	case p.Column != "":
		return fmt.Sprintf("column %s: %s", p.Column, p.Message)
	default:
		return p.Message
	}
}

// DetailLines renders the details for a human, one line each: import problems
// as "row N, column C: message", field problems ({"field", "message"}) as
// "field: message", a list of strings one per line, an object's scalar members
// as "key: value". Details of another shape give no lines (Details keeps them).
func (e *Error) DetailLines() []string {
	if len(e.Details) == 0 {
		return nil
	}
	if ps := e.ImportProblems(); ps != nil {
		lines := make([]string, len(ps))
		for i, p := range ps {
			lines[i] = FormatProblem(p)
		}
		return lines
	}
	var items []json.RawMessage
	if json.Unmarshal(e.Details, &items) == nil {
		var lines []string
		for _, it := range items {
			if l := detailLine(it); l != "" {
				lines = append(lines, l)
			}
		}
		return lines
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(e.Details, &obj) == nil {
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if v, ok := scalar(obj[k]); ok {
				lines = append(lines, k+": "+v)
			}
		}
		return lines
	}
	return nil
}

// detailLine renders one element of a details list.
func detailLine(raw json.RawMessage) string {
	if s, ok := scalar(raw); ok {
		return s
	}
	var p struct {
		Row     int    `json:"row"`
		Column  string `json:"column"`
		Field   string `json:"field"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Message == "" {
		return ""
	}
	if p.Field != "" && p.Row == 0 && p.Column == "" {
		return p.Field + ": " + p.Message
	}
	return FormatProblem(api.ImportProblem{Row: p.Row, Column: p.Column, Message: p.Message})
}

// scalar renders a JSON string, number or boolean.
func scalar(raw json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64, bool:
		return fmt.Sprint(v), true
	}
	return "", false
}
