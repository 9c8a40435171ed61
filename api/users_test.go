package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

func ptr[T any](v T) *T { return &v }

func TestCreateUser(t *testing.T) {
	h := newHarness(t, nil, nil)

	u := h.createUser(api.CreateUser{Address: "Ann.Lee@Example.COM", DisplayName: "Ann Lee", Aliases: []string{"ann@example.com"},
		Department: "Sales", Password: goodPass, DefaultImplementationLead: true})
	require.Equal(t, "ann.lee@example.com", u.Address)
	require.Equal(t, store.KindUser, u.Kind)
	require.Equal(t, store.OriginManual, u.Origin)
	require.Equal(t, []string{"ann@example.com"}, u.Aliases)
	require.True(t, u.Enabled)
	require.True(t, u.HasPassword)
	require.True(t, u.ForceChangePassword, "a password set by an admin is temporary by default")
	require.True(t, u.DefaultImplementationLead)
	require.False(t, u.Registered)
	require.Equal(t, []string{}, u.Roles)

	entries := h.audit("ann.lee@example.com")
	require.NotEmpty(t, entries)
	for _, e := range entries {
		require.Equal(t, store.Actor{Kind: "admin", Name: "admin-token"}, e.Actor)
	}

	g := h.createUser(api.CreateUser{Address: "hr@example.com", Kind: store.KindGroup, Members: []string{"ann.lee@example.com"},
		Enabled: ptr(false)})
	require.Equal(t, []string{"ann.lee@example.com"}, g.Members)
	require.False(t, g.Enabled)
	u = h.createUser(api.CreateUser{Address: "kim@example.com", Password: goodPass, ForceChangePassword: ptr(false)})
	require.False(t, u.ForceChangePassword)
}

func TestCreateUserRefusals(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com", Aliases: []string{"a.lee@example.com"}})

	cases := []struct {
		name   string
		in     api.CreateUser
		status int
		code   string
	}{
		{"unknown domain", api.CreateUser{Address: "x@example.org"}, 422, api.CodeUnknownDomain},
		{"duplicate", api.CreateUser{Address: "ANN@example.com"}, 409, api.CodeDuplicateAddress},
		{"alias clash", api.CreateUser{Address: "a.lee@example.com"}, 409, api.CodeAliasClash},
		{"alias is someone's primary", api.CreateUser{Address: "bo@example.com", Aliases: []string{"ann@example.com"}}, 409, api.CodeDuplicateAddress},
		{"no address", api.CreateUser{DisplayName: "x"}, 422, api.CodeValidation},
		{"bad address", api.CreateUser{Address: "not an address"}, 422, api.CodeValidation},
		{"bad kind", api.CreateUser{Address: "bo@example.com", Kind: "robot"}, 422, api.CodeValidation},
		{"weak password", api.CreateUser{Address: "bo@example.com", Password: "short"}, 422, api.CodeWeakPassword},
		{"group password", api.CreateUser{Address: "hr@example.com", Kind: "group", Password: goodPass}, 422, api.CodeValidation},
		{"force without password", api.CreateUser{Address: "bo@example.com", ForceChangePassword: ptr(true)}, 422, api.CodeValidation},
		{"members of a user", api.CreateUser{Address: "bo@example.com", Members: []string{"ann@example.com"}}, 422, api.CodeValidation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := h.call("POST", "/v1/users", h.admin, c.in).apiErr(c.status, c.code)
			if c.code == api.CodeWeakPassword {
				require.NotContains(t, e.Message, "short")
			}
		})
	}
	e := h.call("POST", "/v1/users", h.admin, api.CreateUser{Address: "x@example.org"}).apiErr(422, api.CodeUnknownDomain)
	require.Contains(t, e.Message, "domain example.org is not an internal domain")
	e = h.call("POST", "/v1/users", h.admin, api.CreateUser{Address: "a.lee@example.com"}).apiErr(409, api.CodeAliasClash)
	require.Contains(t, e.Message, "ann@example.com")
	// Nothing was created by the refusals.
	var list api.UserList
	h.call("GET", "/v1/users?registration=all", h.admin, nil).ok(200, &list)
	require.Len(t, list.Users, 1)
}

func TestGetUser(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com", Aliases: []string{"a.lee@example.com"}})
	var u api.User
	h.call("GET", "/v1/users/A.Lee@example.com", h.read, nil).ok(200, &u)
	require.Equal(t, "ann@example.com", u.Address, "found by alias")
	e := h.call("GET", "/v1/users/nobody@example.com", h.read, nil).apiErr(404, api.CodeNotFound)
	require.Contains(t, e.Message, "nobody@example.com")
	h.call("GET", "/v1/users/ann@example.com?verbose=1", h.read, nil).apiErr(400, api.CodeBadRequest)
}

func TestUpdateUser(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com", DisplayName: "Ann", Title: "Clerk"})

	var u api.User
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{DisplayName: ptr("Ann Lee"), Title: ptr(""),
		Aliases: &[]string{"a.lee@example.com"}, DefaultImplementationLead: ptr(true)}).ok(200, &u)
	require.Equal(t, "Ann Lee", u.DisplayName)
	require.Empty(t, u.Title)
	require.Equal(t, []string{"a.lee@example.com"}, u.Aliases)
	require.True(t, u.DefaultImplementationLead)

	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Enabled: ptr(false)}).ok(200, &u)
	require.False(t, u.Enabled)
	require.Equal(t, store.ActionDisable, h.audit("ann@example.com")[0].Action)
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Enabled: ptr(true)}).ok(200, &u)
	require.True(t, u.Enabled)

	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Password: ptr(goodPass)}).ok(200, &u)
	require.True(t, u.HasPassword)
	require.True(t, u.ForceChangePassword)
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{ForceChangePassword: ptr(false)}).ok(200, &u)
	require.False(t, u.ForceChangePassword)

	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Password: ptr("weak")}).apiErr(422, api.CodeWeakPassword)
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Password: ptr("")}).apiErr(422, api.CodeValidation)
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Aliases: &[]string{"x@example.org"}}).
		apiErr(422, api.CodeUnknownDomain)
	h.call("PATCH", "/v1/users/nobody@example.com", h.admin, api.UpdateUser{Title: ptr("x")}).apiErr(404, api.CodeNotFound)
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, map[string]any{"display_nme": "x"}).apiErr(400, api.CodeBadRequest)
}

func TestDeleteUser(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com", Aliases: []string{"a.lee@example.com"}})

	var u api.User
	h.call("DELETE", "/v1/users/ann@example.com", h.admin, nil).ok(200, &u)
	require.False(t, u.Enabled, "DELETE disables and keeps the record")
	h.call("GET", "/v1/users/ann@example.com", h.read, nil).ok(200, nil)

	h.call("DELETE", "/v1/users/a.lee@example.com?purge=true", h.admin, nil).apiErr(409, api.CodeAliasClash)
	h.call("DELETE", "/v1/users/ann@example.com?purge=maybe", h.admin, nil).apiErr(400, api.CodeBadRequest)
	r := h.call("DELETE", "/v1/users/ann@example.com?purge=true", h.admin, nil)
	require.Equal(t, http.StatusNoContent, r.Status)
	require.Empty(t, r.Body)
	h.call("GET", "/v1/users/ann@example.com", h.read, nil).apiErr(404, api.CodeNotFound)
	require.Equal(t, store.ActionDelete, h.audit("ann@example.com")[0].Action)
	h.call("DELETE", "/v1/users/ann@example.com", h.admin, nil).apiErr(404, api.CodeNotFound)
}

func TestListUsers(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := t.Context()
	require.NoError(t, h.st.AddDomain(ctx, "other.com", store.Actor{Kind: "system"}))
	h.createUser(api.CreateUser{Address: "carl@example.com", DisplayName: "Carl", Department: "B"})
	h.createUser(api.CreateUser{Address: "anna@other.com", DisplayName: "Anna", Department: "C"})
	h.createUser(api.CreateUser{Address: "bert@example.com", DisplayName: "Bert", Department: "A", Enabled: ptr(false)})
	h.createUser(api.CreateUser{Address: "hr@example.com", DisplayName: "1st HR", Kind: store.KindGroup})
	h.registerUser("dora@example.com")
	h.call("PATCH", "/v1/users/dora@example.com", h.admin, api.UpdateUser{DisplayName: ptr("Dora")}).ok(200, nil)

	list := func(query string) []string {
		t.Helper()
		var l api.UserList
		h.call("GET", "/v1/users"+query, h.read, nil).ok(200, &l)
		var out []string
		for _, u := range l.Users {
			out = append(out, u.Address)
		}
		return out
	}
	require.Equal(t, []string{"dora@example.com"}, list(""), "registered users by default")
	require.Equal(t, []string{"anna@other.com", "bert@example.com", "carl@example.com", "dora@example.com", "hr@example.com"}, list("?registration=all"))
	require.Equal(t, []string{"anna@other.com", "bert@example.com", "carl@example.com", "hr@example.com"}, list("?registration=unregistered"))
	require.Equal(t, []string{"bert@example.com"}, list("?registration=all&status=disabled"))
	require.Equal(t, []string{"anna@other.com"}, list("?registration=all&domain=OTHER.com"))
	require.Equal(t, []string{"hr@example.com"}, list("?registration=all&kind=group"))
	require.Equal(t, []string{"hr@example.com"}, list("?registration=all&letter=%23"))
	require.Equal(t, []string{"bert@example.com"}, list("?registration=all&letter=B"))
	require.Equal(t, []string{"carl@example.com"}, list("?registration=all&q=CAR"))
	require.Equal(t, []string{"anna@other.com", "bert@example.com", "carl@example.com", "dora@example.com"}, list("?registration=all&origin=manual&kind=user"))
	require.Equal(t, []string{"anna@other.com", "carl@example.com"}, list("?registration=all&status=all&kind=user&sort=department&order=desc&limit=2"))

	// Pagination: two at a time, sorted by display name, no overlap, no gap.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		var l api.UserList
		h.call("GET", "/v1/users?registration=all&sort=display_name&limit=2&cursor="+cursor, h.read, nil).ok(200, &l)
		for _, u := range l.Users {
			got = append(got, u.DisplayName)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	require.Equal(t, []string{"1st HR", "Anna", "Bert", "Carl", "Dora"}, got)

	// The cursor belongs to its sort order.
	var l api.UserList
	h.call("GET", "/v1/users?registration=all&sort=display_name&limit=2", h.read, nil).ok(200, &l)
	e := h.call("GET", "/v1/users?registration=all&sort=address&cursor="+l.NextCursor, h.read, nil).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "sorted by display_name")
}

func TestListUsersBadQuery(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, q := range []string{
		"sort=password", "registration=maybe", "cursor=garbage!", "order=up", "limit=0", "limit=1001", "limit=ten",
		"status=frozen", "kind=robot", "letter=ab", "domain=nodot", "sortby=address", "sort=address&sort=title",
	} {
		e := h.call("GET", "/v1/users?"+q, h.read, nil).apiErr(400, api.CodeBadRequest)
		require.NotEmpty(t, e.Message, q)
	}
	e := h.call("GET", "/v1/users?sort=password", h.read, nil).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "display_name", "the message lists the columns")
	e = h.call("GET", "/v1/users?registration=maybe", h.read, nil).apiErr(400, api.CodeBadRequest)
	require.Contains(t, e.Message, "unregistered")
}
