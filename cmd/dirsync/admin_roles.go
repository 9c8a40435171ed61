package main

// dirsync domains and dirsync roles.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

func cmdDomains(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "domains", "Manage the internal domains (only their addresses can be users).", []subcommand{
		{"list", "", domainsList},
		{"add", "NAME", domainsAdd},
	}, args, stdout, stderr)
}

func domainsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("domains list", "", stderr)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	ds, err := a.client.Domains(ctx)
	if err != nil {
		return a.fail(err)
	}
	if ds == nil {
		ds = []api.Domain{}
	}
	if a.json {
		return printJSON(stdout, map[string]any{"domains": ds})
	}
	t := newTable(stdout, "DOMAIN")
	for _, d := range ds {
		t.row(d.Name)
	}
	return t.flush()
}

func domainsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("domains add", "NAME", stderr)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	d, err := a.client.AddDomain(ctx, pos[0])
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return printJSON(stdout, d)
	}
	fmt.Fprintf(stdout, "added internal domain %s\n", d.Name)
	return nil
}

func cmdRoles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "roles", "Manage roles (named sets of permissions) and who holds them.", []subcommand{
		{"list", "", rolesList},
		{"add", "NAME --permission P...", rolesAdd},
		{"assign", "ADDRESS ROLE... | ADDRESS --none   (replaces the user's roles)", rolesAssign},
	}, args, stdout, stderr)
}

func rolesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("roles list", "", stderr)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	rs, err := a.client.Roles(ctx)
	if err != nil {
		return a.fail(err)
	}
	if rs == nil {
		rs = []api.Role{}
	}
	if a.json {
		return printJSON(stdout, map[string]any{"roles": rs})
	}
	t := newTable(stdout, "ROLE", "PERMISSIONS", "SUPPORT CONTACT", "DEFAULT")
	for _, r := range rs {
		t.row(r.Name, permissionsText(r.Permissions), yesNo(r.SupportContact), yesNo(r.Default))
	}
	return t.flush()
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
	var list []string
	for _, p := range perms {
		for _, one := range strings.Split(p, ",") {
			if one = strings.TrimSpace(one); one != "" {
				list = append(list, one)
			}
		}
	}
	if len(list) == 0 {
		return usageError("roles add %s: give at least one --permission (%s)", pos[0], strings.Join(store.Permissions, ", "))
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	r, err := a.client.AddRole(ctx, api.Role{Name: pos[0], Permissions: list})
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return printJSON(stdout, r)
	}
	fmt.Fprintf(stdout, "added role %s: %s\n", r.Name, strings.Join(r.Permissions, ", "))
	if r.SupportContact {
		fmt.Fprintln(stdout, "its holders are support contacts (the name contains \"Admin\")")
	}
	return nil
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
