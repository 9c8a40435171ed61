package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
	"github.com/dirsync/dirsync/internal/clitext"
)

func cmdUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "users", "Manage the directory's users through the daemon's admin API.", []subcommand{
		{"list", "[--q TEXT] [--letter L] [--registration registered|unregistered|all] [--status enabled|disabled]\n" +
			"                  [--domain D] [--kind user|group] [--origin O] [--sort COLUMN] [--order asc|desc] [--limit N] [--all]", usersList},
		{"show", "ADDRESS", usersShow},
		{"status", "ADDRESS", usersStatus},
		{"create", "ADDRESS [--name NAME] [--alias A]... [--password-file F | --password-stdin] [--no-force-change]\n" +
			"                  [--disabled] [--default-lead] [other field flags]", usersCreate},
		{"update", "ADDRESS [field flags: only those given change]", usersUpdate},
		{"disable", "ADDRESS", userAction("disable", "disabled", (*client.Client).DisableUser)},
		{"enable", "ADDRESS", userAction("enable", "enabled", func(c *client.Client, ctx context.Context, addr string) (*api.User, error) {
			return c.UpdateUser(ctx, addr, api.UpdateUser{Enabled: new(true)})
		})},
		{"unlock", "ADDRESS", userAction("unlock", "unlocked (failed logins cleared)", (*client.Client).UnlockUser)},
		{"unregister", "ADDRESS", userAction("unregister", "unregistered (portal access removed, user kept)", (*client.Client).UnregisterUser)},
		{"register", "ADDRESS --question Q (--password-file F | --password-stdin) (--answer-file F | --answer-stdin | --answer A)", usersRegister},
		{"invite", inviteArgs, usersInvite},
		{"invitation", "ADDRESS [--resend]   (the open invitation and its email; --resend sends a new link)", usersInvitation},
		{"delete", "ADDRESS --yes", usersDelete},
	}, args, stdout, stderr)
}

func usersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users list", "[flags]", stderr)
	var q client.UserQuery
	f.StringVar(&q.Search, "q", "", "search text: part of an address, alias or display name")
	f.StringVar(&q.Letter, "letter", "", "first letter of the display name (a-z, or # for anything else)")
	f.StringVar(&q.Registration, "registration", "", "registered, unregistered or all (default: the API's, registered)")
	f.StringVar(&q.Status, "status", "", "enabled or disabled (default: both)")
	f.StringVar(&q.Domain, "domain", "", "only addresses in this domain")
	f.StringVar(&q.Kind, "kind", "", "user or group")
	f.StringVar(&q.Origin, "origin", "", "only users from this origin (a connector's name, csv, manual, outbound)")
	f.StringVar(&q.Sort, "sort", "", "sort column: address, display_name, given_name, surname, department, origin, created, last_login, ...")
	f.StringVar(&q.Order, "order", "", "asc or desc")
	f.IntVar(&q.Limit, "limit", 0, "users per page (default: the API's)")
	f.StringVar(&q.Cursor, "cursor", "", "continue a listing where the previous page ended")
	all := f.Bool("all", false, "follow the cursors and list every matching user")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	for _, c := range []struct {
		flag, val string
		ok        []string
	}{
		{"registration", q.Registration, []string{"registered", "unregistered", "all"}},
		{"status", q.Status, []string{"enabled", "disabled"}},
		{"order", q.Order, []string{"asc", "desc"}},
		{"kind", q.Kind, []string{"user", "group"}},
	} {
		if c.val != "" && !slices.Contains(c.ok, c.val) {
			return usageError("--%s %q: use %s", c.flag, c.val, strings.Join(c.ok, ", "))
		}
	}
	if q.Limit < 0 {
		return usageError("--limit %d: use a positive number", q.Limit)
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	var page api.UserList
	if *all {
		page.Users, err = a.client.AllUsers(ctx, q)
	} else {
		page, err = a.client.Users(ctx, q)
	}
	page.Users = orEmpty(page.Users)
	err = list(a, page, err, []string{"ADDRESS", "NAME", "STATUS", "REGISTERED", "LOCKED", "ORIGIN", "ROLES"}, page.Users,
		func(u api.User) []string {
			return []string{u.Address, u.DisplayName, clitext.Enabled(u.Enabled), clitext.YesNo(u.Registered), clitext.YesNo(u.Locked), u.Origin,
				strings.Join(u.Roles, ", ")}
		})
	if err != nil || a.json {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(stderr, "more users: add --cursor %s, or --all for every page\n", page.NextCursor)
	}
	if len(page.Users) == 0 && q.Registration == "" {
		fmt.Fprintln(stderr, "no registered users match; --registration all lists unregistered users too")
	}
	return nil
}

func usersShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, pos, err := newAdminFlags("users show", "ADDRESS", stderr).start(args, 1, 1, stdout)
	if err != nil {
		return err
	}
	u, err := a.client.User(ctx, pos[0])
	return answer(a, u, err, printUser)
}

func usersStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, pos, err := newAdminFlags("users status", "ADDRESS", stderr).start(args, 1, 1, stdout)
	if err != nil {
		return err
	}
	s, err := a.client.UserStatus(ctx, pos[0])
	return answer(a, s, err, printStatus)
}

// userAction is a one-address command (disable, enable, unlock, unregister);
// do has the shape of a method expression such as (*client.Client).UnlockUser.
func userAction(name, done string, do func(*client.Client, context.Context, string) (*api.User, error)) command {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		a, pos, err := newAdminFlags("users "+name, "ADDRESS", stderr).start(args, 1, 1, stdout)
		if err != nil {
			return err
		}
		u, err := do(a.client, ctx, pos[0])
		if err != nil {
			return a.fail(err)
		}
		return a.userDone(ctx, pos[0], u, done)
	}
}

// userDone reports a change to a user: its address and what happened, or with
// --output json the user as the API now has it (fetched when the API's answer
// held none).
func (a *admin) userDone(ctx context.Context, address string, u *api.User, done string) error {
	if a.json {
		if u == nil {
			got, err := a.client.User(ctx, address)
			if err != nil {
				return a.fail(err)
			}
			u = &got
		}
		return printJSON(a.stdout, u)
	}
	if u != nil {
		address = u.Address
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", address, done)
	return nil
}

func usersDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users delete", "ADDRESS --yes", stderr)
	yes := f.Bool("yes", false, "really delete the user and its login (to keep the record, use 'users disable')")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if !*yes {
		return usageError("users delete removes %s for good; add --yes to confirm, or use 'dirsync users disable'", pos[0])
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	err = a.client.DeleteUser(ctx, pos[0])
	return answer(a, map[string]any{"address": pos[0], "deleted": true}, err, func(w io.Writer, _ map[string]any) error {
		fmt.Fprintf(w, "%s: deleted\n", pos[0])
		return nil
	})
}

// printUser shows every field of a user.
func printUser(w io.Writer, u api.User) error {
	f := clitext.NewFields(w)
	f.Add("Address", u.Address)
	f.Add("Kind", u.Kind)
	f.Add("Display name", u.DisplayName)
	f.Add("Given name", u.GivenName)
	f.Add("Surname", u.Surname)
	f.Add("Aliases", strings.Join(u.Aliases, ", "))
	if u.Kind == "group" || len(u.Members) > 0 {
		f.Add("Members", strings.Join(u.Members, ", "))
	}
	f.Add("Phone", u.Phone)
	f.Add("Department", u.Department)
	f.Add("Title", u.Title)
	f.Add("Status", clitext.Enabled(u.Enabled))
	f.Add("Origin", u.Origin)
	f.Add("Anchor", u.Anchor)
	f.Add("Registered", clitext.YesNo(u.Registered))
	f.Add("Locked", clitext.YesNo(u.Locked))
	pw := "none"
	if u.HasPassword {
		pw = "set"
		if u.ForceChangePassword {
			pw = "set, must be changed at next login"
		}
	}
	f.Add("Password", pw)
	f.Add("Roles", strings.Join(u.Roles, ", "))
	f.Add("Support contact", clitext.YesNo(u.SupportContact))
	f.Add("Default impl. lead", clitext.YesNo(u.DefaultImplementationLead))
	f.Add("Created", clitext.Time(u.Created))
	f.Add("Updated", clitext.Time(u.Updated))
	f.Add("Last login", clitext.TimePtr(u.LastLogin))
	f.Add("Last login error", u.LastLoginError)
	seen := clitext.TimePtr(u.LastSeen)
	if u.Online {
		seen += " (online)"
	}
	f.Add("Last seen", seen)
	return f.Flush()
}

// printStatus shows the account summary of GET /users/{address}/status.
func printStatus(w io.Writer, s api.Status) error {
	f := clitext.NewFields(w)
	f.Add("Address", s.Address)
	f.Add("Kind", s.Kind)
	f.Add("Status", clitext.Enabled(s.Enabled))
	f.Add("Registered", clitext.YesNo(s.Registered))
	locked := clitext.YesNo(s.Locked)
	if s.FailedLogins > 0 {
		locked += fmt.Sprintf(" (%d failed logins in a row)", s.FailedLogins)
	}
	f.Add("Locked", locked)
	f.Add("Can log in", clitext.YesNo(s.CanLogIn))
	f.Add("Origin", s.Origin)
	f.Add("Anchor", s.Anchor)
	if s.LastSync != nil {
		f.Add("Last sync", fmt.Sprintf("%s by connector %s at %s (run %s)", s.LastSync.Action, s.LastSync.Connector,
			clitext.Time(s.LastSync.Time), s.LastSync.RunID))
	} else {
		f.Add("Last sync", "never touched by a sync")
	}
	f.Add("Last login", clitext.TimePtr(s.LastLogin))
	f.Add("Last login error", s.LastLoginError)
	f.Add("Roles", strings.Join(s.Roles, ", "))
	f.Add("Support contact", clitext.YesNo(s.SupportContact))
	byOwner := map[string][]string{}
	for field, owner := range s.FieldOwners {
		byOwner[owner] = append(byOwner[owner], field)
	}
	for _, owner := range slices.Sorted(maps.Keys(byOwner)) {
		slices.Sort(byOwner[owner])
		f.Add("Fields owned by "+owner, strings.Join(byOwner[owner], ", "))
	}
	return f.Flush()
}
