package fakegraph

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFaultAfterPages: a fault with After lets that many pages of a delta
// round through, then fails the next Count requests; a retry after that
// continues the round from the same nextLink.
func TestFaultAfterPages(t *testing.T) {
	s := start(t, Options{DefaultPageSize: 2})
	for i := 1; i <= 7; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	s.InjectFault(Fault{Path: "/v1.0/users/delta", Status: http.StatusServiceUnavailable, After: 2, Count: 2})

	target := "/users/delta"
	for range 2 {
		p := getPage(t, s, tok, target)
		require.Len(t, p.Value, 2)
		require.NotEmpty(t, p.NextLink)
		target = p.NextLink
	}
	for range 2 {
		e := getError(t, s, tok, target, http.StatusServiceUnavailable)
		require.Equal(t, "ServiceUnavailable", e.Error.Code)
	}
	getPage(t, s, tok, "/users/"+userN(1).ID) // another path: never failed, never counted
	rest, pages, link := deltaRound(t, s, tok, target)
	require.Equal(t, 2, pages, "the round resumes at page 3 of 4")
	require.Len(t, rest, 3)
	require.NotEmpty(t, link)
	require.Equal(t, 2+2+1+2, s.Requests("/v1.0/users"), "two pages, two faults, one user, two pages")
}
