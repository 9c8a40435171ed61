package ldap

import (
	"context"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// scopeChecks judges one entry by the rules a full read applies, in its order: the base
// DNs, the user (or group) filter, member_of for users, and the mapping's object
// classes. A filter rule admits the entry when any search of the read returns it
// (a user search also returns a group that matches user_filter, and the group
// search a person that matches group_filter), so InScope is exactly "Read emits it".
func (s *source) scopeChecks(ctx context.Context, conn *goldap.Conn, e *goldap.Entry, kind connectors.Kind, skip dirmap.Skip) ([]connectors.ScopeCheck, error) {
	c := s.cfg
	var checks []connectors.ScopeCheck

	// (a) base DNs.
	bases := connectors.ScopeCheck{Rule: fmt.Sprintf("base_dns %s (subtree)", quoteList(c.BaseDNs))}
	for i, b := range c.BaseDNs {
		if underDN(e.DN, b) {
			bases.Admitted = true
			bases.Detail = fmt.Sprintf("%s is under base_dns[%d] %q", e.DN, i, b)
			break
		}
	}
	if !bases.Admitted {
		bases.Detail = fmt.Sprintf("outside every base DN: %s is under none of %s", e.DN, quoteList(c.BaseDNs))
	}
	checks = append(checks, bases)

	// (b) and (c): the filters, decided by the server on this entry alone.
	userMatch, err := matches(ctx, conn, e.DN, c.UserFilter)
	if err != nil {
		return nil, fmt.Errorf("user_filter: %w", err)
	}
	memberOK := true
	if len(c.MemberOf) > 0 {
		if memberOK, err = matches(ctx, conn, e.DN, memberOfFilter(c.MemberOf)); err != nil {
			return nil, fmt.Errorf("member_of: %w", err)
		}
	}
	groupMatch := false
	if c.readsGroups() {
		if groupMatch, err = matches(ctx, conn, e.DN, c.GroupFilter); err != nil {
			return nil, fmt.Errorf("group_filter: %w", err)
		}
	}
	viaUsers := userMatch && memberOK
	if kind == connectors.KindGroup {
		checks = append(checks, s.groupFilterCheck(groupMatch, viaUsers))
	} else {
		checks = append(checks, s.userFilterCheck(userMatch, groupMatch))
		if len(c.MemberOf) > 0 {
			checks = append(checks, memberOfCheck(c.MemberOf, e, memberOK, groupMatch))
		}
	}

	// (d) the mapping's classes: Read drops entries that are neither kind.
	m := c.mapping
	classes := connectors.ScopeCheck{
		Rule: fmt.Sprintf("object classes: user_classes %s, group_classes %s, exclude_classes %s",
			quoteList(m.UserClasses), quoteList(m.GroupClasses), quoteList(m.ExcludeClasses)),
		Admitted: skip == "",
	}
	oc := quoteList(e.GetEqualFoldAttributeValues("objectClass"))
	if skip == "" {
		classes.Detail = fmt.Sprintf("a %s (objectClass %s)", kind, oc)
	} else {
		classes.Detail = fmt.Sprintf("%s (objectClass %s): Read skips it", skip, oc)
	}
	checks = append(checks, classes)
	return checks, nil
}

func (s *source) userFilterCheck(userMatch, groupMatch bool) connectors.ScopeCheck {
	ch := connectors.ScopeCheck{Rule: fmt.Sprintf("user_filter %q", s.cfg.UserFilter), Admitted: userMatch || groupMatch}
	switch {
	case userMatch:
		ch.Detail = "the server matches the entry against it"
	case groupMatch:
		ch.Detail = fmt.Sprintf("the entry does not match it, but matches group_filter %q, whose search Read also runs", s.cfg.GroupFilter)
	default:
		ch.Detail = "the server does not match the entry against it"
		if s.cfg.readsGroups() {
			ch.Detail += fmt.Sprintf(" (nor against group_filter %q)", s.cfg.GroupFilter)
		}
	}
	return ch
}

func (s *source) groupFilterCheck(groupMatch, viaUsers bool) connectors.ScopeCheck {
	ch := connectors.ScopeCheck{Rule: fmt.Sprintf("group_filter %q", s.cfg.GroupFilter), Admitted: groupMatch || viaUsers}
	switch {
	case groupMatch:
		ch.Detail = "the server matches the entry against it"
	case viaUsers:
		ch.Detail = fmt.Sprintf("the entry does not match it, but matches user_filter %q, whose search Read also runs", s.cfg.UserFilter)
	case s.cfg.GroupFilter == "-":
		ch.Detail = `groups are not read (group_filter: "-")`
	case !s.cfg.readsGroups():
		ch.Detail = "groups are not read: the mapping has no members attribute"
	default:
		ch.Detail = "the server does not match the entry against it"
	}
	return ch
}

// memberOfCheck says which member_of groups the entry's memberOf names; the
// verdict is the server's.
func memberOfCheck(groups []string, e *goldap.Entry, memberOK, groupMatch bool) connectors.ScopeCheck {
	ch := connectors.ScopeCheck{Rule: "member_of " + quoteList(groups), Admitted: memberOK || groupMatch}
	have := map[string]bool{}
	for _, v := range e.GetEqualFoldAttributeValues("memberOf") {
		have[dirmap.NormalizeDN(v)] = true
	}
	var in, out []string
	for _, g := range groups {
		if have[dirmap.NormalizeDN(g)] {
			in = append(in, g)
		} else {
			out = append(out, g)
		}
	}
	switch {
	case memberOK && len(in) > 0:
		ch.Detail = "a member of " + quoteList(in)
	case memberOK:
		ch.Detail = "the server matches the entry's memberOf against the groups"
	case groupMatch:
		ch.Detail = "a member of none of them, but member_of applies only to the user search and the entry matches group_filter"
	case len(have) == 0:
		ch.Detail = "not a member of " + quoteList(out) + ": the entry has no memberOf values (on OpenLDAP, member_of needs the memberof overlay)"
	default:
		ch.Detail = "not a member of " + quoteList(out)
	}
	return ch
}

// memberOfFilter is the member_of part of Config.userFilter.
func memberOfFilter(groups []string) string {
	var b strings.Builder
	b.WriteString("(|")
	for _, dn := range groups {
		b.WriteString("(memberOf=" + goldap.EscapeFilter(dn) + ")")
	}
	b.WriteString(")")
	return b.String()
}

// matches asks the server whether the entry at dn matches filter: a base-scope
// search, so the server's own matching rules (case, DN syntax, bit matching)
// decide, never a client-side imitation of them.
func matches(ctx context.Context, conn *goldap.Conn, dn, filter string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		filter, []string{"1.1"}, nil))
	if err != nil {
		return false, fmt.Errorf("base-scope search of %s with %q: %w", dn, filter, err)
	}
	return len(res.Entries) > 0, nil
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
