package fakegraph

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGetUserByIDOrUPN(t *testing.T) {
	s := start(t, Options{})
	u := userN(7)
	u.JobTitle = "Pilot"
	s.PutUser(u)
	tok := token(t, s)

	var got map[string]any
	decode(t, get(t, s, tok, "/users/"+u.ID+"?$select=id,mail,jobTitle"), http.StatusOK, &got)
	require.Equal(t, map[string]any{"@odata.context": s.URL() + "/v1.0/$metadata#users(id,mail,jobTitle)/$entity",
		"id": u.ID, "mail": "u7@example.com", "jobTitle": "Pilot"}, got)

	got = nil
	decode(t, get(t, s, tok, "/users/U7@Example.com?$select=displayName"), http.StatusOK, &got)
	require.Equal(t, u.ID, got["id"])
	require.Equal(t, "User 7", got["displayName"])

	e := getError(t, s, tok, "/users/00000000-dead-beef-0000-000000000000", http.StatusNotFound)
	require.Equal(t, "Request_ResourceNotFound", e.Error.Code)
}

func TestStringsNeedingEscapesRoundTrip(t *testing.T) {
	s := start(t, Options{})
	u := userN(8)
	u.DisplayName = "Zoë \"Z\" <z&z>\\ \t\n 東京 \U0001F600"
	u.OtherMails = []string{"a\"b@example.com", "plain@example.com"}
	s.PutUser(u)
	tok := token(t, s)
	var got map[string]any
	decode(t, get(t, s, tok, "/users/"+u.ID+"?$select=displayName,otherMails"), http.StatusOK, &got)
	require.Equal(t, u.DisplayName, got["displayName"])
	require.Equal(t, []any{"a\"b@example.com", "plain@example.com"}, got["otherMails"])
	entries, _, _ := deltaRound(t, s, tok, "/users/delta?$select=displayName")
	require.Equal(t, u.DisplayName, entries[0]["displayName"])
}

// nestedGroups: outer has u1, u2 and inner; inner has u2, u3 and innermost;
// innermost has u4 and outer (a cycle).
func nestedGroups(s *Server) {
	for i := 1; i <= 5; i++ {
		s.PutUser(userN(i))
	}
	s.PutGroup(Group{ID: "outer", DisplayName: "Outer", Mail: "outer@example.com", MailEnabled: true,
		Members: []string{userN(1).ID, userN(2).ID, "inner", "missing-object"}})
	s.PutGroup(Group{ID: "inner", DisplayName: "Inner", SecurityEnabled: true,
		Members: []string{userN(2).ID, userN(3).ID, "innermost"}})
	s.PutGroup(Group{ID: "innermost", DisplayName: "Innermost", Members: []string{userN(4).ID, "outer"}})
}

func TestGroupMembersAreTyped(t *testing.T) {
	s := start(t, Options{})
	nestedGroups(s)
	tok := token(t, s)

	p := getPage(t, s, tok, "/groups/outer/members?$select=id,userPrincipalName,displayName")
	require.Equal(t, s.URL()+"/v1.0/$metadata#directoryObjects(id,userPrincipalName,displayName)", p.Context)
	require.Empty(t, p.NextLink)
	require.Equal(t, []map[string]any{
		{"@odata.type": "#microsoft.graph.user", "id": userN(1).ID, "userPrincipalName": "u1@example.com", "displayName": "User 1"},
		{"@odata.type": "#microsoft.graph.user", "id": userN(2).ID, "userPrincipalName": "u2@example.com", "displayName": "User 2"},
		{"@odata.type": "#microsoft.graph.group", "id": "inner", "displayName": "Inner"},
	}, p.Value)

	// Paging with $top; the nextLink keeps $select.
	p = getPage(t, s, tok, "/groups/outer/members?$select=id&$top=2")
	require.Len(t, p.Value, 2)
	require.True(t, strings.HasPrefix(p.NextLink, s.URL()+"/v1.0/groups/outer/members?$skiptoken="), p.NextLink)
	p = getPage(t, s, tok, p.NextLink)
	require.Equal(t, []map[string]any{{"@odata.type": "#microsoft.graph.group", "id": "inner"}}, p.Value)
	require.Empty(t, p.NextLink)

	// A soft-deleted user is not a member while deleted.
	s.SoftDeleteUser(userN(1).ID)
	p = getPage(t, s, tok, "/groups/outer/members?$select=id")
	require.Equal(t, []string{userN(2).ID, "inner"}, ids(p.Value))

	e := getError(t, s, tok, "/groups/nope/members", http.StatusNotFound)
	require.Equal(t, "Request_ResourceNotFound", e.Error.Code)
	e = getError(t, s, tok, "/groups/outer/members?$top=1000", http.StatusBadRequest)
	require.Equal(t, "BadRequest", e.Error.Code)
}

func TestTransitiveMembersFlattenNestedGroups(t *testing.T) {
	s := start(t, Options{DefaultPageSize: 3})
	nestedGroups(s)
	tok := token(t, s)
	want := []string{userN(1).ID, userN(2).ID, userN(3).ID, userN(4).ID}

	for _, cast := range []string{"microsoft.graph.user", "graph.user"} {
		var got []string
		target := "/groups/outer/transitiveMembers/" + cast + "?$select=id,userPrincipalName"
		for pages := 1; ; pages++ {
			p := getPage(t, s, tok, target)
			require.Equal(t, s.URL()+"/v1.0/$metadata#users(id,userPrincipalName)", p.Context)
			for _, v := range p.Value {
				require.Equal(t, "#microsoft.graph.user", v["@odata.type"])
				require.NotEmpty(t, v["userPrincipalName"])
			}
			got = append(got, ids(p.Value)...)
			if p.NextLink == "" {
				require.Equal(t, 2, pages, "4 users at 3 a page")
				break
			}
			target = p.NextLink
		}
		require.Equal(t, want, got, cast)
	}

	// Unfiltered: the nested groups too (the cycle back to outer is not followed twice).
	p := getPage(t, s, tok, "/groups/outer/transitiveMembers?$select=id&$top=999")
	require.Equal(t, append(append([]string{}, want...), "inner", "innermost"), ids(p.Value))

	// Changes are seen at once.
	s.PutGroup(Group{ID: "innermost", DisplayName: "Innermost", Members: []string{userN(5).ID}})
	p = getPage(t, s, tok, "/groups/outer/transitiveMembers/microsoft.graph.user?$select=id&$top=10")
	require.Equal(t, []string{userN(1).ID, userN(2).ID, userN(3).ID, userN(5).ID}, ids(p.Value))
}

func TestGetGroupAndLists(t *testing.T) {
	s := start(t, Options{})
	nestedGroups(s)
	tok := token(t, s)
	var g map[string]any
	decode(t, get(t, s, tok, "/groups/outer?$select=id,displayName,mail,mailEnabled,proxyAddresses"), http.StatusOK, &g)
	require.Equal(t, "outer@example.com", g["mail"])
	require.Equal(t, []any{}, g["proxyAddresses"])
	require.NotContains(t, g, "members")
	s.DeleteGroup("outer")
	getError(t, s, tok, "/groups/outer", http.StatusNotFound)

	p := getPage(t, s, tok, "/users?$select=id&$top=2")
	require.Len(t, p.Value, 2)
	require.NotContains(t, p.Value[0], "@odata.type")
	p = getPage(t, s, tok, "/groups?$select=id")
	require.Equal(t, []string{"inner", "innermost"}, ids(p.Value))
}

func TestDirectoryRoles(t *testing.T) {
	s := start(t, Options{})
	nestedGroups(s)
	s.SetRoleMembers("Global Administrator", userN(1).ID)
	s.SetRoleMembers("Helpdesk Administrator", userN(2).ID, "inner")
	s.SetRoleMembers("Global Administrator", userN(1).ID, userN(3).ID) // replaces the members
	tok := token(t, s)

	p := getPage(t, s, tok, "/directoryRoles?$select=id,displayName,roleTemplateId")
	require.Len(t, p.Value, 2)
	ga := p.Value[0]
	require.Equal(t, "Global Administrator", ga["displayName"])
	require.Equal(t, "62e90394-69f5-4237-9190-012177145e10", ga["roleTemplateId"])
	require.NotContains(t, ga, "description")
	require.NotEqual(t, ga["roleTemplateId"], ga["id"], "an activated role has its own object id")

	members := getPage(t, s, tok, "/directoryRoles/"+ga["id"].(string)+"/members?$select=id")
	require.Equal(t, []map[string]any{
		{"@odata.type": "#microsoft.graph.user", "id": userN(1).ID},
		{"@odata.type": "#microsoft.graph.user", "id": userN(3).ID},
	}, members.Value)
	members = getPage(t, s, tok, "/directoryRoles(roleTemplateId='62e90394-69f5-4237-9190-012177145e10')/members?$select=id")
	require.Len(t, members.Value, 2)

	p = getPage(t, s, tok, "/directoryRoles?$filter="+url.QueryEscape("displayName eq 'Helpdesk Administrator'"))
	require.Len(t, p.Value, 1)
	require.NotEmpty(t, p.Value[0]["description"])
	members = getPage(t, s, tok, "/directoryRoles/"+p.Value[0]["id"].(string)+"/members")
	require.Equal(t, "#microsoft.graph.group", members.Value[1]["@odata.type"])

	getError(t, s, tok, "/directoryRoles/not-a-role/members", http.StatusNotFound)
}

func TestFaults(t *testing.T) {
	s := start(t, Options{})
	s.PutUser(userN(1))
	tok := token(t, s)
	s.InjectFault(Fault{Path: "/v1.0/users/delta", Status: http.StatusTooManyRequests, RetryAfter: 2500 * time.Millisecond, Count: 2})

	for range 2 {
		resp := get(t, s, tok, "/users/delta()")
		require.Equal(t, "3", resp.Header.Get("Retry-After"), "whole seconds, rounded up")
		var e graphErr
		decode(t, resp, http.StatusTooManyRequests, &e)
		require.Equal(t, "TooManyRequests", e.Error.Code)
	}
	getPage(t, s, tok, "/users/delta()")
	getPage(t, s, tok, "/users/"+userN(1).ID) // another path: never failed
	require.Equal(t, 3, s.Requests("/v1.0/users/delta"))
	require.Equal(t, 4, s.Requests("/v1.0/"))

	// "" is every Graph request, until cleared; the token endpoint is spared.
	s.InjectFault(Fault{Status: http.StatusServiceUnavailable, Count: -1})
	for range 3 {
		e := getError(t, s, tok, "/groups/delta", http.StatusServiceUnavailable)
		require.Equal(t, "ServiceUnavailable", e.Error.Code)
	}
	token(t, s)
	s.ClearFaults()
	getPage(t, s, tok, "/groups/delta")

	s.InjectFault(Fault{Path: "/v1.0/groups", Status: http.StatusGatewayTimeout})
	e := getError(t, s, tok, "/groups/delta", http.StatusGatewayTimeout)
	require.Equal(t, "GatewayTimeout", e.Error.Code)
	getPage(t, s, tok, "/groups/delta")

	// A fault on the token endpoint answers in the identity platform's format.
	s.InjectFault(Fault{Path: "/" + s.TenantID() + "/oauth2", Status: http.StatusServiceUnavailable, RetryAfter: time.Second})
	status, body := postToken(t, s, secretForm(s, defaultSecret))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "temporarily_unavailable", body["error"])

	s.ResetRequestCounts()
	require.Zero(t, s.Requests("/"))
}

func TestUnknownPathAndWrongMethod(t *testing.T) {
	s := start(t, Options{})
	tok := token(t, s)
	e := getError(t, s, tok, "/applications", http.StatusNotFound)
	require.Equal(t, "Request_UnsupportedQuery", e.Error.Code)
	getError(t, s, tok, "/groups/g/owners", http.StatusNotFound)

	req, err := http.NewRequest(http.MethodPatch, s.GraphURL()+"/users/delta", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	var ge graphErr
	decode(t, resp, http.StatusMethodNotAllowed, &ge)
	require.Equal(t, http.MethodGet, resp.Header.Get("Allow"))

	resp, err = s.Client().Get(s.URL() + "/" + s.TenantID() + "/oauth2/v2.0/token")
	require.NoError(t, err)
	var body map[string]any
	decode(t, resp, http.StatusMethodNotAllowed, &body)
	require.Equal(t, "invalid_request", body["error"])
}
