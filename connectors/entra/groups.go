package entra

import (
	"context"
	"strings"
	"sync"

	"github.com/microsoftgraph/msgraph-sdk-go/directoryroles"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/connectors"
)

// groupFields is the $select of groups/delta. members is selected so that a
// membership change puts the group in the next delta round (members@delta).
var groupFields = append(groupProps[:len(groupProps):len(groupProps)], "members")

// groupProps is the $select of a group read again after a delta round.
var groupProps = []string{"id", "displayName", "mail", "mailEnabled", "securityEnabled", "proxyAddresses"}

var memberFields = []string{"id", "userPrincipalName"}

// groupRef names a group in records and member lists.
func groupRef(id string) string { return "groups/" + id }

// groups runs a groups/delta round (from the start when link is ""), then reads
// the members of every mail-enabled group it named, and emits the groups. In a
// resumed round the groups are read again, since a delta entry carries only what
// changed. It returns the new delta link.
func (s *source) groups(ctx context.Context, link string, emit connectors.Emit) (string, error) {
	full := link == ""
	cfg := &groups.DeltaRequestBuilderGetRequestConfiguration{Headers: s.pageHeaders()}
	b := s.client.Groups().Delta()
	if full {
		cfg.QueryParameters = &groups.DeltaRequestBuilderGetQueryParameters{Select: groupFields}
	} else {
		b = b.WithUrl(link)
	}
	var order []string
	found := map[string]models.Groupable{}
	for pages := 1; ; pages++ {
		resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return "", graphError("groups/delta", pages, err)
		}
		for _, g := range resp.GetValue() {
			id := deref(g.GetId())
			if id == "" {
				continue
			}
			if removedReason(g) != "" {
				delete(found, id)
				if err := emit(connectors.Record{Kind: connectors.KindGroup, Anchor: id, Ref: groupRef(id), Deleted: true}); err != nil {
					return "", err
				}
				continue
			}
			// A large group's members arrive over several entries; the first
			// one carries its properties.
			if _, dup := found[id]; !dup {
				order = append(order, id)
				found[id] = g
			}
		}
		if next := resp.GetOdataNextLink(); next != nil && *next != "" {
			b, cfg.QueryParameters = s.client.Groups().Delta().WithUrl(*next), nil
			continue
		}
		dl := resp.GetOdataDeltaLink()
		if dl == nil || *dl == "" {
			return "", graphError("groups/delta", pages, errIncompleteRound)
		}
		link = *dl
		break
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, id := range order {
		if found[id] == nil {
			continue // removed later in the same round
		}
		g.Go(func() error {
			grp := found[id]
			if !full {
				var err error
				grp, err = s.client.Groups().ByGroupId(id).Get(gctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
					QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupProps}})
				if status(err) == 404 {
					return nil // deleted since: the next round says so
				}
				if err != nil {
					return graphError("groups/"+id, 1, err)
				}
			}
			rec := groupRecord(id, deref(grp.GetDisplayName()), deref(grp.GetMail()), grp.GetProxyAddresses(), s.cfg.preferMail())
			if !groupInScope(grp.GetMailEnabled(), rec) {
				if full {
					return nil
				}
				// No longer mail-enabled: out of scope.
				rec = connectors.Record{Kind: connectors.KindGroup, Anchor: id, Ref: groupRef(id), Deleted: true}
			} else {
				members, err := s.members(gctx, id)
				if err != nil {
					return err
				}
				rec.Members = members
			}
			mu.Lock()
			defer mu.Unlock()
			return emit(rec)
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	s.log.Info("groups read", zap.Int("groups", len(order)), zap.Bool("full", full))
	return link, nil
}

// groupRecord maps a group's properties (members are read separately).
func groupRecord(id, displayName, mail string, proxies []string, preferMail bool) connectors.Record {
	rec := connectors.Record{Kind: connectors.KindGroup, Anchor: id, Ref: groupRef(id), DisplayName: displayName}
	rec.Mail, rec.Aliases = addresses(mail, proxies, nil, preferMail)
	return rec
}

// groupInScope: only mail-enabled groups with an address are read.
func groupInScope(mailEnabled *bool, rec connectors.Record) bool {
	return mailEnabled != nil && *mailEnabled && rec.Mail != ""
}

// members lists a group's members as record refs: users by their
// userPrincipalName, nested groups as groups/ID (or, flattened, their users).
func (s *source) members(ctx context.Context, id string) ([]string, error) {
	var refs []string
	top := int32(s.cfg.PageSize)
	if s.cfg.flattensGroups() {
		cfg := &groups.ItemTransitiveMembersGraphUserRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemTransitiveMembersGraphUserRequestBuilderGetQueryParameters{Select: memberFields, Top: &top}}
		b := s.client.Groups().ByGroupId(id).TransitiveMembers().GraphUser()
		for pages := 1; ; pages++ {
			resp, err := b.Get(ctx, cfg)
			if err != nil {
				return nil, graphError("groups/"+id+"/transitiveMembers", pages, err)
			}
			for _, u := range resp.GetValue() {
				refs = append(refs, userRef(u))
			}
			next := resp.GetOdataNextLink()
			if next == nil || *next == "" {
				return refs, nil
			}
			b, cfg.QueryParameters = b.WithUrl(*next), nil
		}
	}
	cfg := &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: memberFields, Top: &top}}
	b := s.client.Groups().ByGroupId(id).Members()
	for pages := 1; ; pages++ {
		resp, err := b.Get(ctx, cfg)
		if err != nil {
			return nil, graphError("groups/"+id+"/members", pages, err)
		}
		for _, m := range resp.GetValue() {
			switch v := m.(type) {
			case models.Userable:
				refs = append(refs, userRef(v))
			case models.Groupable:
				refs = append(refs, groupRef(deref(v.GetId())))
			}
		}
		next := resp.GetOdataNextLink()
		if next == nil || *next == "" {
			return refs, nil
		}
		b, cfg.QueryParameters = b.WithUrl(*next), nil
	}
}

func userRef(u models.Userable) string {
	if upn := deref(u.GetUserPrincipalName()); upn != "" {
		return upn
	}
	return deref(u.GetId())
}

// readAdmins returns the ids of the users holding any of the configured
// directory roles. Only activated roles (held by someone) are listed by Graph;
// a configured role not found is reported, since it may be misspelt.
func (s *source) readAdmins(ctx context.Context) (map[string]bool, error) {
	admins := map[string]bool{}
	if len(s.cfg.AdminRoles) == 0 {
		return admins, nil
	}
	roles, err := s.client.DirectoryRoles().Get(ctx, &directoryroles.DirectoryRolesRequestBuilderGetRequestConfiguration{
		QueryParameters: &directoryroles.DirectoryRolesRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "roleTemplateId"}}})
	if err != nil {
		return nil, graphError("directoryRoles", 1, err)
	}
	for _, want := range s.cfg.AdminRoles {
		var role models.DirectoryRoleable
		for _, r := range roles.GetValue() {
			if strings.EqualFold(deref(r.GetDisplayName()), want) || strings.EqualFold(deref(r.GetRoleTemplateId()), want) {
				role = r
			}
		}
		if role == nil {
			s.log.Warn("admin role not found among the tenant's activated directory roles: nobody is flagged admin through it; check the spelling",
				zap.String("role", want))
			continue
		}
		id := deref(role.GetId())
		cfg := &directoryroles.ItemMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &directoryroles.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}}}
		b := s.client.DirectoryRoles().ByDirectoryRoleId(id).Members()
		for pages := 1; ; pages++ {
			resp, err := b.Get(ctx, cfg)
			if err != nil {
				return nil, graphError("directoryRoles/"+id+"/members", pages, err)
			}
			for _, m := range resp.GetValue() {
				if _, ok := m.(models.Userable); ok {
					admins[deref(m.GetId())] = true
				}
			}
			next := resp.GetOdataNextLink()
			if next == nil || *next == "" {
				break
			}
			b, cfg.QueryParameters = b.WithUrl(*next), nil
		}
	}
	return admins, nil
}
