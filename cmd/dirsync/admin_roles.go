package main

// dirsync domains and dirsync roles.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
	"github.com/dirsync/dirsync/store"
)

func cmdDomains(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "domains", "Manage the internal domains (only their addresses can be users).", []subcommand{
		{"list", "", domainsList},
		{"add", "NAME", domainsAdd},
	}, args, stdout, stderr)
}

func domainsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, _, err := newAdminFlags("domains list", "", stderr).start(args, 0, 0, stdout)
	if err != nil {
		return err
	}
	ds, err := a.client.Domains(ctx)
	return list(a, api.DomainList{Domains: orEmpty(ds)}, err, []string{"DOMAIN"}, ds, func(d api.Domain) []string {
		return []string{d.Name}
	})
}

func domainsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, pos, err := newAdminFlags("domains add", "NAME", stderr).start(args, 1, 1, stdout)
	if err != nil {
		return err
	}
	d, err := a.client.AddDomain(ctx, pos[0])
	return answer(a, d, err, func(w io.Writer, d api.Domain) error {
		fmt.Fprintf(w, "added internal domain %s\n", d.Name)
		return nil
	})
}

func cmdRoles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "roles", "Manage roles (named sets of permissions) and who holds them.", []subcommand{
		{"list", "", rolesList},
		{"add", "NAME --permission P...", rolesAdd},
		{"assign", "ADDRESS ROLE... | ADDRESS --none   (replaces the user's roles)", rolesAssign},
	}, args, stdout, stderr)
}

func rolesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, _, err := newAdminFlags("roles list", "", stderr).start(args, 0, 0, stdout)
	if err != nil {
		return err
	}
	rs, err := a.client.Roles(ctx)
	return list(a, api.RoleList{Roles: orEmpty(rs)}, err, []string{"ROLE", "PERMISSIONS", "SUPPORT CONTACT", "DEFAULT"}, rs,
		func(r api.Role) []string {
			return []string{r.Name, permissionsText(r.Permissions), clitext.YesNo(r.SupportContact), clitext.YesNo(r.Default)}
		})
}

// permissionsText lists a role's permissions, or "all" for a role holding
// every one this build knows (Administrator's would fill the terminal).
func permissionsText(perms []string) string {
	all := len(perms) >= len(store.Permissions)
	for _, p := range store.Permissions {
		if !slices.Contains(perms, p) {
			all = false
			break
		}
	}
	if all {
		return "all"
	}
	return strings.Join(perms, ", ")
}

func rolesAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("roles add", "NAME --permission P...", stderr)
	var perms stringList
	f.Var(&perms, "permission", "a permission of the role (repeatable, or comma-separated): "+strings.Join(store.Permissions, ", "))
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var names []string
	for _, p := range perms {
		for _, one := range strings.Split(p, ",") {
			if one = strings.TrimSpace(one); one != "" {
				names = append(names, one)
			}
		}
	}
	if len(names) == 0 {
		return usageError("roles add %s: give at least one --permission (%s)", pos[0], strings.Join(store.Permissions, ", "))
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	r, err := a.client.AddRole(ctx, api.Role{Name: pos[0], Permissions: names})
	return answer(a, r, err, func(w io.Writer, r api.Role) error {
		fmt.Fprintf(w, "added role %s: %s\n", r.Name, strings.Join(r.Permissions, ", "))
		if r.SupportContact {
			fmt.Fprintln(w, "its holders are support contacts (the name contains \"Admin\")")
		}
		return nil
	})
}

func rolesAssign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("roles assign", "ADDRESS ROLE... | ADDRESS --none", stderr)
	none := f.Bool("none", false, "remove every role of the user")
	pos, err := f.parse(args, 1, -1)
	if err != nil {
		return err
	}
	roles := pos[1:]
	switch {
	case *none && len(roles) > 0:
		return usageError("roles assign: --none and role names contradict each other")
	case !*none && len(roles) == 0:
		return usageError("roles assign %s: name the roles the user should hold (they replace the current ones), or --none to clear them", pos[0])
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	u, err := a.client.SetRoles(ctx, pos[0], roles)
	if err != nil {
		return a.fail(err)
	}
	done := "roles cleared"
	if len(roles) > 0 {
		done = "roles now " + strings.Join(roles, ", ")
		if u != nil {
			done = "roles now " + strings.Join(u.Roles, ", ")
		}
	}
	return a.userDone(ctx, pos[0], u, done)
}
