package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadSample(t *testing.T) {
	s := start(t, Options{})
	sm := s.LoadSample(50, "example.com")
	tok := token(t, s)

	entries, _, _ := deltaRound(t, s, tok, "/users/delta?$select="+strings.Join(append([]string{"id"}, userPropNames[:]...), ","))
	require.Len(t, entries, 50)
	users := byID(entries)
	require.Len(t, sm.Disabled, 4, "users 10, 20, 30 and 40 (50 is the guest)")
	for _, id := range sm.Disabled {
		require.Equal(t, false, users[id]["accountEnabled"])
		require.Equal(t, []any{}, users[id]["assignedLicenses"])
	}
	admin := users[sm.AdminID]
	require.Equal(t, "user0001@example.com", admin["userPrincipalName"])
	require.Equal(t, admin["mail"], admin["userPrincipalName"])
	require.Equal(t, []any{"SMTP:user0001@example.com", "smtp:ada.lovelace@example.com"}, admin["proxyAddresses"])
	require.Len(t, admin["assignedLicenses"], 1)
	require.Equal(t, "Guest", users[sm.GuestID]["userType"])
	require.Contains(t, users[sm.GuestID]["userPrincipalName"], "#EXT#")

	aliases := map[string]bool{}
	immutable := 0
	for _, u := range entries {
		if u["userType"] == "Member" {
			alias := u["proxyAddresses"].([]any)[1].(string)
			require.False(t, aliases[alias], "alias %s is unique", alias)
			aliases[alias] = true
		}
		if v, ok := u["onPremisesImmutableId"].(string); ok {
			b, err := base64.StdEncoding.DecodeString(v)
			require.NoError(t, err)
			require.Len(t, b, 16)
			immutable++
		}
	}
	require.Positive(t, immutable)

	roles := getPage(t, s, tok, "/directoryRoles")
	require.Len(t, roles.Value, 1)
	members := getPage(t, s, tok, fmt.Sprintf("/directoryRoles/%s/members?$select=id", roles.Value[0]["id"]))
	require.Equal(t, []string{sm.AdminID}, ids(members.Value))

	staff := getPage(t, s, tok, "/groups/"+sm.AllStaffID+"/transitiveMembers/microsoft.graph.user?$select=id&$top=999")
	require.Len(t, staff.Value, 50-len(sm.Disabled)-1, "every enabled member")
	g := getPage(t, s, tok, "/groups/delta?$select=id,mail,mailEnabled")
	require.Len(t, g.Value, 2)
	for _, v := range g.Value {
		require.Equal(t, true, v["mailEnabled"])
	}

	// The same ids on another run.
	other := start(t, Options{})
	require.Equal(t, sm, other.LoadSample(50, "example.com"))
}

// TestConcurrentUse mutates and reads at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	s := start(t, Options{DefaultPageSize: 7})
	for i := 1; i <= 40; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 50 {
				u := userN(100 + w*100 + i)
				s.PutUser(u)
				if i%5 == 0 {
					s.SoftDeleteUser(u.ID)
				}
				s.PutGroup(Group{ID: fmt.Sprintf("g%d", w), Members: []string{u.ID, userN(1).ID}})
				s.SetRoleMembers("Global Administrator", u.ID)
				if i%20 == 0 {
					s.InjectFault(Fault{Path: "/v1.0/nowhere", Status: http.StatusInternalServerError})
					s.ResetRequestCounts()
				}
			}
		}()
		go func() {
			defer wg.Done()
			// No require here: FailNow belongs to the test's goroutine.
			errs <- readWhileWriting(s, tok)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	entries, _, _ := deltaRound(t, s, tok, "/users/delta?$select=id", "Prefer", "odata.maxpagesize=999")
	require.Len(t, entries, 40+4*40, "40 first users and 4×50 new ones, a fifth of them deleted")
}

// readWhileWriting follows delta rounds and reads members and roles.
func readWhileWriting(s *Server, tok string) error {
	link := s.GraphURL() + "/users/delta?$select=id,mail"
	for range 6 {
		for target := link; target != ""; {
			var p graphPage
			if err := fetch(s, tok, target, &p); err != nil {
				return err
			}
			for _, e := range p.Value {
				if e["id"] == "" || e["id"] == nil {
					return fmt.Errorf("an entry without id: %v", e)
				}
			}
			target, link = p.NextLink, p.DeltaLink
		}
		if link == "" {
			return errors.New("a round ended without a deltaLink")
		}
		var p graphPage
		if err := fetch(s, tok, s.GraphURL()+"/groups/g0/transitiveMembers/microsoft.graph.user", &p); err != nil {
			return err
		}
		if err := fetch(s, tok, s.GraphURL()+"/directoryRoles", &p); err != nil {
			return err
		}
		_ = s.Requests("/v1.0")
	}
	return nil
}

// fetch GETs target into v; a group not created yet (404) is not an error.
func fetch(s *Server, tok, target string, v any) error {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return json.NewDecoder(resp.Body).Decode(v)
	case http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("GET %s: %s", target, resp.Status)
}
