package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
)

// withStdin makes --password-stdin and --answer-stdin read s.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := adminStdin
	adminStdin = strings.NewReader(s)
	t.Cleanup(func() { adminStdin = old })
}

func TestAdminUsersLifecycle(t *testing.T) {
	e := newAdminEnv(t)
	pwFile := filepath.Join(e.dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(strongPassword+"\n"), 0o600))

	// create, with a temporary password from a file
	res := e.ok("users", "create", "alice@example.com", "--name", "Alice Liddell", "--given-name", "Alice",
		"--surname", "Liddell", "--phone", "+44 1865 000000", "--department", "Wonder", "--title", "Explorer",
		"--alias", "al@example.com", "--alias", "a.liddell@example.com", "--password-file", pwFile, "--default-lead")
	require.Contains(t, res.stdout, "created alice@example.com\n")
	require.Regexp(t, `(?m)^Display name:\s+Alice Liddell$`, res.stdout)
	require.Regexp(t, `(?m)^Password:\s+set, must be changed at next login$`, res.stdout)
	require.NotContains(t, res.stdout+res.stderr, strongPassword)

	var u api.User
	e.jsonOf(&u, "users", "show", "al@example.com") // by alias, flags after the address
	require.Equal(t, "alice@example.com", u.Address)
	require.ElementsMatch(t, []string{"al@example.com", "a.liddell@example.com"}, u.Aliases)
	require.True(t, u.HasPassword)
	require.True(t, u.ForceChangePassword)
	require.True(t, u.DefaultImplementationLead)
	require.Equal(t, "manual", u.Origin)

	// errors from the API: message and code, exit 1
	res = e.fails(exitFailed, "users", "create", "alice@example.com")
	require.Contains(t, res.stderr, "(duplicate_address)")
	res = e.fails(exitFailed, "users", "create", "bob@elsewhere.org")
	require.Regexp(t, `^dirsync: .*elsewhere\.org.* \(unknown_domain\)`, res.stderr)
	res = e.fails(exitFailed, "users", "show", "nobody@example.com")
	require.Contains(t, res.stderr, "(not_found)")

	// update: only the flags given change
	res = e.ok("users", "update", "alice@example.com", "--title", "Queen", "--no-aliases")
	require.Contains(t, res.stdout, "updated alice@example.com")
	e.jsonOf(&u, "users", "show", "alice@example.com")
	require.Equal(t, "Queen", u.Title)
	require.Equal(t, "Alice Liddell", u.DisplayName)
	require.Empty(t, u.Aliases)

	// disable, enable
	res = e.ok("users", "disable", "alice@example.com")
	require.Equal(t, "alice@example.com: disabled\n", res.stdout)
	e.jsonOf(&u, "users", "show", "alice@example.com")
	require.False(t, u.Enabled)
	e.jsonOf(&u, "users", "enable", "alice@example.com")
	require.True(t, u.Enabled)

	// register: password and answer as two lines of stdin
	withStdin(t, strongPassword+"\nBlue Caterpillar\n")
	res = e.ok("users", "register", "alice@example.com", "--question", "Favourite insect?", "--password-stdin", "--answer-stdin")
	require.Equal(t, "alice@example.com: registered\n", res.stdout)
	res = e.fails(exitFailed, "users", "register", "alice@example.com", "--question", "Q", "--password-file", pwFile, "--answer", "x")
	require.Contains(t, res.stderr, "(already_registered)")

	// status
	res = e.ok("users", "status", "alice@example.com")
	require.Regexp(t, `(?m)^Registered:\s+yes$`, res.stdout)
	require.Regexp(t, `(?m)^Can log in:\s+yes$`, res.stdout)
	require.Regexp(t, `(?m)^Last sync:\s+never touched by a sync$`, res.stdout)
	var st api.Status
	e.jsonOf(&st, "users", "status", "alice@example.com")
	require.True(t, st.Registered)
	require.True(t, st.Enabled)

	// unlock is idempotent on an unlocked account
	res = e.ok("users", "unlock", "alice@example.com")
	require.Contains(t, res.stdout, "alice@example.com: unlocked")

	// unregister keeps the user
	res = e.ok("users", "unregister", "alice@example.com")
	require.Contains(t, res.stdout, "alice@example.com: unregistered")
	e.jsonOf(&u, "users", "show", "alice@example.com")
	require.False(t, u.Registered)

	// invite: the token once
	res = e.ok("users", "invite", "alice@example.com", "--expires", "48h")
	require.Contains(t, res.stdout, "Invitation for alice@example.com\n")
	require.Regexp(t, `Expires: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 4[78]h`, res.stdout)
	require.Contains(t, res.stdout, "shown only this once")
	var inv api.Invitation
	e.jsonOf(&inv, "users", "invite", "alice@example.com")
	require.NotEmpty(t, inv.Token)
	require.False(t, inv.Preset)
	withStdin(t, strongPassword+"\n")
	e.jsonOf(&inv, "users", "invite", "alice@example.com", "--question", "Pet?", "--password-stdin", "--answer", "Dinah")
	require.True(t, inv.Preset)

	// delete needs --yes
	e.fails(exitUsage, "users", "delete", "alice@example.com")
	res = e.ok("users", "delete", "alice@example.com", "--yes")
	require.Equal(t, "alice@example.com: deleted\n", res.stdout)
	e.fails(exitFailed, "users", "show", "alice@example.com")
}

func TestAdminUsersCreateGroupAndDisabled(t *testing.T) {
	e := newAdminEnv(t)
	e.ok("users", "create", "m1@example.com")
	var g api.User
	e.jsonOf(&g, "users", "create", "hr@example.com", "--kind", "group", "--member", "m1@example.com", "--name", "HR")
	require.Equal(t, "group", g.Kind)
	require.Equal(t, []string{"m1@example.com"}, g.Members)
	var u api.User
	e.jsonOf(&u, "users", "create", "off@example.com", "--disabled")
	require.False(t, u.Enabled)
}

func TestAdminUsersList(t *testing.T) {
	e := newAdminEnv(t)
	for i := range 5 {
		e.ok("users", "create", fmt.Sprintf("user%d@example.com", i), "--name", fmt.Sprintf("User %d", i))
	}
	e.ok("users", "disable", "user3@example.com")
	e.ok("roles", "assign", "user1@example.com", "Sales")

	// The API's default lists registered users only: none yet, and a hint.
	res := e.ok("users", "list")
	require.Regexp(t, `^ADDRESS\s+NAME\s+STATUS\s+REGISTERED\s+LOCKED\s+ORIGIN\s+ROLES\n$`, res.stdout)
	require.Contains(t, res.stderr, "--registration all")

	res = e.ok("users", "list", "--registration", "all")
	require.Regexp(t, `(?m)^user1@example\.com\s+User 1\s+enabled\s+no\s+no\s+manual\s+Sales$`, res.stdout)
	require.Regexp(t, `(?m)^user3@example\.com\s+User 3\s+disabled\s+no\s+no\s+manual\s+-$`, res.stdout)

	var list api.UserList
	e.jsonOf(&list, "users", "list", "--registration", "all", "--status", "disabled")
	require.Len(t, list.Users, 1)
	require.Equal(t, "user3@example.com", list.Users[0].Address)

	e.jsonOf(&list, "users", "list", "--registration", "all", "--sort", "address", "--order", "desc", "--limit", "2")
	require.Len(t, list.Users, 2)
	require.Equal(t, "user4@example.com", list.Users[0].Address)
	require.NotEmpty(t, list.NextCursor)

	res = e.ok("users", "list", "--registration", "all", "--limit", "2")
	require.Contains(t, res.stderr, "more users: add --cursor ")

	list = api.UserList{}
	e.jsonOf(&list, "users", "list", "--registration", "all", "--limit", "2", "--all")
	require.Len(t, list.Users, 5)
	require.Empty(t, list.NextCursor)

	e.jsonOf(&list, "users", "list", "--registration", "all", "--q", "user2")
	require.Len(t, list.Users, 1)

	res = e.fails(exitFailed, "users", "list", "--sort", "shoe_size")
	require.Contains(t, res.stderr, "(bad_request)")
}
