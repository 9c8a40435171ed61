package file

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
)

// Column names, matched case-insensitively. The first four are the import template
// of SPEC §8; the others are optional extras.
const (
	colEmail       = "email"
	colName        = "name"
	colPassword    = "password"
	colForceChange = "force change password"
	colGivenName   = "given name"
	colSurname     = "surname"
	colPhone       = "phone"
	colDepartment  = "department"
	colTitle       = "title"
	colAliases     = "aliases"
	colDisabled    = "disabled"
	colType        = "type"
	colMembers     = "members"
	colAnchor      = "anchor"
)

// columnField maps the columns that feed a store field.
var columnField = map[string]string{
	colName:       "display_name",
	colGivenName:  "given_name",
	colSurname:    "surname",
	colPhone:      "phone",
	colDepartment: "department",
	colTitle:      "title",
	colAliases:    "aliases",
	colDisabled:   "enabled",
	colMembers:    "members",
}

var knownColumns = []string{colEmail, colName, colPassword, colForceChange, colGivenName, colSurname,
	colPhone, colDepartment, colTitle, colAliases, colDisabled, colType, colMembers, colAnchor}

type csvHeader map[string]int

func (h csvHeader) get(row []string, col string) string {
	i, ok := h[col]
	if !ok || i >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[i])
}

// readHeader reads and checks the header row; it returns the column indexes by
// lower-cased name, the unknown columns, and the header as written.
func readHeader(cr *csv.Reader, path string) (csvHeader, []string, []string, error) {
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil, fmt.Errorf("csv %s: the file is empty; it needs a header row with at least an Email column", path)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("csv %s: header: %w", path, err)
	}
	h := csvHeader{}
	var unknown []string
	for i, name := range head {
		key := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\uFEFF")))
		if !utf8.ValidString(name) {
			return nil, nil, nil, fmt.Errorf("csv %s: row 1 is not UTF-8: save the file as UTF-8 (CSV UTF-8 in Excel)", path)
		}
		if _, dup := h[key]; dup {
			return nil, nil, nil, fmt.Errorf("csv %s: column %q appears twice in the header", path, name)
		}
		h[key] = i
		if !contains(knownColumns, key) {
			unknown = append(unknown, name)
		}
	}
	if _, ok := h[colEmail]; !ok {
		return nil, nil, nil, fmt.Errorf("csv %s: the header has no Email column (the template's columns are Email, Name, Password, Force Change Password)", path)
	}
	return h, unknown, slices.Clone(head), nil
}

// readCSV streams rows. A row that is not UTF-8 or a malformed CSV line fails the read
// (the file is damaged or in the wrong encoding: importing mojibake would be worse);
// a row with a bad value is emitted for the engine to quarantine.
func readCSV(ctx context.Context, r io.Reader, path string, log *zap.Logger, emit connectors.Emit) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	h, unknown, _, err := readHeader(cr, path)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		log.Warn("csv columns ignored", zap.Strings("columns", unknown), zap.Strings("known", knownColumns))
	}
	passwordsSeen := false
	for row := 2; ; row++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("csv %s: %w", path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, f := range fields {
			if !utf8.ValidString(f) {
				return fmt.Errorf("csv %s: row %d is not UTF-8 (a character such as £ saved as Windows-1252?): save the file as UTF-8 and run again", path, row)
			}
		}
		if isBlank(fields) {
			continue
		}
		if h.get(fields, colPassword) != "" {
			passwordsSeen = true
		}
		rec := csvRecord(h, fields, row)
		if err := emit(rec); err != nil {
			return err
		}
	}
	if passwordsSeen {
		// Cloud passwords are owned locally: a sync must not reset them every run.
		log.Warn("csv Password column ignored by the file connector; use `dirsync import` to set initial passwords")
	}
	return nil
}

func csvRecord(h csvHeader, row []string, n int) connectors.Record {
	email := h.get(row, colEmail)
	ref := strings.ToLower(email)
	rec := connectors.Record{
		Kind:        connectors.KindUser,
		Ref:         ref,
		Anchor:      h.get(row, colAnchor),
		Mail:        email,
		DisplayName: h.get(row, colName),
		GivenName:   h.get(row, colGivenName),
		Surname:     h.get(row, colSurname),
		Phone:       h.get(row, colPhone),
		Department:  h.get(row, colDepartment),
		Title:       h.get(row, colTitle),
		Aliases:     splitList(h.get(row, colAliases)),
	}
	if rec.Anchor == "" {
		// A CSV has no immutable id: the address is the best anchor it has.
		rec.Anchor = ref
	}
	if rec.Ref == "" {
		rec.Ref = fmt.Sprintf("row %d", n)
		rec.Anchor = rec.Ref
		rec.Invalid = &connectors.FieldError{Field: "Email", Message: fmt.Sprintf("row %d: the Email cell is empty", n)}
	}
	switch t := strings.ToLower(h.get(row, colType)); t {
	case "", "user":
	case "group":
		rec.Kind = connectors.KindGroup
		for _, m := range splitList(h.get(row, colMembers)) {
			rec.Members = append(rec.Members, strings.ToLower(m))
		}
	default:
		rec.Invalid = &connectors.FieldError{Field: "Type", Message: fmt.Sprintf("row %d: %q is not a type: use user or group", n, t)}
	}
	switch d := strings.ToUpper(h.get(row, colDisabled)); d {
	case "", "FALSE", "NO", "0":
	case "TRUE", "YES", "1":
		rec.Disabled = true
	default:
		rec.Invalid = &connectors.FieldError{Field: "Disabled", Message: fmt.Sprintf("row %d: %q is not TRUE or FALSE", n, d)}
	}
	return rec
}

// csvFields reads only the header to learn which fields the file provides. It never
// returns nil, which would mean "every field": a file with only an Email column, or
// one that cannot be read (the read then fails anyway), owns no field.
func csvFields(path string) []string {
	out := []string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	head, err := csv.NewReader(f).Read()
	if err != nil {
		return out
	}
	for _, name := range head {
		key := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\uFEFF")))
		if field, ok := columnField[key]; ok {
			out = append(out, field)
		}
	}
	return out
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '|' })
}

func isBlank(row []string) bool {
	return len(bytes.TrimSpace([]byte(strings.Join(row, "")))) == 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
