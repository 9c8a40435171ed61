// Package plan is the pure heart of a sync run: it normalises source records,
// compares them with the cached state and the store's current objects, and plans
// the changes. Nothing here does I/O, so every decision is covered by golden files.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// Record is a source record after normalisation: addresses canonical and validated,
// lists sorted and de-duplicated, group members resolved to addresses.
type Record struct {
	Kind        string   `json:"kind"`
	Ref         string   `json:"ref"`
	Anchor      string   `json:"anchor"`
	Address     string   `json:"address"`
	Aliases     []string `json:"aliases,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	GivenName   string   `json:"given_name,omitempty"`
	Surname     string   `json:"surname,omitempty"`
	Phone       string   `json:"phone,omitempty"`
	Department  string   `json:"department,omitempty"`
	Title       string   `json:"title,omitempty"`
	Enabled     bool     `json:"enabled"`
	Members     []string `json:"members,omitempty"`
	// Licensed and DirectoryAdmin are the Microsoft 365 facts of a user
	// (connectors.Record.Licensed and Admin); only a connector that owns
	// them (Entra) writes them.
	Licensed       bool `json:"licensed,omitempty"`
	DirectoryAdmin bool `json:"directory_admin,omitempty"`
	// JoinAnchor is another connector's anchor for the same object (hybrid AD +
	// Entra): the record joins that object rather than creating its own.
	JoinAnchor string `json:"join_anchor,omitempty"`
	// MemberRefs are the group's members as the source names them; the engine
	// resolves them into Members once every user of the run is known.
	MemberRefs  []string `json:"-"`
	Deleted     bool     `json:"deleted,omitempty"`
	Fingerprint string   `json:"-"`
	// disableOnly marks a known object whose record is quarantined but says
	// it is disabled: only that is planned (see Builder.Add).
	disableOnly bool
}

// Quarantine explains why a record (or one of its values) was not synchronised.
type Quarantine struct {
	Record string `json:"record"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
}

// Domains answers whether a domain is internal.
type Domains func(domain string) bool

// Normalize validates and canonicalises one source record. A record that cannot be
// synchronised comes back with ok=false and its quarantine entry; a record with a
// bad alias is kept without that alias, and the alias is reported.
func Normalize(rec connectors.Record, internal Domains) (Record, []Quarantine, bool) {
	name := rec.Ref
	if name == "" {
		name = rec.Anchor
	}
	q := func(field, reason, fix string) []Quarantine {
		return []Quarantine{{Record: name, Field: field, Reason: reason, Fix: fix}}
	}
	if rec.Invalid != nil && !rec.Deleted {
		return Record{}, q(rec.Invalid.Field, rec.Invalid.Message, "correct the value in the source"), false
	}
	if rec.Anchor == "" {
		return Record{}, q("anchor", "the record has no source anchor", "check that the mapped anchor attribute (entryUUID, objectGUID) is readable by the sync account"), false
	}
	out := Record{Kind: string(rec.Kind), Ref: rec.Ref, Anchor: rec.Anchor, Deleted: rec.Deleted, JoinAnchor: rec.JoinAnchor}
	if rec.Deleted {
		return out, nil, true
	}
	if strings.TrimSpace(rec.Mail) == "" {
		return Record{}, q("mail", "the record has no email address", "give the object a mail attribute in the source, or leave it out of the connector's scope"), false
	}
	addr, err := mailaddr.Normalize(rec.Mail)
	if err != nil {
		return Record{}, q("mail", err.Error(), "correct the address in the source"), false
	}
	var warnings []Quarantine
	if !internal(mailaddr.Domain(addr)) {
		if fb, err := mailaddr.Normalize(rec.MailFallback); rec.MailFallback != "" && err == nil && internal(mailaddr.Domain(fb)) {
			warnings = append(warnings, Quarantine{Record: name, Field: "mail",
				Reason: fmt.Sprintf("primary address %s is not in an internal domain: %s, the other of the disagreeing mail and Exchange primary, is the primary instead", addr, fb),
				Fix:    "make mail and the Exchange primary (SMTP:) agree in the source, or add the domain to the internal domains"})
			addr = fb
		}
	}
	if !internal(mailaddr.Domain(addr)) {
		return Record{}, q("mail", (&store.NotInternalError{Domain: mailaddr.Domain(addr)}).Error(),
			"add the domain to the store's internal domains, or leave the object out of the connector's scope"), false
	}
	out.Address = addr
	for _, w := range rec.Warnings {
		warnings = append(warnings, Quarantine{Record: name, Field: w.Field, Reason: w.Message, Fix: "correct the value in the source"})
	}
	for _, a := range rec.Aliases {
		na, err := mailaddr.Normalize(a)
		switch {
		case err != nil:
			warnings = append(warnings, Quarantine{Record: name, Field: "aliases", Reason: fmt.Sprintf("alias %q dropped: %s", a, reasonOf(err)), Fix: "correct or remove the alias in the source"})
		case !internal(mailaddr.Domain(na)):
			warnings = append(warnings, Quarantine{Record: name, Field: "aliases", Reason: fmt.Sprintf("alias %s dropped: domain %s is not an internal domain of this directory", na, mailaddr.Domain(na)), Fix: "add the domain to the internal domains, or remove the alias in the source"})
		case na != addr && !slices.Contains(out.Aliases, na):
			out.Aliases = append(out.Aliases, na)
		}
	}
	slices.Sort(out.Aliases)
	out.DisplayName = strings.TrimSpace(rec.DisplayName)
	out.GivenName = strings.TrimSpace(rec.GivenName)
	out.Surname = strings.TrimSpace(rec.Surname)
	out.Phone = strings.TrimSpace(rec.Phone)
	out.Department = strings.TrimSpace(rec.Department)
	out.Title = strings.TrimSpace(rec.Title)
	out.Enabled = !rec.Disabled
	if rec.Kind == connectors.KindUser {
		out.Licensed, out.DirectoryAdmin = rec.Licensed, rec.Admin
	}
	out.MemberRefs = rec.Members
	return out, warnings, true
}

// reasonOf strips the sentinel prefix from a mailaddr error.
func reasonOf(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// ResolveMembers turns a group's member refs into sorted, unique member addresses.
// Refs the lookup does not know (out of scope, quarantined) are returned separately.
func ResolveMembers(r *Record, lookup func(ref string) (string, bool)) (unknown []string) {
	r.Members = r.Members[:0]
	for _, ref := range r.MemberRefs {
		addr, ok := lookup(ref)
		if !ok {
			unknown = append(unknown, ref)
			continue
		}
		if addr != r.Address && !slices.Contains(r.Members, addr) {
			r.Members = append(r.Members, addr)
		}
	}
	slices.Sort(r.Members)
	return unknown
}

// Fingerprint hashes everything about a record that the store holds for it, for
// the owned fields only, so a change to an unmapped attribute costs nothing.
func Fingerprint(r Record, owned Owned) string {
	h := sha256.New()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(r.Kind)
	w(r.Anchor)
	w(r.Address)
	if r.JoinAnchor != "" {
		w("join:" + r.JoinAnchor)
	}
	for _, f := range fieldOrder {
		if owned.Has(f) {
			w(f)
			w(fieldValue(r, f))
		}
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// Unchanged reports whether a record is exactly what was last applied, so it needs
// neither a store lookup nor a change.
func Unchanged(r Record, snap state.Snapshot) bool {
	e, ok := snap[r.Anchor]
	return ok && !r.Deleted && e.Fingerprint == r.Fingerprint && !e.Gone && e.Missing == 0
}

// Owned is the set of store fields a connector feeds; nil means every field
// but the declared-only ones.
type Owned map[string]bool

// declaredOnly are the fields a connector owns only when it lists them
// (connectors.FieldOwner): the Microsoft 365 facts, which only Entra has. A
// source that declares nothing owns every other field, and must not reset
// these to false.
var declaredOnly = map[string]bool{store.FieldLicensed: true, store.FieldDirectoryAdmin: true}

// NewOwned builds an Owned set; a nil list means every field but the
// declared-only ones.
func NewOwned(fields []string) Owned {
	if fields == nil {
		return nil
	}
	o := Owned{}
	for _, f := range fields {
		o[f] = true
	}
	return o
}

// Has reports whether the field is owned.
func (o Owned) Has(f string) bool { return (o == nil && !declaredOnly[f]) || o[f] }

// fieldOrder fixes the order fields are compared, hashed and listed in.
var fieldOrder = []string{
	store.FieldDisplayName, store.FieldGivenName, store.FieldSurname, store.FieldPhone,
	store.FieldDepartment, store.FieldTitle, store.FieldAliases, store.FieldEnabled, store.FieldMembers,
	store.FieldLicensed, store.FieldDirectoryAdmin,
}

func fieldValue(r Record, f string) string {
	switch f {
	case store.FieldDisplayName:
		return r.DisplayName
	case store.FieldGivenName:
		return r.GivenName
	case store.FieldSurname:
		return r.Surname
	case store.FieldPhone:
		return r.Phone
	case store.FieldDepartment:
		return r.Department
	case store.FieldTitle:
		return r.Title
	case store.FieldAliases:
		return strings.Join(r.Aliases, ",")
	case store.FieldEnabled:
		return fmt.Sprint(r.Enabled)
	case store.FieldMembers:
		return strings.Join(r.Members, ",")
	case store.FieldLicensed:
		return fmt.Sprint(r.Licensed)
	case store.FieldDirectoryAdmin:
		return fmt.Sprint(r.DirectoryAdmin)
	}
	return ""
}
