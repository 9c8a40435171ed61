package accounts_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

func TestAdminInviteProblem(t *testing.T) {
	var (
		administrator = store.Role{Name: "Administrator", Permissions: []string{"accounts", store.PermissionConsole, "users.read"}}
		tenantAdmin   = store.Role{Name: "Tenant Admin", Permissions: []string{"billing"}} // a support role by its name
		console       = store.Role{Name: "Console", Permissions: []string{store.PermissionConsole}}
		accountsRole  = store.Role{Name: "Accounts", Permissions: []string{"accounts", "billing", "users.read"}}
	)
	entra := func(origin string) bool { return origin == "cloud" }
	user := func(origin string, licensed, dirAdmin bool) store.User {
		return store.User{Kind: store.KindUser, Address: "alice@contoso.com", Origin: origin, Anchor: "a-1",
			Licensed: licensed, DirectoryAdmin: dirAdmin}
	}
	const noAdmin = ", or invite without an administrator role"
	tests := []struct {
		name  string
		u     store.User
		roles []store.Role
		want  string // "" = allowed
	}{
		{"licensed Entra administrator", user("cloud", true, true), []store.Role{administrator}, ""},
		{"no licence", user("cloud", false, true), []store.Role{administrator},
			`"Administrator" is an administrator role, and alice@contoso.com from Entra connector "cloud" has no licensed mailbox in Microsoft 365: ` +
				`assign a licence in Microsoft 365 and sync` + noAdmin},
		{"no directory role", user("cloud", true, false), []store.Role{accountsRole, console},
			`"Console" is an administrator role, and alice@contoso.com from Entra connector "cloud" has no administrator role in Microsoft 365: ` +
				`assign an administrator role (one of the connector's admin_roles) in Microsoft 365 and sync` + noAdmin},
		{"neither, two administrator roles", user("cloud", false, false), []store.Role{administrator, tenantAdmin},
			`"Administrator", "Tenant Admin" are administrator roles, and alice@contoso.com from Entra connector "cloud" has no licensed mailbox and no administrator role in Microsoft 365: ` +
				`assign a licence and an administrator role (one of the connector's admin_roles) in Microsoft 365 and sync` + noAdmin},
		{"support role by name", user("cloud", true, false), []store.Role{tenantAdmin},
			`"Tenant Admin" is an administrator role, and alice@contoso.com from Entra connector "cloud" has no administrator role in Microsoft 365: ` +
				`assign an administrator role (one of the connector's admin_roles) in Microsoft 365 and sync` + noAdmin},
		{"no administrator role chosen", user("cloud", false, false), []store.Role{accountsRole}, ""},
		{"no roles", user("cloud", false, false), nil, ""},
		{"LDAP user", user("corp-ad", false, false), []store.Role{administrator}, ""},
		{"manual user", user(store.OriginManual, false, false), []store.Role{administrator}, ""},
		{"csv user", user(store.OriginCSV, false, false), []store.Role{administrator}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := accounts.AdminInviteProblem(tc.u, tc.roles, entra)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var ve *accounts.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, []accounts.FieldProblem{{Field: "roles", Message: tc.want}}, ve.Problems)
		})
	}
}

func TestAdminInviteProblemWithoutPredicate(t *testing.T) {
	u := store.User{Kind: store.KindUser, Address: "alice@contoso.com", Origin: "cloud"}
	admin := []store.Role{{Name: "Administrator", Permissions: []string{store.PermissionConsole}}}
	require.NoError(t, accounts.AdminInviteProblem(u, admin, nil), "no connector known to be Entra: the rule has nothing to check")
}

func TestIsAdminRole(t *testing.T) {
	for _, r := range store.DefaultRoles {
		want := r.Name == "Administrator"
		require.Equal(t, want, accounts.IsAdminRole(r), r.Name)
	}
}
