package accounts

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/store"
)

// IsAdminRole says whether a role makes its holder an administrator: it may
// sign in to the admin console (store.PermissionConsole), or its name makes
// the holder a support contact (store.IsSupportRole).
func IsAdminRole(r store.Role) bool {
	return slices.Contains(r.Permissions, store.PermissionConsole) || store.IsSupportRole(r.Name)
}

// AdminInviteProblem applies the administrator-invitation rule (dirsync issue
// 23): an administrator invited from Microsoft 365 needs a licensed mailbox
// and an administrator role within Microsoft 365. When any of roles is an
// administrator role (IsAdminRole) and u comes from an Entra connector
// (entraConnectors(u.Origin): its origin names a connector of type entra),
// both u.Licensed and u.DirectoryAdmin must be true. It returns nil when the
// invitation is allowed, else a *ValidationError on field "roles" that names
// what is missing and the fix. Users from any other source are unaffected.
func AdminInviteProblem(u store.User, roles []store.Role, entraConnectors func(origin string) bool) error {
	var admin []string
	for _, r := range roles {
		if IsAdminRole(r) {
			admin = append(admin, strconv.Quote(r.Name))
		}
	}
	if len(admin) == 0 || entraConnectors == nil || u.Origin == "" || !entraConnectors(u.Origin) {
		return nil
	}
	if u.Licensed && u.DirectoryAdmin {
		return nil
	}
	var missing, fix string
	switch {
	case !u.Licensed && !u.DirectoryAdmin:
		missing = "has no licensed mailbox and no administrator role in Microsoft 365"
		fix = "assign a licence and an administrator role (one of the connector's admin_roles) in Microsoft 365 and sync"
	case !u.Licensed:
		missing = "has no licensed mailbox in Microsoft 365"
		fix = "assign a licence in Microsoft 365 and sync"
	default:
		missing = "has no administrator role in Microsoft 365"
		fix = "assign an administrator role (one of the connector's admin_roles) in Microsoft 365 and sync"
	}
	what := " is an administrator role"
	if len(admin) > 1 {
		what = " are administrator roles"
	}
	msg := fmt.Sprintf("%s%s, and %s from Entra connector %q %s: %s, or invite without an administrator role",
		strings.Join(admin, ", "), what, u.Address, u.Origin, missing, fix)
	return &ValidationError{Problems: []FieldProblem{{Field: "roles", Message: msg}}}
}
