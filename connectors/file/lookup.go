package file

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

var _ connectors.Looker = (*source)(nil)

// Lookup implements connectors.Looker: it reads the whole file and finds the one
// entry (LDIF) or row (CSV) whose address, alias or anchor is key, any case. The
// file connector has no filter: every entry Read can map is in scope, so the only
// rule an LDIF entry can fail is the mapping's object classes, and every non-blank
// CSV row is in scope. A file Read would fail on (a syntax error, a change record,
// a row that is not UTF-8) fails Lookup the same way.
func (s *source) Lookup(ctx context.Context, key string) (connectors.Found, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return connectors.Found{}, errors.New("file lookup: empty key: give an address or an anchor")
	}
	f, err := os.Open(s.cfg.Path)
	if err != nil {
		return connectors.Found{}, fmt.Errorf("open source file: %w", err)
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	if s.cfg.Format == "csv" {
		return lookupCSV(ctx, f, s.cfg.Path, key)
	}
	return s.lookupLDIF(ctx, f, key)
}

func (s *source) lookupLDIF(ctx context.Context, f *os.File, key string) (connectors.Found, error) {
	path, m := s.cfg.Path, s.cfg.effective
	var hits []ldifEntry
	for e, err := range ldifEntries(f, path) {
		if err != nil {
			return connectors.Found{}, err
		}
		if err := ctx.Err(); err != nil {
			return connectors.Found{}, err
		}
		if ldifMatches(m, dirmap.FromLDAP(e.entry), key) {
			hits = append(hits, e)
		}
	}
	searched := fmt.Sprintf("file %s, every entry's %s", path, strings.Join(keyAttributes(m), ", "))
	if len(hits) == 0 {
		return connectors.Found{}, fmt.Errorf("%w: %q: searched %s", connectors.ErrNotInSource, key, searched)
	}
	if len(hits) > 1 {
		var where []string
		for _, h := range hits {
			where = append(where, fmt.Sprintf("%s (line %d)", h.entry.DN, h.line))
		}
		return connectors.Found{}, fmt.Errorf("file lookup %q: %d entries of %s match: %s; look one up by its anchor",
			key, len(hits), path, strings.Join(where, "; "))
	}
	e := hits[0].entry
	rec, skip, merr := m.Record(e.DN, dirmap.FromLDAP(e))
	if merr != nil {
		rec.Invalid = &connectors.FieldError{Field: "attributes", Message: merr.Error()}
	}
	check := connectors.ScopeCheck{
		Rule: fmt.Sprintf("object classes: user_classes %q, group_classes %q, exclude_classes %q (the file connector has no filter)",
			m.UserClasses, m.GroupClasses, m.ExcludeClasses),
		Admitted: skip == "",
	}
	classes := dirmap.FromLDAP(e).Values("objectClass")
	if skip == "" {
		check.Detail = fmt.Sprintf("a %s (objectClass %q)", rec.Kind, classes)
		if rec.Invalid != nil {
			check.Detail += "; Read emits it, and the engine quarantines it: " + rec.Invalid.Message
		}
	} else {
		check.Detail = fmt.Sprintf("%s (objectClass %q): Read skips it", skip, classes)
	}
	return connectors.Found{
		Query:   fmt.Sprintf("file %s, line %d", path, hits[0].line),
		Raw:     ldifRaw(m, e),
		Record:  rec,
		Scope:   []connectors.ScopeCheck{check},
		InScope: skip == "",
	}, nil
}

// keyAttributes names what an LDIF lookup compares key with.
func keyAttributes(m dirmap.Mapping) []string {
	var out []string
	for _, a := range append([]string{m.Mail}, m.Aliases...) {
		if a != "" {
			out = append(out, a)
		}
	}
	if m.ProxyAddresses != "" {
		out = append(out, m.ProxyAddresses+" (smtp:)")
	}
	return append(out, m.Anchor)
}

// ldifMatches compares key with the entry's mail, alias and smtp: proxy address
// values and its anchor (rendered as Read renders it), case-insensitively. It
// reads the attributes, not the mapped record, so entries Read skips are found too.
func ldifMatches(m dirmap.Mapping, e dirmap.Attrs, key string) bool {
	eq := func(vals []string) bool {
		return slices.ContainsFunc(vals, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), key) })
	}
	if m.Mail != "" && eq(e.Values(m.Mail)) {
		return true
	}
	for _, a := range m.Aliases {
		if eq(e.Values(a)) {
			return true
		}
	}
	if m.ProxyAddresses != "" {
		for _, v := range e.Values(m.ProxyAddresses) {
			if typ, addr, ok := strings.Cut(v, ":"); ok && strings.EqualFold(typ, "smtp") && strings.EqualFold(addr, key) {
				return true
			}
		}
	}
	anchors := e.Values(m.Anchor)
	if m.AnchorFormat == "guid" && len(anchors) > 0 {
		g, err := dirmap.FormatGUID([]byte(anchors[0]))
		return err == nil && strings.EqualFold(strings.Trim(key, "{}"), g)
	}
	return eq(anchors)
}

// ldifRaw is the entry's attributes as the file holds them, secrets redacted and
// binary values (base64 in the file) shown as a GUID or base64 again.
func ldifRaw(m dirmap.Mapping, e *goldap.Entry) map[string][]string {
	raw := map[string][]string{"dn": {e.DN}}
	for _, at := range e.Attributes {
		for _, v := range at.Values {
			switch {
			case isSecret(at.Name):
				v = connectors.Redacted
			case strings.EqualFold(at.Name, "objectGUID") || (m.AnchorFormat == "guid" && strings.EqualFold(at.Name, m.Anchor)):
				if g, err := dirmap.FormatGUID([]byte(v)); err == nil {
					v = g
				} else {
					v = "base64:" + base64.StdEncoding.EncodeToString([]byte(v))
				}
			case !printable(v):
				v = "base64:" + base64.StdEncoding.EncodeToString([]byte(v))
			}
			raw[at.Name] = append(raw[at.Name], v)
		}
	}
	return raw
}

// isSecret: attribute or column names that hold credentials. The CSV template's
// "Force Change Password" is a TRUE/FALSE flag, not a secret.
func isSecret(name string) bool {
	l := strings.ToLower(strings.TrimSpace(name))
	if l == colForceChange {
		return false
	}
	return connectors.IsSecretAttribute(l)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// lookupCSV finds the row whose Email, Aliases or Anchor cell is key. Rows are
// numbered as Read numbers them (the header is row 1).
func lookupCSV(ctx context.Context, r io.Reader, path, key string) (connectors.Found, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	h, _, head, err := readHeader(cr, path)
	if err != nil {
		return connectors.Found{}, err
	}
	type hit struct {
		row    int
		fields []string
	}
	var hits []hit
	for row := 2; ; row++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return connectors.Found{}, fmt.Errorf("csv %s: %w", path, err)
		}
		if err := ctx.Err(); err != nil {
			return connectors.Found{}, err
		}
		for _, f := range fields {
			if !utf8.ValidString(f) {
				return connectors.Found{}, fmt.Errorf("csv %s: row %d is not UTF-8 (a character such as £ saved as Windows-1252?): save the file as UTF-8 and run again", path, row)
			}
		}
		if isBlank(fields) {
			continue
		}
		if csvMatches(h, fields, key) {
			hits = append(hits, hit{row: row, fields: fields})
		}
	}
	switch len(hits) {
	case 0:
		return connectors.Found{}, fmt.Errorf("%w: %q: searched file %s, every row's Email, Aliases and Anchor cells", connectors.ErrNotInSource, key, path)
	case 1:
	default:
		var where []string
		for _, x := range hits {
			where = append(where, fmt.Sprintf("row %d (%s)", x.row, h.get(x.fields, colEmail)))
		}
		return connectors.Found{}, fmt.Errorf("file lookup %q: %d rows of %s match: %s", key, len(hits), path, strings.Join(where, "; "))
	}
	x := hits[0]
	raw := map[string][]string{}
	for i, v := range x.fields {
		name := fmt.Sprintf("column %d", i+1)
		if i < len(head) {
			name = strings.TrimPrefix(head[i], "\uFEFF")
		}
		if isSecret(name) && strings.TrimSpace(v) != "" {
			v = connectors.Redacted
		}
		raw[name] = []string{v}
	}
	rec := csvRecord(h, x.fields, x.row)
	check := connectors.ScopeCheck{
		Rule:     "every non-blank row of the file (the file connector has no filter)",
		Admitted: true,
		Detail:   fmt.Sprintf("row %d is not blank", x.row),
	}
	if rec.Invalid != nil {
		check.Detail += "; Read emits it, and the engine quarantines it: " + rec.Invalid.Message
	}
	return connectors.Found{
		Query:   fmt.Sprintf("file %s, row %d", path, x.row),
		Raw:     raw,
		Record:  rec,
		Scope:   []connectors.ScopeCheck{check},
		InScope: true,
	}, nil
}

func csvMatches(h csvHeader, row []string, key string) bool {
	if strings.EqualFold(h.get(row, colEmail), key) || strings.EqualFold(h.get(row, colAnchor), key) {
		return true
	}
	return slices.ContainsFunc(splitList(h.get(row, colAliases)), func(a string) bool { return strings.EqualFold(a, key) })
}
