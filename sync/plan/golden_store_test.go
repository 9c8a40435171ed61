package plan_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// applyPlan plays a plan's ops on a copy of the store's objects, refusing what
// the real store refuses (an address that names two objects), so a multi-run
// golden file sees the store its next run would see.
func applyPlan(t *testing.T, users []store.User, p plan.Plan) []store.User {
	t.Helper()
	out := slices.Clone(users)
	find := func(addr string) int {
		return slices.IndexFunc(out, func(u store.User) bool { return u.Address == addr })
	}
	for _, op := range p.Ops {
		i := find(op.Address)
		switch op.Action {
		case store.ActionCreate:
			require.Equal(t, -1, i, "create %s: the address exists", op.Address)
			out = append(out, store.User{Kind: op.Kind, Address: op.Address, Origin: op.Origin, Anchor: op.Anchor})
			i = len(out) - 1
		default:
			require.NotEqual(t, -1, i, "%s %s: no such object", op.Action, op.Address)
		}
		u := &out[i]
		for _, c := range op.Changes {
			setField(t, u, c)
		}
		for j, o := range out {
			for _, a := range append([]string{o.Address}, o.Aliases...) {
				for k, other := range out {
					if k != j && (other.Address == a || slices.Contains(other.Aliases, a)) {
						require.Failf(t, "store refuses the plan", "%s %s: address %s is already used by %s", op.Action, op.Address, a, o.Address)
					}
				}
			}
		}
	}
	return out
}

func setField(t *testing.T, u *store.User, c store.FieldChange) {
	t.Helper()
	str := func() string { s, _ := c.After.(string); return s }
	switch c.Field {
	case store.FieldAddress:
		u.Address = str()
	case store.FieldOrigin:
		u.Origin = str()
	case store.FieldAnchor:
		u.Anchor = str()
	case store.FieldAliases:
		u.Aliases = slices.Clone(c.After.([]string))
	case store.FieldMembers:
		u.Members = slices.Clone(c.After.([]string))
	case store.FieldEnabled:
		u.Enabled = c.After.(bool)
	case store.FieldLicensed:
		u.Licensed = c.After.(bool)
	case store.FieldDirectoryAdmin:
		u.DirectoryAdmin = c.After.(bool)
	case store.FieldDisplayName:
		u.DisplayName = str()
	case store.FieldGivenName:
		u.GivenName = str()
	case store.FieldSurname:
		u.Surname = str()
	case store.FieldPhone:
		u.Phone = str()
	case store.FieldDepartment:
		u.Department = str()
	case store.FieldTitle:
		u.Title = str()
	default:
		require.Failf(t, "unknown field", "%s", c.Field)
	}
}
