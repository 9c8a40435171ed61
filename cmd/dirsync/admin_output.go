package main

// Output helpers of the admin commands: the API's JSON for --output json;
// tables and "key: value" blocks for people are internal/clitext's.

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/dirsync/dirsync/internal/clitext"
)

// printJSON writes v as indented JSON (the API's wire types, so the same
// fields the API sent).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// answer ends an admin command with the API's answer v: the error as the
// user reads it (see fail), v itself with --output json, or text(v) for people.
func answer[T any](a *admin, v T, err error, text func(io.Writer, T) error) error {
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return printJSON(a.stdout, v)
	}
	return text(a.stdout, v)
}

// list is answer for a listing: the API's list object (wire) with --output
// json, else a table of its items under header, one row each.
func list[T any](a *admin, wire any, err error, header []string, items []T, row func(T) []string) error {
	return answer(a, wire, err, func(w io.Writer, _ any) error {
		return clitext.Table(w, header, items, row)
	})
}

// orEmpty is s, or an empty slice for nil, so that the JSON of a list with no
// items shows [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
