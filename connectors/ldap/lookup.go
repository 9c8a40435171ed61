package ldap

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

var _ connectors.Looker = (*source)(nil)

// Lookup implements connectors.Looker. It searches the whole naming context(s)
// holding the configured base DNs (from the rootDSE's namingContexts; when the
// server lists none that covers a base DN, that base DN's last two RDNs — its
// domain part — stand in), subtree, for an entry whose mail, alias attributes,
// smtp: proxy address or anchor equals key. The configured filters and member_of
// are deliberately left out of that search: they are what Scope then judges, each
// decided by the server with a base-scope search on the entry.
func (s *source) Lookup(ctx context.Context, key string) (connectors.Found, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return connectors.Found{}, errors.New("ldap lookup: empty key: give an address or an anchor")
	}
	s = s.pinned()
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return connectors.Found{}, err
	}
	defer conn.Close()

	roots := s.lookupRoots(conn)
	filter := s.lookupFilter(key)
	attrs := append([]string{"*", "memberOf"}, s.cfg.mapping.Attributes()...)
	var queries []string
	var entries []*goldap.Entry
	seen := map[string]bool{}
	for _, root := range roots {
		queries = append(queries, s.describeQuery(root, filter))
		err := pagedSearch(ctx, conn, s.cfg.PageSize, query{base: root, filter: filter}, attrs, func(e *goldap.Entry) error {
			if dn := dirmap.NormalizeDN(e.DN); !seen[dn] {
				seen[dn] = true
				entries = append(entries, e)
			}
			return nil
		})
		if err != nil {
			return connectors.Found{}, fmt.Errorf("ldap lookup %q: search %q under %q: %w", key, filter, root, err)
		}
	}
	q := strings.Join(queries, "; ")
	switch len(entries) {
	case 0:
		return connectors.Found{}, fmt.Errorf("%w: %q: searched %s (check the spelling, or that the bind account can read the entry)",
			connectors.ErrNotInSource, key, q)
	case 1:
	default:
		var dns []string
		for _, e := range entries {
			dns = append(dns, e.DN)
		}
		return connectors.Found{}, fmt.Errorf("ldap lookup %q: %d entries match (%s): %s; look one up by its anchor",
			key, len(entries), strings.Join(dns, "; "), q)
	}
	e := entries[0]
	raw := s.rawAttributes(e)
	rec, skip, err := s.mapEntry(ctx, conn, e)
	if err != nil {
		return connectors.Found{}, fmt.Errorf("ldap lookup %q: %w", key, err)
	}
	checks, err := s.scopeChecks(ctx, conn, e, rec.Kind, skip)
	if err != nil {
		return connectors.Found{}, fmt.Errorf("ldap lookup %q: scope of %s: %w", key, e.DN, err)
	}
	in := true
	for _, c := range checks {
		in = in && c.Admitted
	}
	return connectors.Found{Query: q, Raw: raw, Record: rec, Scope: checks, InScope: in}, nil
}

// lookupRoots returns the naming contexts covering the base DNs, each once.
func (s *source) lookupRoots(conn *goldap.Conn) []string {
	res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts"}, nil))
	var ncs []string
	switch {
	case err != nil:
		// Some servers hide the rootDSE from ordinary accounts: the domain part
		// of each base DN stands in.
		s.log.Debug("rootDSE namingContexts unreadable; searching from the base DNs' dc= suffixes", zap.Error(err))
	case len(res.Entries) > 0:
		ncs = res.Entries[0].GetAttributeValues("namingContexts")
	}
	var roots []string
	for _, base := range s.cfg.BaseDNs {
		root := ""
		for _, nc := range ncs {
			// The longest naming context holding base (AD lists the domain and its
			// DNS zone partitions; a base lies in exactly one of them).
			if underDN(base, nc) && len(nc) > len(root) {
				root = nc
			}
		}
		if root == "" {
			root = domainPart(base)
		}
		if !slices.ContainsFunc(roots, func(r string) bool { return strings.EqualFold(dirmap.NormalizeDN(r), dirmap.NormalizeDN(root)) }) {
			roots = append(roots, root)
		}
	}
	return roots
}

// domainPart is a DN's trailing dc= components (or the DN itself without any).
func domainPart(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	i := len(parsed.RDNs)
	for i > 0 && len(parsed.RDNs[i-1].Attributes) == 1 && strings.EqualFold(parsed.RDNs[i-1].Attributes[0].Type, "dc") {
		i--
	}
	if i == len(parsed.RDNs) {
		return dn
	}
	return (&goldap.DN{RDNs: parsed.RDNs[i:]}).String()
}

// lookupFilter matches key as mail, alias, smtp: proxy address or anchor.
func (s *source) lookupFilter(key string) string {
	m := s.cfg.mapping
	esc := goldap.EscapeFilter(key)
	var parts []string
	add := func(attr, value string) {
		if attr != "" {
			parts = append(parts, "("+attr+"="+value+")")
		}
	}
	add(m.Mail, esc)
	for _, a := range m.Aliases {
		add(a, esc)
	}
	if m.ProxyAddresses != "" {
		// proxyAddresses matches case-insensitively: this finds SMTP: (primary)
		// and smtp: (alias) values alike.
		add(m.ProxyAddresses, "smtp:"+esc)
	}
	switch uuid, isUUID := parseUUID(key); {
	case m.AnchorFormat == "guid":
		if isUUID {
			add(m.Anchor, escapeBytes(guidBytes(uuid)))
		}
	case strings.EqualFold(m.Anchor, "entryUUID"):
		// entryUUID's syntax rejects other values: only ask when key is one.
		if isUUID {
			add(m.Anchor, hex.EncodeToString(uuid[0:4])+"-"+hex.EncodeToString(uuid[4:6])+"-"+
				hex.EncodeToString(uuid[6:8])+"-"+hex.EncodeToString(uuid[8:10])+"-"+hex.EncodeToString(uuid[10:16]))
		}
	default:
		add(m.Anchor, esc)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(|" + strings.Join(parts, "") + ")"
}

// describeQuery is a search as an admin could repeat it with ldapsearch.
func (s *source) describeQuery(base, filter string) string {
	return fmt.Sprintf("ldapsearch -H %s -b %s -s sub %s", s.cfg.URL, shellQuote(base), shellQuote(filter))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// parseUUID reads the 8-4-4-4-12 hex form into its 16 bytes, in text order.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	s = strings.Trim(s, "{}")
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, false
	}
	copy(u[:], b)
	return u, true
}

// guidBytes is the binary form of a Microsoft GUID: the first three groups
// little-endian (the inverse of dirmap.FormatGUID).
func guidBytes(u [16]byte) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(u[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(u[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(u[6:8]))
	copy(b[8:], u[8:])
	return b
}

// guidAttributes and sidAttributes are binary attributes with a standard text form.
var (
	guidAttributes = []string{"objectGUID", "mS-DS-ConsistencyGuid", "msExchMailboxGuid", "msExchArchiveGUID", "invocationId"}
	sidAttributes  = []string{"objectSid", "sIDHistory", "securityIdentifier", "tokenGroups"}
)

// rawAttributes renders the entry's attributes for a reader: secrets redacted,
// GUIDs and SIDs in their text forms, other binary values as "base64:…".
func (s *source) rawAttributes(e *goldap.Entry) map[string][]string {
	raw := map[string][]string{"dn": {e.DN}}
	isGUID := func(a string) bool {
		return slices.ContainsFunc(guidAttributes, func(g string) bool { return strings.EqualFold(g, a) }) ||
			(s.cfg.mapping.AnchorFormat == "guid" && strings.EqualFold(a, s.cfg.mapping.Anchor))
	}
	for _, at := range e.Attributes {
		var vals []string
		for _, v := range at.ByteValues {
			switch {
			case connectors.IsSecretAttribute(at.Name):
				vals = append(vals, connectors.Redacted)
			case isGUID(at.Name):
				g, err := dirmap.FormatGUID(v)
				if err != nil {
					g = "base64:" + base64.StdEncoding.EncodeToString(v)
				}
				vals = append(vals, g)
			case slices.ContainsFunc(sidAttributes, func(a string) bool { return strings.EqualFold(a, at.Name) }):
				vals = append(vals, formatSID(v))
			case !printable(v):
				vals = append(vals, "base64:"+base64.StdEncoding.EncodeToString(v))
			default:
				vals = append(vals, string(v))
			}
		}
		raw[at.Name] = append(raw[at.Name], vals...)
	}
	return raw
}

// printable: valid UTF-8 without control characters other than tab and newlines.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// formatSID renders a binary security identifier as S-1-5-21-…; a value that is
// not one is shown in base64.
func formatSID(b []byte) string {
	if len(b) < 8 || len(b) != 8+4*int(b[1]) {
		return "base64:" + base64.StdEncoding.EncodeToString(b)
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-" + strconv.Itoa(int(b[0])) + "-" + strconv.FormatUint(auth, 10))
	for i := range int(b[1]) {
		sb.WriteString("-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String()
}
