package main

// Output helpers of the admin commands: the API's JSON for --output json,
// aligned tables and "key: value" blocks for people.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
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
		return writeTable(w, header, items, row)
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

// writeTable writes items as aligned columns under header, one row each; an
// empty cell shows as "-".
func writeTable[T any](w io.Writer, header []string, items []T, row func(T) []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// A tab or newline inside a value would break the columns.
	flat := strings.NewReplacer("\t", " ", "\n", " ")
	line := func(cells []string) {
		for i, c := range cells {
			cells[i] = flat.Replace(cmp.Or(c, "-"))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	line(header)
	for _, it := range items {
		line(row(it))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// fields writes "Key:  value" lines with the values aligned; empty values are
// shown as "-".
type fields struct{ tw *tabwriter.Writer }

func newFields(w io.Writer) *fields {
	return &fields{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (f *fields) add(key, value string) {
	fmt.Fprintf(f.tw, "%s:\t%s\n", key, cmp.Or(value, "-"))
}

func (f *fields) flush() error {
	if err := f.tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func enabledText(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// timeText is a time in the local zone to the second; "" for the zero time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func timePtrText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return timeText(*t)
}

// durationText is finished - started, or "running" when not finished.
func durationText(started, finished time.Time) string {
	if finished.IsZero() {
		return "running"
	}
	d := finished.Sub(started)
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// countOrder is the order run counts are shown in (plan.Counts's fields).
var countOrder = []string{"create", "update", "disable", "enable", "delete", "unchanged", "quarantined", "held"}

// countsText lists the non-zero counts, in countOrder then by name.
func countsText(counts map[string]int) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range countOrder {
		seen[k] = true
		if counts[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	var rest []string
	for k, v := range counts {
		if !seen[k] && v != 0 {
			rest = append(rest, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(rest)
	parts = append(parts, rest...)
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}
