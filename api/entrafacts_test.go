package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// seedEntraFacts stores, as an Entra connector's sync would, a licensed
// Microsoft 365 administrator and an unlicensed user, plus a manual user.
func seedEntraFacts(t *testing.T, h *harness) {
	t.Helper()
	out, err := h.st.Apply(t.Context(), store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "cloud", RunID: "r1"},
		Changes: []store.Change{
			{Action: store.ActionCreate, Kind: store.KindUser, Address: "boss@example.com", Origin: "cloud", Anchor: "e-1",
				Changes: []store.FieldChange{{Field: store.FieldLicensed, After: true}, {Field: store.FieldDirectoryAdmin, After: true}}},
			{Action: store.ActionCreate, Kind: store.KindUser, Address: "temp@example.com", Origin: "cloud", Anchor: "e-2",
				Changes: []store.FieldChange{{Field: store.FieldLicensed, After: false}, {Field: store.FieldDirectoryAdmin, After: false}}},
		}})
	require.NoError(t, err)
	for _, o := range out {
		require.NoError(t, o.Err)
	}
	h.createUser(api.CreateUser{Address: "manual@example.com"})
}

// facts reads the two fields from a JSON object, failing when one is absent
// (false is shown, not omitted).
func facts(t *testing.T, body []byte) (licensed, dirAdmin bool) {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	for name, dst := range map[string]*bool{"licensed": &licensed, "directory_admin": &dirAdmin} {
		raw, ok := m[name]
		require.True(t, ok, "%s missing from %s", name, body)
		require.NoError(t, json.Unmarshal(raw, dst))
	}
	return licensed, dirAdmin
}

func TestUserEntraFacts(t *testing.T) {
	h := newHarness(t, nil, nil)
	seedEntraFacts(t, h)
	for addr, want := range map[string][2]bool{
		"boss@example.com":   {true, true},
		"temp@example.com":   {false, false},
		"manual@example.com": {false, false},
	} {
		r := h.call("GET", "/v1/users/"+addr, h.read, nil).ok(http.StatusOK, nil)
		l, d := facts(t, r.Body)
		require.Equal(t, want, [2]bool{l, d}, addr)
	}
	var list struct {
		Users []json.RawMessage `json:"users"`
	}
	h.call("GET", "/v1/users?q=boss&registration=all", h.read, nil).ok(http.StatusOK, &list)
	require.Len(t, list.Users, 1)
	l, d := facts(t, list.Users[0])
	require.True(t, l && d, "the listing shows them too")
}

func TestUserStatusEntraFacts(t *testing.T) {
	h := newHarness(t, nil, nil)
	seedEntraFacts(t, h)
	for addr, want := range map[string][2]bool{
		"boss@example.com":   {true, true},
		"temp@example.com":   {false, false},
		"manual@example.com": {false, false},
	} {
		r := h.call("GET", "/v1/users/"+addr+"/status", h.read, nil).ok(http.StatusOK, nil)
		l, d := facts(t, r.Body)
		require.Equal(t, want, [2]bool{l, d}, addr)
	}
}
