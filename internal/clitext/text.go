// Package clitext renders values for the dirsync command's terminal output:
// aligned tables and "key: value" blocks, times, durations and counts, and
// run reports with their progress line. It only formats; the command decides
// what to print and where.
package clitext

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Table writes items as aligned columns under header, one row each; an
// empty cell shows as "-".
func Table[T any](w io.Writer, header []string, items []T, row func(T) []string) error {
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

// Fields writes "Key:  value" lines with the values aligned; empty values are
// shown as "-".
type Fields struct{ tw *tabwriter.Writer }

// NewFields returns Fields writing to w once flushed.
func NewFields(w io.Writer) *Fields {
	return &Fields{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Add adds the line "key: value".
func (f *Fields) Add(key, value string) {
	fmt.Fprintf(f.tw, "%s:\t%s\n", key, cmp.Or(value, "-"))
}

// Flush writes the lines.
func (f *Fields) Flush() error {
	if err := f.tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// YesNo is "yes" or "no".
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Enabled is "enabled" or "disabled".
func Enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// Time is a time in the local zone to the second; "" for the zero time.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// TimePtr is Time of *t; "" for nil.
func TimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return Time(*t)
}

// Duration is finished - started, or "running" when not finished.
func Duration(started, finished time.Time) string {
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

// Counts lists the non-zero counts, in countOrder then by name.
func Counts(counts map[string]int) string {
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
