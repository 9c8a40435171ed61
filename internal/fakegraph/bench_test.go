package fakegraph

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func benchUser(i int) User {
	mail := fmt.Sprintf("user%06d@example.com", i)
	return User{
		ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i), UserPrincipalName: mail, Mail: mail,
		ProxyAddresses: []string{"SMTP:" + mail, fmt.Sprintf("smtp:first.last%d@example.com", i)},
		DisplayName:    fmt.Sprintf("User %d", i), GivenName: "First", Surname: "Last",
		BusinessPhones: []string{"+1 555 0100"}, Department: "Engineering", JobTitle: "Engineer",
		AccountEnabled: true, UserType: "Member", AssignedLicenses: []string{SkuEnterprisePack},
	}
}

// BenchmarkUsersDelta100k pages a first users/delta round of 100,000 users at
// 999 a page, all connector properties selected.
func BenchmarkUsersDelta100k(b *testing.B) {
	const n = 100_000
	s := start(b, Options{})
	users := make([]User, n)
	for i := range users {
		users[i] = benchUser(i)
	}
	s.PutUsers(users...)
	tok := token(b, s)
	sel := "id,userPrincipalName,mail,proxyAddresses,otherMails,displayName,givenName,surname,businessPhones," +
		"mobilePhone,department,jobTitle,accountEnabled,userType,onPremisesImmutableId,assignedLicenses"
	for b.Loop() {
		target, users, bytes := s.GraphURL()+"/users/delta?$select="+sel, 0, int64(0)
		for target != "" {
			req, err := http.NewRequest(http.MethodGet, target, nil)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Prefer", "odata.maxpagesize=999")
			resp, err := s.Client().Do(req)
			require.NoError(b, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(b, err)
			require.Equal(b, http.StatusOK, resp.StatusCode)
			var p struct {
				NextLink string            `json:"@odata.nextLink"`
				Value    []json.RawMessage `json:"value"`
			}
			require.NoError(b, json.Unmarshal(body, &p))
			users += len(p.Value)
			bytes += int64(len(body))
			target = p.NextLink
		}
		require.Equal(b, n, users)
		b.SetBytes(bytes)
	}
}
