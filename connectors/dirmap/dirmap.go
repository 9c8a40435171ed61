// Package dirmap maps LDAP-shaped entries (a DN and attribute values, as read from an
// LDIF export or a live LDAP/AD search) to connector Records. The file connector's
// LDIF reader and the LDAP connector share it, so an `ldifde` export and a live AD
// read of the same people produce the same records.
package dirmap

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/connectors"
)

// Mapping names the source attribute behind each dirsync field. An empty attribute
// means the connector does not own that field, so sync never changes it.
//
//	preset: openldap
//	mapping:
//	  aliases: [mailAlternateAddress]
//	  disabled: {attribute: employeeStatus, values: [terminated]}
type Mapping struct {
	Anchor string `yaml:"anchor"`
	// AnchorFormat: "" (the value as text) or "guid" (a 16-byte binary GUID such as
	// AD's objectGUID, rendered in the standard string form).
	AnchorFormat string `yaml:"anchor_format"`
	Mail         string `yaml:"mail"`
	// Aliases are attributes whose every value is an alias address.
	Aliases []string `yaml:"aliases"`
	// ProxyAddresses is an AD-style attribute: "SMTP:" marks the primary address,
	// "smtp:" an alias, other prefixes (X500:, SIP:) are ignored.
	ProxyAddresses string `yaml:"proxy_addresses"`
	// PrimaryAddress decides which address is the primary when mail and the
	// "SMTP:" proxy address disagree: "proxy" (the default: the address
	// Exchange sends as, which a mail gateway sees) or "mail". The other one
	// becomes an alias, and the record carries a warning naming both.
	PrimaryAddress string   `yaml:"primary_address"`
	DisplayName    string   `yaml:"display_name"`
	GivenName      string   `yaml:"given_name"`
	Surname        string   `yaml:"surname"`
	Phone          string   `yaml:"phone"`
	Department     string   `yaml:"department"`
	Title          string   `yaml:"title"`
	Members        string   `yaml:"members"`
	Disabled       Disabled `yaml:"disabled"`
	// UserClasses and GroupClasses decide, by objectClass, what an entry is;
	// entries of neither kind (OUs, containers) are skipped, and so is any entry
	// with one of ExcludeClasses (AD computers are also of class user).
	UserClasses    []string `yaml:"user_classes"`
	GroupClasses   []string `yaml:"group_classes"`
	ExcludeClasses []string `yaml:"exclude_classes"`
}

// PrimaryAddress values.
const (
	PrimaryProxy = "proxy"
	PrimaryMail  = "mail"
)

// Disabled says how an entry is recognised as disabled.
type Disabled struct {
	Attribute string `yaml:"attribute"`
	// Bit: the attribute is an integer and this bit set means disabled
	// (AD userAccountControl: 2).
	Bit uint64 `yaml:"bit"`
	// Values: any of these values (case-insensitive) means disabled. With neither
	// Bit nor Values, the attribute being present means disabled
	// (OpenLDAP pwdAccountLockedTime).
	Values []string `yaml:"values"`
}

// Preset returns a named attribute map: "ad" or "openldap".
func Preset(name string) (Mapping, error) {
	switch name {
	case "ad":
		return Mapping{
			Anchor: "objectGUID", AnchorFormat: "guid",
			Mail: "mail", ProxyAddresses: "proxyAddresses",
			DisplayName: "displayName", GivenName: "givenName", Surname: "sn",
			Phone: "telephoneNumber", Department: "department", Title: "title",
			Members:        "member",
			Disabled:       Disabled{Attribute: "userAccountControl", Bit: 2},
			UserClasses:    []string{"user"},
			GroupClasses:   []string{"group"},
			ExcludeClasses: []string{"computer"},
		}, nil
	case "openldap":
		return Mapping{
			Anchor: "entryUUID", Mail: "mail", Aliases: []string{"mailAlternateAddress"},
			DisplayName: "cn", GivenName: "givenName", Surname: "sn",
			Phone: "telephoneNumber", Department: "departmentNumber", Title: "title",
			Members:      "member",
			Disabled:     Disabled{Attribute: "pwdAccountLockedTime"},
			UserClasses:  []string{"inetOrgPerson", "person", "organizationalPerson"},
			GroupClasses: []string{"groupOfNames", "groupOfUniqueNames"},
		}, nil
	default:
		return Mapping{}, fmt.Errorf("unknown preset %q: use ad or openldap", name)
	}
}

// Override returns m with every field set in o replacing m's.
func (m Mapping) Override(o Mapping) Mapping {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.Anchor, o.Anchor)
	set(&m.AnchorFormat, o.AnchorFormat)
	set(&m.Mail, o.Mail)
	set(&m.ProxyAddresses, o.ProxyAddresses)
	set(&m.PrimaryAddress, o.PrimaryAddress)
	set(&m.DisplayName, o.DisplayName)
	set(&m.GivenName, o.GivenName)
	set(&m.Surname, o.Surname)
	set(&m.Phone, o.Phone)
	set(&m.Department, o.Department)
	set(&m.Title, o.Title)
	set(&m.Members, o.Members)
	if o.Aliases != nil {
		m.Aliases = o.Aliases
	}
	if o.Disabled.Attribute != "" {
		m.Disabled = o.Disabled
	}
	if o.UserClasses != nil {
		m.UserClasses = o.UserClasses
	}
	if o.GroupClasses != nil {
		m.GroupClasses = o.GroupClasses
	}
	if o.ExcludeClasses != nil {
		m.ExcludeClasses = o.ExcludeClasses
	}
	return m
}

// Check returns the mapping's problems as connector field errors under prefix.
func (m Mapping) Check(prefix string) []error {
	var errs []error
	if m.Anchor == "" {
		errs = append(errs, connectors.Problem(prefix+".anchor", "missing: the attribute holding an immutable id (entryUUID, objectGUID)"))
	}
	if m.Mail == "" && m.ProxyAddresses == "" {
		errs = append(errs, connectors.Problem(prefix+".mail", "missing: map mail or proxy_addresses"))
	}
	if m.AnchorFormat != "" && m.AnchorFormat != "guid" {
		errs = append(errs, connectors.Problem(prefix+".anchor_format", fmt.Sprintf("%q: use guid or leave it empty", m.AnchorFormat)))
	}
	if p := m.PrimaryAddress; p != "" && p != PrimaryProxy && p != PrimaryMail {
		errs = append(errs, connectors.Problem(prefix+".primary_address", fmt.Sprintf("%q: use proxy or mail (the default, proxy, makes the SMTP: proxy address the primary)", p)))
	}
	if len(m.UserClasses) == 0 {
		errs = append(errs, connectors.Problem(prefix+".user_classes", "missing: the objectClass values of people"))
	}
	return errs
}

// Attributes lists the attributes a search must request (objectClass included).
func (m Mapping) Attributes() []string {
	attrs := []string{"objectClass", m.Anchor, m.Mail, m.ProxyAddresses, m.DisplayName, m.GivenName,
		m.Surname, m.Phone, m.Department, m.Title, m.Members, m.Disabled.Attribute}
	attrs = append(attrs, m.Aliases...)
	out := attrs[:0]
	for _, a := range attrs {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Fields lists the store fields this mapping owns.
func (m Mapping) Fields() []string {
	var f []string
	add := func(attr, field string) {
		if attr != "" {
			f = append(f, field)
		}
	}
	add(m.DisplayName, "display_name")
	add(m.GivenName, "given_name")
	add(m.Surname, "surname")
	add(m.Phone, "phone")
	add(m.Department, "department")
	add(m.Title, "title")
	if len(m.Aliases) > 0 || m.ProxyAddresses != "" {
		f = append(f, "aliases")
	}
	add(m.Disabled.Attribute, "enabled")
	add(m.Members, "members")
	return f
}

// Entry is the attribute view of one directory entry.
type Entry interface {
	// Values returns the values of an attribute (case-insensitive name).
	Values(attr string) []string
}

// Attrs is an Entry backed by a map with lower-cased keys.
type Attrs map[string][]string

// Values implements Entry.
func (a Attrs) Values(attr string) []string { return a[strings.ToLower(attr)] }

// FromLDAP turns a go-ldap entry into Attrs.
func FromLDAP(e *ldap.Entry) Attrs {
	a := make(Attrs, len(e.Attributes))
	for _, at := range e.Attributes {
		k := strings.ToLower(at.Name)
		a[k] = append(a[k], at.Values...)
	}
	return a
}

// Skip explains why an entry produced no record.
type Skip string

// Record maps one entry. It returns ok=false with a reason for entries that are not
// people or groups; a bad value in an entry that is a person is returned in the
// record as found, for the engine to quarantine with its reason.
func (m Mapping) Record(dn string, e Entry) (connectors.Record, Skip, error) {
	classes := e.Values("objectClass")
	kind := connectors.Kind("")
	switch {
	case hasAny(classes, m.ExcludeClasses):
		return connectors.Record{}, "excluded object class", nil
	case hasAny(classes, m.GroupClasses):
		kind = connectors.KindGroup
	case hasAny(classes, m.UserClasses):
		kind = connectors.KindUser
	default:
		return connectors.Record{}, "neither a person nor a group", nil
	}
	r := connectors.Record{Kind: kind, Ref: NormalizeDN(dn)}
	anchor := first(e, m.Anchor)
	if raw := e.Values(m.Anchor); m.AnchorFormat == "guid" && len(raw) > 0 {
		// Binary: never trimmed (a GUID byte may well be 0x20 or 0x0a).
		g, err := FormatGUID([]byte(raw[0]))
		if err != nil {
			return r, "", fmt.Errorf("%s: %w", m.Anchor, err)
		}
		anchor = g
	}
	r.Anchor = anchor
	r.Mail = first(e, m.Mail)
	if m.ProxyAddresses != "" {
		primary, aliases := SplitProxyAddresses(e.Values(m.ProxyAddresses))
		var other string
		var warn *connectors.FieldError
		r.Mail, other, warn = PickPrimary(r.Mail, primary, m.PrimaryAddress == PrimaryMail)
		if other != "" {
			aliases = append(aliases, other)
			r.MailFallback = other
		}
		if warn != nil {
			r.Warnings = append(r.Warnings, *warn)
		}
		r.Aliases = append(r.Aliases, aliases...)
	}
	for _, a := range m.Aliases {
		r.Aliases = append(r.Aliases, e.Values(a)...)
	}
	r.DisplayName = first(e, m.DisplayName)
	r.GivenName = first(e, m.GivenName)
	r.Surname = first(e, m.Surname)
	r.Phone = first(e, m.Phone)
	r.Department = first(e, m.Department)
	r.Title = first(e, m.Title)
	disabled, err := m.Disabled.eval(e)
	if err != nil {
		return r, "", err
	}
	r.Disabled = disabled
	if kind == connectors.KindGroup && m.Members != "" {
		for _, v := range e.Values(m.Members) {
			r.Members = append(r.Members, NormalizeDN(v))
		}
	}
	return r, "", nil
}

func (d Disabled) eval(e Entry) (bool, error) {
	if d.Attribute == "" {
		return false, nil
	}
	vals := e.Values(d.Attribute)
	switch {
	case len(vals) == 0:
		return false, nil
	case d.Bit != 0:
		n, err := strconv.ParseUint(strings.TrimSpace(vals[0]), 10, 64)
		if err != nil {
			// AD writes userAccountControl as a signed 32-bit value.
			i, ierr := strconv.ParseInt(strings.TrimSpace(vals[0]), 10, 64)
			if ierr != nil {
				return false, fmt.Errorf("%s: %q is not an integer", d.Attribute, vals[0])
			}
			n = uint64(uint32(i))
		}
		return n&d.Bit != 0, nil
	case len(d.Values) > 0:
		for _, v := range vals {
			for _, want := range d.Values {
				if strings.EqualFold(strings.TrimSpace(v), want) {
					return true, nil
				}
			}
		}
		return false, nil
	default:
		return true, nil
	}
}

// SplitProxyAddresses returns the "SMTP:" primary and the "smtp:" aliases of an AD
// proxyAddresses value set; other address types are ignored.
func SplitProxyAddresses(vals []string) (primary string, aliases []string) {
	for _, v := range vals {
		typ, addr, ok := strings.Cut(v, ":")
		if !ok || !strings.EqualFold(typ, "smtp") {
			continue
		}
		if typ == "SMTP" && primary == "" {
			primary = addr
			continue
		}
		aliases = append(aliases, addr)
	}
	return primary, aliases
}

// PickPrimary chooses between the mail attribute and the "SMTP:" proxy address.
// When both are set and differ, the proxy address wins (it is what Exchange
// sends as, and so what a mail gateway sees) unless preferMail; the loser is
// returned as other, to keep as an alias, with a warning naming both values.
// Either may be empty: the other one is then the primary, without a warning.
func PickPrimary(mail, proxy string, preferMail bool) (primary, other string, warn *connectors.FieldError) {
	switch {
	case proxy == "" || strings.EqualFold(mail, proxy):
		return mail, "", nil
	case mail == "":
		return proxy, "", nil
	}
	primary, other, rule := proxy, mail, "the Exchange primary (SMTP:) wins; set the mapping's primary_address: mail to keep mail instead"
	if preferMail {
		primary, other, rule = mail, proxy, "mail wins because the mapping sets primary_address: mail"
	}
	return primary, other, &connectors.FieldError{Field: "mail", Message: fmt.Sprintf(
		"mail %s and the Exchange primary proxy address SMTP:%s disagree: %s is the primary and %s an alias (%s); make them agree in the source",
		mail, proxy, primary, other, rule)}
}

// FormatGUID renders a 16-byte Microsoft GUID (first three groups little-endian) in
// the standard string form, as AD tools show objectGUID.
func FormatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("a GUID is 16 bytes, got %d", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16]), nil
}

// NormalizeDN gives a DN one spelling (lower-case, no spaces around separators), so
// a group's member values match the members' own DNs. A value that does not parse
// as a DN is only lower-cased.
func NormalizeDN(dn string) string {
	if simple := normalizeSimpleDN(dn); simple != "" {
		return simple
	}
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range parsed.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, at := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			writeDNValue(&b, strings.ToLower(at.Type), true)
			b.WriteByte('=')
			writeDNValue(&b, strings.ToLower(at.Value), false)
		}
	}
	return b.String()
}

// writeDNValue writes a parsed RDN value escaped again (RFC 4514): unescaped,
// "cn=a\,b=c,dc=x" and "cn=a,b=c,dc=x" (two entries) would have one normal form,
// and a group member value would match the wrong entry. Only the characters
// the DN syntax needs are escaped, so non-ASCII text keeps its spelling; a
// type (always plain letters in a real directory) also has its '=' escaped.
func writeDNValue(b *strings.Builder, v string, isType bool) {
	// White space at either end is hex-escaped: the fast path would trim it.
	lead := len(v) - len(strings.TrimLeftFunc(v, unicode.IsSpace))
	trail := len(strings.TrimRightFunc(v, unicode.IsSpace))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 0 || (c != ' ' && (i < lead || i >= trail)) {
			fmt.Fprintf(b, `\%02x`, c) // and the DN syntax has no raw NUL
			continue
		}
		switch {
		case c == '\\' || c == ',' || c == '+' || c == '"' || c == ';' || c == '<' || c == '>',
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ',
			isType && c == '=':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}

// normalizeSimpleDN is NormalizeDN's fast path for the common DN with no escapes,
// quotes, multi-valued RDNs or hex values (a full read normalises every entry's DN
// and every member value, and ParseDN allocates per component). It returns "" when
// the DN needs the full parser.
func normalizeSimpleDN(dn string) string {
	if strings.ContainsAny(dn, "\\\"+#;<>") {
		return ""
	}
	var b strings.Builder
	b.Grow(len(dn))
	for i, part := range strings.Split(dn, ",") {
		typ, val, ok := strings.Cut(part, "=")
		typ, val = strings.TrimSpace(typ), strings.TrimSpace(val)
		if !ok || typ == "" || val == "" {
			return ""
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ToLower(typ))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(val))
	}
	return b.String()
}

// LDAPEntry is an Entry over a go-ldap entry, without copying its attributes.
type LDAPEntry struct{ *ldap.Entry }

// Values implements Entry.
func (e LDAPEntry) Values(attr string) []string { return e.GetEqualFoldAttributeValues(attr) }

func first(e Entry, attr string) string {
	if attr == "" {
		return ""
	}
	v := e.Values(attr)
	if len(v) == 0 {
		return ""
	}
	return strings.TrimSpace(v[0])
}

func hasAny(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}
