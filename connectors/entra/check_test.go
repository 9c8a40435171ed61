package entra_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

// check runs Check as `dirsync config check` would and logs what it said.
func (tn *tenant) check() (string, error) {
	tn.t.Helper()
	checker, ok := tn.open().(connectors.Checker)
	require.True(tn.t, ok, "the entra source implements connectors.Checker")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line, err := checker.Check(ctx)
	tn.t.Logf("Check: %q, %v", line, err)
	return line, err
}

func TestCheckReadsOnePageOfEach(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	line, err := tn.check()
	require.NoError(t, err)
	require.Equal(t, "signed in to tenant "+tn.srv.TenantID()+" as client "+tn.srv.ClientID()+
		"; users, groups and directory roles readable at "+tn.srv.GraphURL(), line)
	require.NotContains(t, line, "s3cret-value")
	require.Equal(t, 1, tn.srv.Requests("/v1.0/users"), "one request for users")
	require.Equal(t, 1, tn.srv.Requests("/v1.0/groups"), "one request for groups")
}

func TestCheckUsersOnlyAndMissingAdminRole(t *testing.T) {
	no := false
	tn := newTenant(t, func(c *entra.Config) {
		c.Groups, c.AdminRoles = &no, []string{"Global Administrator", "Exchange Administrator"}
	})
	tn.seed()
	line, err := tn.check()
	require.NoError(t, err)
	require.Equal(t, "signed in to tenant "+tn.srv.TenantID()+" as client "+tn.srv.ClientID()+
		"; users and directory roles readable at "+tn.srv.GraphURL()+
		`; admin_roles "Exchange Administrator" not among the tenant's activated roles (nobody holds them yet, or misspelt)`, line)
	require.Zero(t, tn.srv.Requests("/v1.0/groups"), "groups: false reads no group")
}

func TestCheckFailuresSayWhatToFix(t *testing.T) {
	graphDown := closedPort(t)
	for _, tc := range []struct {
		name  string
		tweak func(*entra.Config)
		setup func(*testing.T, *tenant)
		want  []string
	}{
		{name: "wrong secret", setup: func(t *testing.T, _ *tenant) { t.Setenv(secretEnv, "wrong-secret") },
			want: []string{"sign in to", "AADSTS7000215", "check tenant_id, client_id and client_secret", "consent"}},
		{name: "users permission missing", setup: func(_ *testing.T, tn *tenant) {
			tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users", Status: 403, Count: -1})
		}, want: []string{"graph users?$top=1 answered 403 Authorization_RequestDenied", "User.Read.All", "admin consent"}},
		{name: "groups permission missing", setup: func(_ *testing.T, tn *tenant) {
			tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/groups", Status: 403, Count: -1})
		}, want: []string{"graph groups?$top=1 answered 403 Authorization_RequestDenied", "GroupMember.Read.All", "admin consent"}},
		{name: "unknown CA", tweak: func(c *entra.Config) { c.CAFile = "" },
			want: []string{"connect to 127.0.0.1:", "certificate signed by unknown authority", "set ca_file"}},
		{name: "unreachable", tweak: func(c *entra.Config) {
			c.AuthorityHost, c.GraphURL = "https://"+closedPort(t)+"/", "https://"+closedPort(t)+"/v1.0"
		}, want: []string{"connect to 127.0.0.1:", "cannot reach it", "authority_host"}},
		{name: "graph unreachable", tweak: func(c *entra.Config) { c.GraphURL = "https://" + graphDown + "/v1.0" },
			want: []string{"connect to " + graphDown + ": cannot reach it", "graph_url"}},
		{name: "unknown tenant", tweak: func(c *entra.Config) { c.TenantID = "22222222-2222-2222-2222-222222222222" },
			want: []string{"tenant 22222222-2222-2222-2222-222222222222 not found", "check tenant_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTenant(t, tc.tweak)
			tn.seed()
			if tc.setup != nil {
				tc.setup(t, tn)
			}
			line, err := tn.check()
			require.Error(t, err)
			require.Empty(t, line)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "s3cret-value")
			require.NotContains(t, err.Error(), "wrong-secret")
		})
	}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
