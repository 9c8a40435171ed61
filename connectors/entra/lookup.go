package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync/dirsync/connectors"
)

var _ connectors.Looker = (*source)(nil)

// graphGroup is a group as Graph's JSON has it (groupProps selected).
type graphGroup struct {
	ID             string   `json:"id"`
	DisplayName    *string  `json:"displayName"`
	Mail           *string  `json:"mail"`
	MailEnabled    *bool    `json:"mailEnabled"`
	ProxyAddresses []string `json:"proxyAddresses"`
}

// lookupHit is one object a lookup request returned, as Graph's JSON.
type lookupHit struct {
	group bool
	query string
	body  json.RawMessage
}

// Lookup implements connectors.Looker. An object id (a GUID) is read with
// GET users/{id}, else GET groups/{id}; anything else is an address, looked up
// with $filter on users (mail, userPrincipalName, smtp: proxy addresses,
// otherMails) and on groups (mail, smtp: proxy addresses). Both filters use only
// what Graph serves by default (eq, and any() over proxyAddresses and otherMails
// with eq), so the request needs neither ConsistencyLevel: eventual nor $count,
// and reads the directory itself rather than its eventually consistent index.
func (s *source) Lookup(ctx context.Context, key string) (connectors.Found, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return connectors.Found{}, errors.New("entra lookup: empty key: give an address or an object id")
	}
	admins, err := s.readAdmins(ctx)
	if err != nil {
		return connectors.Found{}, err
	}
	var hits []lookupHit
	var queries []string
	if guidRE.MatchString(key) {
		hits, queries, err = s.lookupID(ctx, key)
	} else {
		hits, queries, err = s.lookupAddress(ctx, key)
	}
	if err != nil {
		return connectors.Found{}, err
	}
	switch len(hits) {
	case 0:
		return connectors.Found{}, fmt.Errorf("%w: %q: asked %s", connectors.ErrNotInSource, key, strings.Join(queries, " and "))
	case 1:
	default:
		var names []string
		for _, h := range hits {
			names = append(names, hitName(h))
		}
		return connectors.Found{}, fmt.Errorf("entra lookup %q: %d objects match (%s); look one up by its object id",
			key, len(hits), strings.Join(names, "; "))
	}
	h := hits[0]
	raw, err := rawProperties(h.body)
	if err != nil {
		return connectors.Found{}, fmt.Errorf("entra lookup %q: %w", key, err)
	}
	found := connectors.Found{Query: h.query, Raw: raw}
	if h.group {
		err = s.explainGroup(ctx, h.body, &found)
	} else {
		err = s.explainUser(h.body, admins, &found)
	}
	if err != nil {
		return connectors.Found{}, fmt.Errorf("entra lookup %q: %w", key, err)
	}
	found.InScope = true
	for _, c := range found.Scope {
		found.InScope = found.InScope && c.Admitted
	}
	return found, nil
}

// lookupID reads users/{id}, then groups/{id}; 404s mean "not that kind".
func (s *source) lookupID(ctx context.Context, id string) ([]lookupHit, []string, error) {
	ureq, err := s.client.Users().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph users/%s request: %w", id, err)
	}
	greq, err := s.client.Groups().ByGroupId(id).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupProps}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph groups/%s request: %w", id, err)
	}
	queries := []string{describe(ureq), describe(greq)}
	for i, req := range []*abstractions.RequestInformation{ureq, greq} {
		body, err := s.sendRaw(ctx, req)
		if status(err) == 404 {
			continue
		}
		if err != nil {
			return nil, nil, graphError([]string{"users/", "groups/"}[i]+id, 1, err)
		}
		return []lookupHit{{group: i == 1, query: queries[i], body: body}}, queries, nil
	}
	return nil, queries, nil
}

// lookupAddress filters users and groups by address.
func (s *source) lookupAddress(ctx context.Context, addr string) ([]lookupHit, []string, error) {
	v := strings.ReplaceAll(addr, "'", "''") // an OData string literal doubles its quotes
	uf := fmt.Sprintf("mail eq '%s' or userPrincipalName eq '%s' or proxyAddresses/any(p:p eq 'smtp:%s') or otherMails/any(o:o eq '%s')", v, v, v, v)
	gf := fmt.Sprintf("mail eq '%s' or proxyAddresses/any(p:p eq 'smtp:%s')", v, v)
	ureq, err := s.client.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &uf, Select: userFields}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph users request: %w", err)
	}
	greq, err := s.client.Groups().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &gf, Select: groupProps}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph groups request: %w", err)
	}
	queries := []string{describe(ureq), describe(greq)}
	var hits []lookupHit
	for i, req := range []*abstractions.RequestInformation{ureq, greq} {
		body, err := s.sendRaw(ctx, req)
		if err != nil {
			return nil, nil, graphError([]string{"users?$filter", "groups?$filter"}[i], 1, err)
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, nil, fmt.Errorf("%s: graph answered with JSON that does not decode: %w", queries[i], err)
		}
		for _, v := range page.Value {
			hits = append(hits, lookupHit{group: i == 1, query: queries[i], body: v})
		}
		if page.NextLink != "" {
			return nil, nil, fmt.Errorf("entra lookup %q: %s matches more than a page of objects; look one up by its object id", addr, queries[i])
		}
	}
	return hits, queries, nil
}

// sendRaw sends an SDK-built request and returns the JSON body.
func (s *source) sendRaw(ctx context.Context, req *abstractions.RequestInformation) (json.RawMessage, error) {
	var body json.RawMessage
	if err := s.send(ctx, req, &body); err != nil {
		return nil, err
	}
	return body, nil
}

func (s *source) explainUser(body json.RawMessage, admins map[string]bool, f *connectors.Found) error {
	var u graphUser
	if err := json.Unmarshal(body, &u); err != nil {
		return fmt.Errorf("user JSON: %w", err)
	}
	f.Record = s.userRecord(&u, admins)
	guest := connectors.ScopeCheck{
		Rule:     fmt.Sprintf("include_guests: %t (guest users are read only with include_guests: true)", s.cfg.IncludeGuests),
		Admitted: !isGuest(&u) || s.cfg.IncludeGuests,
	}
	switch {
	case !isGuest(&u):
		guest.Detail = fmt.Sprintf("userType %q: not a guest", deref(u.UserType))
	case s.cfg.IncludeGuests:
		guest.Detail = `userType "Guest": guests are included`
	default:
		guest.Detail = `userType "Guest": Read skips guests; set include_guests: true to read them`
	}
	f.Scope = []connectors.ScopeCheck{guest}
	return nil
}

func (s *source) explainGroup(ctx context.Context, body json.RawMessage, f *connectors.Found) error {
	var g graphGroup
	if err := json.Unmarshal(body, &g); err != nil {
		return fmt.Errorf("group JSON: %w", err)
	}
	rec := groupRecord(g.ID, deref(g.DisplayName), deref(g.Mail), g.ProxyAddresses, s.cfg.preferMail())
	members, err := s.members(ctx, g.ID)
	if err != nil {
		return err
	}
	rec.Members = members
	f.Record = rec
	read := connectors.ScopeCheck{Rule: fmt.Sprintf("groups: %t", s.cfg.readsGroups()), Admitted: s.cfg.readsGroups(), Detail: "groups are read"}
	if !read.Admitted {
		read.Detail = "groups are not read (groups: false)"
	}
	mail := connectors.ScopeCheck{Rule: "mail-enabled groups with an address only", Admitted: groupInScope(g.MailEnabled, rec)}
	switch {
	case mail.Admitted:
		mail.Detail = fmt.Sprintf("mailEnabled, address %s", rec.Mail)
	case g.MailEnabled == nil || !*g.MailEnabled:
		mail.Detail = "mailEnabled is false (a security group): Read skips it"
	default:
		mail.Detail = "mail-enabled but without an address (no mail, no SMTP: proxy address): Read skips it"
	}
	f.Scope = []connectors.ScopeCheck{read, mail}
	return nil
}

// describe is a request as an admin could repeat it in Graph Explorer.
func describe(req *abstractions.RequestInformation) string {
	u, err := req.GetUri()
	if err != nil {
		return "GET " + req.UrlTemplate
	}
	q, err := url.QueryUnescape(u.RawQuery)
	if err != nil {
		q = u.RawQuery
	}
	out := "GET " + u.Scheme + "://" + u.Host + u.Path
	if q != "" {
		out += "?" + q
	}
	return out
}

func hitName(h lookupHit) string {
	var o struct {
		ID          string `json:"id"`
		UPN         string `json:"userPrincipalName"`
		DisplayName string `json:"displayName"`
	}
	_ = json.Unmarshal(h.body, &o) // a body that does not decode is named by what it has
	if h.group {
		return fmt.Sprintf("group %s (%s)", o.ID, o.DisplayName)
	}
	return fmt.Sprintf("user %s (%s)", o.UPN, o.ID)
}

// rawProperties flattens Graph's JSON object: strings as themselves, other
// scalars in JSON form, collections one value per element (objects as JSON),
// null as no value; OData annotations (@odata.context) left out and secret
// properties redacted.
func rawProperties(body json.RawMessage) (map[string][]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("object JSON: %w", err)
	}
	raw := map[string][]string{}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasPrefix(k, "@") {
			continue
		}
		v := obj[k]
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil || string(v) == "null" {
			list = []json.RawMessage{v}
		}
		vals := []string{}
		for _, e := range list {
			var s string
			switch {
			case string(e) == "null":
				continue
			case json.Unmarshal(e, &s) == nil:
			default:
				s = string(e)
			}
			if connectors.IsSecretAttribute(k) {
				s = connectors.Redacted
			}
			vals = append(vals, s)
		}
		raw[k] = vals
	}
	return raw, nil
}
